#!/usr/bin/env bash
# Compares this checkout's generator with the one at REV on the same model in one process (see Runner/Program.cs):
# the baseline's generated code and this checkout's are two assemblies, run alternately on one runtime (this
# checkout's, so REV's generated code must compile against it). Runs twice, creating either side's instance first,
# because where an instance's memory lands moves single ops by a few percent on a shared host: trust only the moves
# that hold in both orders.
#
#   eng/compare-generators/compare.sh REV [MODEL] [PAIRS] [all]
#     MODEL: v2_x1_0_224 (default), v2_x1_5_224, v2_x2_0_224, g3_1x_224 or g3_1x_224_int8; PAIRS: default 300; all: print every op
set -euo pipefail
rev=${1:?usage: compare.sh REV [MODEL] [PAIRS] [all]}
model=${2:-v2_x1_0_224}
pairs=${3:-300}
extra=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${COMPARE_BASELINE_DIR:-/tmp/shufflenetgen-baseline-$(git -C "$root" rev-parse --short "$rev")}
if [[ ! -d $base ]]; then
  git -C "$root" worktree add --detach "$base" "$rev" >/dev/null
fi
# The baseline is compiled afresh every time: MSBuild decides by timestamps, and a worktree made by an earlier run has
# a generator older than the baseline assembly another REV left, so it would keep comparing against that REV.
rm -rf "$here/Baseline/obj/Release" "$here/Baseline/bin"
# A failed build must stop here: the runner left from an earlier build would compare other code.
log=$(mktemp)
if ! dotnet build "$here/Runner" -c Release -p:BaselineRoot="$base" -v quiet -nologo > "$log" 2>&1; then
  grep -E "error" "$log" | sort -u >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
runner="$here/Runner/bin/Release/net10.0/Runner.dll"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet "$runner" "$model" "$pairs" baseline-first $extra
dotnet "$runner" "$model" "$pairs" candidate-first $extra
echo "baseline worktree kept at $base (git worktree remove $base)"
