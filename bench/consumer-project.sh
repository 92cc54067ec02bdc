# Shared by the consumer build benchmarks: helpers and the consumer project they build. Source it; it defines
#   median, timed LOG CMD..., write_consumer DIR FEED VERSION ARGUMENTS
# The consumer is the README's project file (PublishAot on, as the README's is) in a folder outside the repository,
# Callers pack with a version of their own per run, so ~/.nuget/packages never serves them a stale build.

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Runs CMD with its output in LOG; prints the wall time in seconds, or the log's tail and exits on failure.
timed() {
  local log=$1 start end
  shift
  start=$(date +%s%N)
  "$@" >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.1f\n", ns / 1e9 }'
}

write_consumer() {
  local dir=$1 feed=$2 version=$3 arguments=$4
  mkdir -p "$dir"
  cat >"$dir/nuget.config" <<EOF
<configuration><packageSources><add key="local" value="$feed" /></packageSources></configuration>
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
}

# The generated model source of the consumer's last build with EmitCompilerGeneratedFiles=true under OBJ.
generated_source() { find "$1" -path '*generated*' -name 'Model*.g.cs' -print -quit; }
