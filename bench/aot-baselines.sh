#!/usr/bin/env bash
# The x64 instruction-set table of docs/nativeaot.md: the quickstart (1x g=3 224x224, one thread) published with
# NativeAOT for linux-x64 at the default baseline, at x86-64-v3 and at `native`, against the JIT, in one run. The four
# builds are run in turn, round after round, so a change in the machine's load falls on all of them alike; each run
# prints the median of its own 100 calls, and the script prints every round and the median over rounds.
#
#   bench/aot-baselines.sh [rounds]     # default 3
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=$(mktemp -d /tmp/sng-aot-baselines.XXXXXX)
trap 'rm -rf "$out"' EXIT

dotnet restore samples/Quickstart --artifacts-path "$out/artifacts" >/dev/null
for set in default x86-64-v3 native; do
  extra=()
  [[ $set != default ]] && extra=(-p:IlcInstructionSet=$set)
  dotnet publish samples/Quickstart -c Release -r linux-x64 --no-restore --artifacts-path "$out/artifacts" \
    -o "$out/$set" "${extra[@]}" >"$out/publish-$set.log" 2>&1 || { tail -20 "$out/publish-$set.log"; exit 1; }
  echo "published $set: $(stat -c %s "$out/$set/Quickstart") bytes"
done
dotnet build samples/Quickstart -c Release --no-restore --artifacts-path "$out/artifacts" -o "$out/jit" >/dev/null

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
latency() { "$@" | sed -nE 's/^Latency: median ([0-9.]+) ms.*/\1/p'; }
declare -A results
grep -m1 'model name' /proc/cpuinfo
for ((r = 1; r <= rounds; r++)); do
  for build in default x86-64-v3 native jit; do
    if [[ $build == jit ]]; then ms=$(latency dotnet "$out/jit/Quickstart.dll"); else ms=$(latency "$out/$build/Quickstart"); fi
    results[$build]+="$ms "
    echo "round $r $build: $ms ms"
  done
done
for build in default x86-64-v3 native jit; do
  echo "$build: ${results[$build]}(median $(echo "${results[$build]}" | median) ms)"
done
