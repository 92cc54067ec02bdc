#!/usr/bin/env bash
# Debian packages the project uses. The .NET SDK itself comes with the machine image (see global.json).
#  - clang, lld and the aarch64 cross toolchain: NativeAOT publish for linux-x64 and linux-arm64
#  - qemu-user: runs the linux-arm64 build on an x64 host
#  - chromium: BrowserSampleTests runs samples/Browser (Blazor WebAssembly) in it, headless
set -euo pipefail
packages=(clang lld gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if (( ${#missing[@]} )); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v dotnet >/dev/null || { echo "dotnet not found: install the .NET 10 SDK" >&2; exit 1; }
