#!/usr/bin/env bash
# Before/after of what a generator change costs a user's project: packs two commits of this repository, builds the
# same consumer (the README's project file, ShuffleNet 1x g=3 224x224) against each package, then alternates
# incremental builds after an unrelated edit, A then B, so both see the same machine load. Also prints, for each
# commit, the generated source's size in a plain build and in a linux-arm64 NativeAOT publish, and the arm64 binary.
#
#   bench/consumer-build-ab.sh REF_A REF_B [rounds]     # default 5 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
ref_a=$1 ref_b=$2 rounds=${3:-5}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
. bench/consumer-project.sh

work=$(mktemp -d /tmp/sng-consumer-ab.XXXXXX)
cleanup() { for side in a b; do git -C "$repo" worktree remove --force "$work/src-$side" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
arguments="Groups = 3, Scale = 1.0"
stamp=$(date +%s)

for side in a b; do
  ref=$ref_a; [[ $side == b ]] && ref=$ref_b
  git -C "$repo" worktree add -q --detach "$work/src-$side" "$ref"
  version=0.0.0-ab$side$stamp
  (cd "$work/src-$side" && dotnet pack ShuffleNetGen.sln -c Release -o "$work/feed-$side" -p:Version="$version" \
    --artifacts-path "$work/artifacts-$side" >"$work/pack-$side.log" 2>&1) || { tail -30 "$work/pack-$side.log"; exit 1; }
  write_consumer "$work/$side" "$work/feed-$side" "$version" "$arguments"
  (cd "$work/$side" && dotnet restore >/dev/null && dotnet build -c Release --no-restore -p:EmitCompilerGeneratedFiles=true >"$work/first-$side.log" 2>&1) \
    || { tail -30 "$work/first-$side.log"; exit 1; }
  source=$(generated_source "$work/$side/obj/Release")
  echo "$side ($ref): plain build, generated source $(wc -c <"$source") bytes, $(wc -l <"$source") lines"
  extra=(); [[ $(uname -m) != aarch64 ]] && extra=(-p:LinkerFlavor=lld)
  (cd "$work/$side" && dotnet publish -c Release -r linux-arm64 -o out-arm64 -p:EmitCompilerGeneratedFiles=true "${extra[@]}" >"$work/publish-$side.log" 2>&1) \
    || { tail -30 "$work/publish-$side.log"; exit 1; }
  source=$(generated_source "$work/$side/obj/Release/net10.0/linux-arm64")
  echo "$side ($ref): linux-arm64 publish, generated source $(wc -c <"$source") bytes, binary $(stat -c %s "$work/$side/out-arm64/Consumer") bytes"
done

declare -A times=([a]="" [b]="")
for ((i = 0; i < rounds; i++)); do
  for side in a b; do
    echo "// edit $i" >>"$work/$side/Other.cs"
    t=$(cd "$work/$side" && timed "$work/last.log" dotnet build -c Release --no-restore)
    times[$side]+="$t "
  done
done
for side in a b; do
  echo "$side: incremental build after an unrelated edit s: ${times[$side]}(median $(echo "${times[$side]}" | median))"
done
awk -v a="$(echo "${times[a]}" | median)" -v b="$(echo "${times[b]}" | median)" 'BEGIN { printf "ratio b/a of medians: %.2f\n", b / a }'
