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

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
timed() { local start end; start=$(date +%s%N); "$@" >"$work/last.log" 2>&1 || { tail -30 "$work/last.log" >&2; exit 1; }; end=$(date +%s%N); awk -v ns=$((end - start)) 'BEGIN { printf "%.1f\n", ns / 1e9 }'; }

measure() {
  local label=$1 arguments=$2
  local dir=$work/$label
  mkdir -p "$dir"
  cat >"$dir/nuget.config" <<EOF
<configuration><packageSources><add key="local" value="$work/feed" /></packageSources></configuration>
EOF
  cat >"$dir/Consumer.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <PublishAot>true</PublishAot>
    <InvariantGlobalization>true</InvariantGlobalization>
    <IlcInstructionSet Condition="'\$(RuntimeIdentifier)' == 'linux-x64'">x86-64-v3</IlcInstructionSet>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="ShuffleNetGen" Version="$version" />
  </ItemGroup>
</Project>
EOF
  cat >"$dir/Model.cs" <<EOF
using ShuffleNetGen;
[ShuffleNet($arguments)]
public partial class Model;
EOF
  cat >"$dir/Program.cs" <<'EOF'
var model = Model.CreateRandom(seed: 1);
var input = new float[Model.InputLength];
for (int i = 0; i < input.Length; i++) input[i] = (i % 17) / 17f;
var logits = new float[Model.Classes];
model.Forward(input, logits);
System.Console.WriteLine($"logits[0] = {logits[0]}");
EOF
  echo "static class Other { public static int Value => 1; }" >"$dir/Other.cs"
  (cd "$dir" && dotnet restore >/dev/null)

  # PublishAot in the project turns on Roslyn's trim and AOT analyzers for every build; the last column is the same
  # incremental build with them off, which is what a models-only library without PublishAot gets.
  local clean=() incremental=() quiet=()
  local off=(-p:EnableTrimAnalyzer=false -p:EnableAotAnalyzer=false -p:EnableSingleFileAnalyzer=false)
  for ((i = 0; i < repeats; i++)); do
    rm -rf "$dir/bin" "$dir/obj/Release"
    clean+=("$(cd "$dir" && timed dotnet build -c Release --no-restore)")
    echo "// edit $i" >>"$dir/Other.cs"
    incremental+=("$(cd "$dir" && timed dotnet build -c Release --no-restore)")
    echo "// edit $i again" >>"$dir/Other.cs"
    quiet+=("$(cd "$dir" && timed dotnet build -c Release --no-restore "${off[@]}")")
  done
  (cd "$dir" && dotnet run -c Release --no-build | sed "s/^/$label: /")
  (cd "$dir" && dotnet build -c Release --no-restore -p:EmitCompilerGeneratedFiles=true >/dev/null)
  local source
  source=$(find "$dir/obj/Release" -path '*generated*' -name 'Model*.g.cs' -print -quit)
  echo "$label: generated source $(wc -c <"$source") bytes, $(wc -l <"$source") lines"
  echo "$label: clean build s: ${clean[*]} (median $(echo "${clean[*]}" | median))"
  echo "$label: incremental build after an unrelated edit s: ${incremental[*]} (median $(echo "${incremental[*]}" | median))"
  echo "$label: the same, trim/AOT analyzers off s: ${quiet[*]} (median $(echo "${quiet[*]}" | median))"

  for rid in linux-x64 linux-arm64; do
    local extra=()
    [[ $rid == linux-arm64 && $(uname -m) != aarch64 ]] && extra=(-p:LinkerFlavor=lld)
    rm -rf "$dir/out-$rid"
    local t
    t=$(cd "$dir" && timed dotnet publish -c Release -r "$rid" -o "out-$rid" "${extra[@]}")
    echo "$label: publish $rid s: $t, binary $(stat -c %s "$dir/out-$rid/Consumer") bytes"
  done
}

measure "g3_0.25x_64" "Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64"
measure "g3_1x_224" "Groups = 3, Scale = 1.0"
