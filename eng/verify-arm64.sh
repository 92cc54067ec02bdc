#!/usr/bin/env bash
# ARM64 conformance: publishes the conformance runner (samples/Conformance: the reference matrix of
# ReferenceMatrixTests, compiled in: ShuffleNet v1 and v2 cases, and a few int8 models) with NativeAOT for linux-arm64
# and runs it under qemu-user. Every case also runs on a 2-thread ShuffleNetTeam, whose logits must be the one-thread
# pass's bit for bit.
# Fails if a publish fails (trim/AOT warnings are errors) or a case does not conform. Emulation checks correctness
# only; its timings mean nothing. See docs/nativeaot.md. The matrix's expected logits are the scalar reference's,
# embedded in the runner (samples/Conformance/reference-logits.txt, recomputed and checked by ConformanceCasesTests);
# computing them in double under emulation took half the run. `Conformance --compute-reference` computes them there.
#
# The int8 models run twice on arm64: in the main run with SDOT (qemu -cpu max, which has FEAT_DotProd:
# Dp.IsSupported is true) and again with --int8-only under -cpu cortex-a53 (no Dp: the AdvSimd widening fallback).
# Both paths must compute the same integers, so each int8 case's logits hash must be the same in both runs.
#
#   eng/verify-arm64.sh                              # linux-arm64; outputs under $VERIFY_OUT (default /tmp/shufflenetgen-verify)
#   VERIFY_RIDS="linux-arm64 linux-x64" eng/verify-arm64.sh   # the same matrix NativeAOT-compiled for linux-x64 too
#
# linux-x64 is not in the default (nor in CI) because it costs about as much as arm64 (a 30-model publish: 26 matrix
# cases, 4 int8) and checks little that the test suite does not: the suite runs this matrix at 512, 256 and 128 bits
# under the JIT, and PackageTests NativeAOT-publishes and runs a package consumer for linux-x64.
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
  emulated=false
  [[ $rid == linux-arm64 && $(uname -m) != aarch64 ]] && emulated=true
  # -cpu max is qemu-user's default; spelled out because the int8 comparison below needs SDOT in this run.
  $emulated && run=(qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "${run[@]}" --expect-dp)
  [[ $rid == linux-arm64 ]] && run+=(--require-advsimd)
  if ! "${run[@]}" | tee "$out/$rid.log"; then status=1; fi

  if $emulated; then
    step "run $rid, int8 cases without Dp (qemu -cpu cortex-a53: the AdvSimd fallback)"
    t=$SECONDS
    if ! qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu "$out/$rid/Conformance" --int8-only --expect-no-dp --require-advsimd \
        | tee "$out/$rid.no-dp.log"; then status=1; fi
    echo "int8 run without Dp: $((SECONDS - t)) s"
    # "Int8 hash <case> <hash> (<path>)": every case of the SDOT run must have the same hash in the fallback run.
    hashes() { grep -E '^Int8 hash ' "$1" | awk '{print $3, $4}' || true; }
    same=0 differ=0
    while read -r name hash; do
      other=$(hashes "$out/$rid.no-dp.log" | awk -v n="$name" '$1 == n {print $2}')
      if [[ $hash =~ ^[0-9a-f]{16}$ && $hash == "$other" ]]; then
        same=$((same + 1))
      else
        differ=$((differ + 1))
        echo "FAIL: int8 case $name: logits hash ${hash:-none} with Dp, ${other:-none} without"
      fi
    done < <(hashes "$out/$rid.log")
    if [[ $((same + differ)) -eq 0 ]]; then differ=1; echo "FAIL: the Dp run printed no int8 hashes"; fi
    echo "Conformance (Arm64 int8, Dp sdot vs AdvSimd fallback: bit-identical logits): $same passed, $differ failed"
    [[ $differ -eq 0 ]] || status=1
  fi
done

echo
echo "verify-arm64: $([[ $status -eq 0 ]] && echo OK || echo FAILED) in $((SECONDS - started)) s"
exit $status
