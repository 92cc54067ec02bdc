using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The path a user's own project takes: packs ShuffleNetGen and ShuffleNetGen.Onnx into a local feed and builds,
/// runs and NativeAOT-publishes a consumer in a folder outside the repository (so the repository's
/// Directory.Build.props, which sets InvariantGlobalization among others, cannot help it). The consumer's project file,
/// nuget.config and JSON model are the README's blocks ("Use it in your project"), so the docs cannot drift from what
/// works.
/// </summary>
[Trait("Category", "Slow")] // packs both packages, builds and publishes a consumer with the SDK
public class PackageTests : IClassFixture<PackageTests.PackedConsumer>
{
    private readonly PackedConsumer _consumer;

    public PackageTests(PackedConsumer consumer) => _consumer = consumer;

    [Fact]
    public void PackagesHoldWhatAConsumerNeeds()
    {
        var core = _consumer.Entries("ShuffleNetGen");
        foreach (var entry in new[] { "lib/net8.0/ShuffleNetGen.dll", "analyzers/dotnet/cs/ShuffleNetGen.Generator.dll", "README.md", "LICENSE",
                     "shufflenet.schema.json", "buildTransitive/ShuffleNetGen.props", "buildTransitive/ShuffleNetGen.targets" })
            Assert.Contains(entry, core);
        var onnx = _consumer.Entries("ShuffleNetGen.Onnx");
        foreach (var entry in new[] { "lib/net8.0/ShuffleNetGen.Onnx.dll", "README.md", "LICENSE" })
            Assert.Contains(entry, onnx);
        foreach (var id in new[] { "ShuffleNetGen", "ShuffleNetGen.Onnx" })
            Assert.Contains("<license type=\"expression\">MIT</license>", _consumer.Nuspec(id));
        // The Onnx package must pass the generator and the build files on: a project that references only it still
        // gets FromOnnx-capable models.
        var dependency = Regex.Match(_consumer.Nuspec("ShuffleNetGen.Onnx"), "<dependency id=\"ShuffleNetGen\"[^>]*>");
        Assert.True(dependency.Success, "ShuffleNetGen.Onnx does not depend on ShuffleNetGen");
        Assert.DoesNotContain("Analyzers", dependency.Value);
        Assert.DoesNotContain("Build", dependency.Value);
    }

    [Fact]
    public void ConsumerBuildsAndRunsWithTheJitAndTheSchemaReferenceResolves()
    {
        string output = _consumer.Dotnet("build", "-c", "Release", "-p:TreatWarningsAsErrors=true");
        _consumer.CheckModelOutput(ConsumerProgram.RunProgram(_consumer.Directory, "dotnet", Path.Combine(_consumer.Directory, "bin", "Release", "net10.0", "Consumer.dll")), exactTinyNet: true);

        // The README's "$schema", resolved the way an editor resolves it: against the JSON file's folder.
        string schema = Path.GetFullPath(Path.Combine(_consumer.Directory, _consumer.SchemaReference));
        Assert.True(File.Exists(schema), $"\"$schema\": \"{_consumer.SchemaReference}\" does not resolve from the consumer ({schema} missing)\n{output}");
        Assert.Equal(File.ReadAllText(Repository.File("shufflenet.schema.json")), File.ReadAllText(schema));

        // Listing the default JSON file as well must not hand it to the generator twice (that would be SNG0015).
        string project = Path.Combine(_consumer.Directory, "Consumer.csproj");
        string original = File.ReadAllText(project);
        try
        {
            File.WriteAllText(project, original.Replace("</Project>", "  <ItemGroup>\n    <AdditionalFiles Include=\"./TinyNet.shufflenet.json\" />\n  </ItemGroup>\n</Project>"));
            string again = _consumer.Dotnet("build", "-c", "Release", "-p:TreatWarningsAsErrors=true");
            Assert.DoesNotContain("SNG0015", again);
        }
        finally
        {
            File.WriteAllText(project, original);
        }
    }

    [Fact]
    public void AotBaselineWarningFiresOnlyWhenTheUserHasNotChosen()
    {
        // The warning's target alone, evaluated for each setting in one MSBuild process (each evaluation of the
        // consumer is cheap, starting the SDK is not); the publish test sees it fire in a real publish.
        var cases = new (string Properties, bool Warns)[]
        {
            ("RuntimeIdentifier=linux-x64", true),
            ("RuntimeIdentifier=win-x64", true),
            ("RuntimeIdentifier=linux-arm64", false),
            ("RuntimeIdentifier=linux-x64;IlcInstructionSet=x86-64-v3", false),
            ("RuntimeIdentifier=linux-x64;ShuffleNetGenSuppressAotBaselineWarning=true", false),
            ("RuntimeIdentifier=linux-x64;NoWarn=SNG0030", false),
            ("RuntimeIdentifier=linux-x64;PublishAot=false", false),
        };
        var driver = new System.Text.StringBuilder("<Project>\n  <Target Name=\"Cases\">\n");
        for (int i = 0; i < cases.Length; i++)
            driver.Append($"    <Message Importance=\"high\" Text=\"CASE {i}\" />\n")
                  .Append($"    <MSBuild Projects=\"Consumer.csproj\" Targets=\"_ShuffleNetGenWarnAotBaseline\" Properties=\"{cases[i].Properties}\" />\n");
        driver.Append($"    <Message Importance=\"high\" Text=\"CASE {cases.Length}\" />\n  </Target>\n</Project>\n");
        string path = Path.Combine(_consumer.Directory, "warn-cases.proj");
        File.WriteAllText(path, driver.ToString());
        try
        {
            string output = _consumer.Dotnet("msbuild", "warn-cases.proj", "-nologo", "-clp:NoSummary");
            for (int i = 0; i < cases.Length; i++)
            {
                int from = output.IndexOf($"CASE {i}", StringComparison.Ordinal), to = output.IndexOf($"CASE {i + 1}", StringComparison.Ordinal);
                Assert.True(from >= 0 && to > from, $"case markers missing:\n{output}");
                string part = output[from..to];
                Assert.True(part.Contains("warning SNG0030", StringComparison.Ordinal) == cases[i].Warns,
                    $"{cases[i].Properties}: expected {(cases[i].Warns ? "a" : "no")} SNG0030 warning, got:\n{part}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// The two packages, packed once per test run into a local feed with a version no cache has seen, and shared by
    /// every class's <see cref="PackedConsumer"/>.
    /// </summary>
    private sealed class PackedFeed
    {
        private static readonly Lazy<PackedFeed> Instance = new(() => new PackedFeed(), LazyThreadSafetyMode.ExecutionAndPublication);

        private PackedFeed()
        {
            Work = Path.Combine(Path.GetTempPath(), "sng-consumer-" + Guid.NewGuid().ToString("N")[..12]);
            Feed = Path.Combine(Work, "feed");
            // A version no cache has seen, so restore cannot pick up a stale package from an earlier run.
            Version = "0.0.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
            // A private artifacts path: packing with another version must not rebuild the repository's own bin/obj.
            foreach (var packed in new[] { "runtime/ShuffleNetGen.csproj", "runtime/ShuffleNetGen.Onnx/ShuffleNetGen.Onnx.csproj" })
                ConsumerProgram.Run(Repository.Root, "dotnet", "pack", packed, "-c", "Release", "-o", Feed, $"-p:Version={Version}", "--artifacts-path", Path.Combine(Work, "artifacts"));
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try { System.IO.Directory.Delete(Work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            };
        }

        public static PackedFeed Shared => Instance.Value;

        public string Work { get; }
        public string Feed { get; }
        public string Version { get; }
    }

    /// <summary>A consumer folder of its own for each test class (two publishes in one folder would share obj/), restored from the shared feed.</summary>
    public sealed class PackedConsumer : IDisposable
    {
        private readonly string _work;
        private readonly string _feed;
        private readonly string _version;
        private readonly Lazy<float[]> _tinyNetLogits;

        public PackedConsumer()
        {
            var packed = PackedFeed.Shared;
            _feed = packed.Feed;
            _version = packed.Version;
            _work = Path.Combine(packed.Work, "consumer-" + Guid.NewGuid().ToString("N")[..8]);
            Directory = Path.Combine(_work, "Consumer");
            System.IO.Directory.CreateDirectory(Directory);

            string readme = File.ReadAllText(Repository.File("README.md"));
            int start = readme.IndexOf("## Use it in your project", StringComparison.Ordinal);
            int end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
            Assert.True(start >= 0 && end > start, "README.md has no \"## Use it in your project\" section");
            var xml = Blocks(readme[start..end], "xml");
            Assert.True(xml.Count >= 2, "the README section should show a nuget.config and a project file");
            const string FeedPlaceholder = "/path/to/feed";
            Assert.Contains(FeedPlaceholder, xml[0]);
            File.WriteAllText(Path.Combine(Directory, "nuget.config"), xml[0].Replace(FeedPlaceholder, _feed));

            // The README names the version `dotnet pack` makes; the test packs a fresh one instead (see above).
            string packedVersion = Regex.Match(File.ReadAllText(Repository.File("Directory.Build.props")), "<Version>(.*?)</Version>").Groups[1].Value;
            string project = xml[1];
            Assert.Equal(2, Regex.Matches(project, $"Version=\"{Regex.Escape(packedVersion)}\"").Count);
            File.WriteAllText(Path.Combine(Directory, "Consumer.csproj"), project.Replace($"Version=\"{packedVersion}\"", $"Version=\"{_version}\""));

            string json = Blocks(readme, "json").Single(b => b.Contains("\"$schema\"", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(Directory, "TinyNet.shufflenet.json"), json);
            using (var document = JsonDocument.Parse(json)) SchemaReference = document.RootElement.GetProperty("$schema").GetString()!;
            TinyNetJson = json;
            File.Copy(ConsumerProgram.SourcePath, Path.Combine(Directory, "Program.cs"));
            Dotnet("restore");
            // Three tests check the consumer's output against the same in-process run and the same fixture.
            _tinyNetLogits = new Lazy<float[]>(TinyNetInProcess);
        }

        public string Directory { get; }

        public string SchemaReference { get; }

        public string TinyNetJson { get; }

        /// <summary>
        /// Runs dotnet in the consumer folder with the test run's own package folder, so the test's packages stay out
        /// of the user's cache (NuGet locks each package while it extracts it, so the classes can share it).
        /// </summary>
        public string Dotnet(params string[] arguments) =>
            ConsumerProgram.Run(Directory, "dotnet", arguments.Concat(new[] { $"-p:RestorePackagesPath={Path.Combine(PackedFeed.Shared.Work, "packages")}" }).ToArray());

        public List<string> Entries(string id)
        {
            using var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(_feed, $"{id}.{_version}.nupkg"));
            return zip.Entries.Select(e => e.FullName).ToList();
        }

        public string Nuspec(string id)
        {
            using var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(_feed, $"{id}.{_version}.nupkg"));
            using var reader = new StreamReader(zip.GetEntry(id + ".nuspec")!.Open());
            return reader.ReadToEnd();
        }

        /// <summary>
        /// The consumer prints the logits of its JSON model (random weights, seed 3, zero input) and of the ONNX fixture.
        /// The first must match the same JSON compiled in-process (bit for bit under the JIT; NativeAOT's baseline
        /// may pick other kernels, so there within the matrix tolerance); the second must match PyTorch's logits.
        /// </summary>
        public void CheckModelOutput(string output, bool exactTinyNet)
        {
            var expected = _tinyNetLogits.Value;
            var tiny = ConsumerProgram.Logits(output, "json TinyNet");
            if (exactTinyNet) Assert.Equal(expected, tiny);
            else ConsumerProgram.AssertClose(expected, tiny, "TinyNet");
            ConsumerProgram.AssertOnnxModelsMatchPyTorch(output);
        }

        private float[] TinyNetInProcess()
        {
            var (compilation, diagnostics, _) = JsonHarness.RunJson(Path.Combine(Directory, "TinyNet.shufflenet.json"), TinyNetJson);
            Assert.DoesNotContain(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
            var type = Infrastructure.GeneratorHarness.EmitAndLoad(compilation).GetTypes().Single(t => t.Name == "TinyNet");
            var model = new Infrastructure.LoadedModel(type);
            var logits = new float[model.Constant<int>("Classes")];
            model.FromTensors(Weights.RandomWeights.Create(model.WeightLayout, 3)).Forward(new float[model.Constant<int>("InputLength")], logits);
            return logits;
        }

        private static List<string> Blocks(string markdown, string language) =>
            DocSnippetTests.FencedBlocks(markdown.Split('\n'), "README.md").Where(b => b.Language == language).Select(b => b.Code).ToList();

        public void Dispose()
        {
            try { System.IO.Directory.Delete(_work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

/// <summary>
/// The packed consumer NativeAOT-published for linux-x64, in a class of its own so that xUnit runs it beside the other
/// package tests instead of after them: a publish is minutes of ILC and linking.
/// </summary>
/// <remarks>
/// There is no linux-arm64 publish of the package consumer here: eng/verify-arm64.sh, which CI runs beside this
/// suite, NativeAOT-publishes the conformance runner (26 models from the same generator and runtime) for linux-arm64
/// and checks its logits under qemu. The consumer's arm64 publish added the package route on arm64, which differs from
/// x64's only in the RID the build passes, at six minutes of a CI run near its 20-minute budget.
/// </remarks>
[Trait("Category", "Slow")]
public class PackageNativeAotX64Tests : IClassFixture<PackageTests.PackedConsumer>
{
    private readonly PackageTests.PackedConsumer _consumer;

    public PackageNativeAotX64Tests(PackageTests.PackedConsumer consumer) => _consumer = consumer;

    [Fact]
    [Trait("Category", "NativeAot")]
    public void ConsumerPublishesNativeAotForLinuxX64()
    {
        string output = _consumer.Dotnet("publish", "-c", "Release", "-r", "linux-x64", "-p:TreatWarningsAsErrors=true", "-o", "out/linux-x64");
        // The default baseline is kept (the user has not chosen), so the build says what it costs, once.
        Assert.Single(Regex.Matches(output, @"warning SNG0030"));
        string binary = Path.Combine(_consumer.Directory, "out", "linux-x64", "Consumer");
        _consumer.CheckModelOutput(ConsumerProgram.RunProgram(_consumer.Directory, binary), exactTinyNet: false);
    }
}
