#!/usr/bin/env bash
# What a model costs the project that declares it, measured the way a user meets it: the packages packed from this
# repository into a local feed, and a console project outside the repository (no Directory.Build.props of ours)
# made from the README's project file. For each model size: the clean build, a build after an edit of an unrelated
# file, and the NativeAOT publishes for linux-x64 and linux-arm64 (time and binary size). Run it on a quiet machine;
# it prints one line per measurement and the median of each kind.
#
#   bench/consumer-build-cost.sh [repeats]     # default 3
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
repeats=${1:-3}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

work=$(mktemp -d /tmp/sng-consumer-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
version=0.0.0-cost$(date +%s)
dotnet pack ShuffleNetGen.sln -c Release -o "$work/feed" -p:Version="$version" --artifacts-path "$work/artifacts" >/dev/null

. bench/consumer-project.sh

measure() {
  local label=$1 arguments=$2
  local dir=$work/$label
  write_consumer "$dir" "$work/feed" "$version" "$arguments"
  (cd "$dir" && dotnet restore >/dev/null)

  # PublishAot in the project turns on Roslyn's trim and AOT analyzers for every build; the last column is the same
  # incremental build with them off, which is what a models-only library without PublishAot gets.
  local clean=() incremental=() quiet=()
  local off=(-p:EnableTrimAnalyzer=false -p:EnableAotAnalyzer=false -p:EnableSingleFileAnalyzer=false)
  for ((i = 0; i < repeats; i++)); do
    rm -rf "$dir/bin" "$dir/obj/Release"
    clean+=("$(cd "$dir" && timed "$work/last.log" dotnet build -c Release --no-restore)")
    echo "// edit $i" >>"$dir/Other.cs"
    incremental+=("$(cd "$dir" && timed "$work/last.log" dotnet build -c Release --no-restore)")
    echo "// edit $i again" >>"$dir/Other.cs"
    quiet+=("$(cd "$dir" && timed "$work/last.log" dotnet build -c Release --no-restore "${off[@]}")")
  done
  (cd "$dir" && dotnet run -c Release --no-build | sed "s/^/$label: /")
  (cd "$dir" && dotnet build -c Release --no-restore -p:EmitCompilerGeneratedFiles=true >/dev/null)
  local source
  source=$(generated_source "$dir/obj/Release")
  echo "$label: generated source $(wc -c <"$source") bytes, $(wc -l <"$source") lines"
  echo "$label: clean build s: ${clean[*]} (median $(echo "${clean[*]}" | median))"
  echo "$label: incremental build after an unrelated edit s: ${incremental[*]} (median $(echo "${incremental[*]}" | median))"
  echo "$label: the same, trim/AOT analyzers off s: ${quiet[*]} (median $(echo "${quiet[*]}" | median))"

  for rid in linux-x64 linux-arm64; do
    local extra=()
    [[ $rid == linux-arm64 && $(uname -m) != aarch64 ]] && extra=(-p:LinkerFlavor=lld)
    rm -rf "$dir/out-$rid"
    local t
    t=$(cd "$dir" && timed "$work/last.log" dotnet publish -c Release -r "$rid" -o "out-$rid" "${extra[@]}")
    echo "$label: publish $rid s: $t, binary $(stat -c %s "$dir/out-$rid/Consumer") bytes"
  done
}

measure "g3_0.25x_64" "Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64"
measure "g3_1x_224" "Groups = 3, Scale = 1.0"
