#!/usr/bin/env bash
# ARM64 conformance: publishes the conformance runner (samples/Conformance: the reference matrix of
# ReferenceMatrixTests, compiled in) with NativeAOT for linux-arm64 and runs it under qemu-user. Fails if a publish
# fails (trim/AOT warnings are errors) or a case does not conform. Emulation checks correctness only; its timings
# mean nothing. See docs/nativeaot.md.
#
#   eng/verify-arm64.sh                              # linux-arm64; outputs under $VERIFY_OUT (default /tmp/shufflenetgen-verify)
#   VERIFY_RIDS="linux-arm64 linux-x64" eng/verify-arm64.sh   # the same matrix NativeAOT-compiled for linux-x64 too
#
# linux-x64 is not in the default (nor in CI) because it costs about as much as arm64 (a 23-model publish) and
# checks little that the test suite does not: the suite runs this matrix at 512, 256 and 128 bits under the JIT,
# and PackageTests NativeAOT-publishes and runs a package consumer for linux-x64.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

bash eng/install-deps.sh   # clang, lld, the aarch64 cross toolchain, qemu-user

out=${VERIFY_OUT:-/tmp/shufflenetgen-verify}
# A private artifacts directory, so this never races a concurrent `dotnet build` of the repository for obj/bin.
common=(-c Release --artifacts-path "$out/artifacts")
project=samples/Conformance

step() { echo; echo "== $* ($(date +%T))"; }
started=$SECONDS

# Restore without -r: the RIDs come from <RuntimeIdentifiers> in the project, so the RID-agnostic net8.0 runtime
# library is not restored for a RID (which would make NuGet fetch net8.0 runtime packs nothing uses).
step "restore"
dotnet restore "$project" --artifacts-path "$out/artifacts"

status=0
for rid in ${VERIFY_RIDS:-linux-arm64}; do
  step "publish $rid (NativeAOT)"
  args=(-r "$rid" --no-restore -o "$out/$rid")
  # Cross-linking for arm64 on an x64 host: clang drives lld with the aarch64 sysroot of libc6-dev-arm64-cross.
  [[ $rid == linux-arm64 && $(uname -m) != aarch64 ]] && args+=(-p:LinkerFlavor=lld)
  t=$SECONDS
  if ! dotnet publish "$project" "${common[@]}" "${args[@]}"; then
    echo "Conformance ($rid): 0 passed, 1 failed (publish failed)"
    status=1
    continue
  fi
  echo "published $rid in $((SECONDS - t)) s: $(stat -c %s "$out/$rid/Conformance") bytes"

  step "run $rid"
  run=("$out/$rid/Conformance")
  [[ $rid == linux-arm64 && $(uname -m) != aarch64 ]] && run=(qemu-aarch64 -L /usr/aarch64-linux-gnu "${run[@]}")
  [[ $rid == linux-arm64 ]] && run+=(--require-advsimd)
  if ! "${run[@]}"; then status=1; fi
done

echo
echo "verify-arm64: $([[ $status -eq 0 ]] && echo OK || echo FAILED) in $((SECONDS - started)) s"
exit $status
