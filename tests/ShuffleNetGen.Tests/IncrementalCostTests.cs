using System.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// What the generator costs the build for the paper's ShuffleNet 1x (g = 3, 224x224): a full generation, the emit
/// stages alone, and an incremental re-run after an unrelated edit. Prints the figures and asserts only the
/// emitted size, which is deterministic. See the numbers with
/// <c>dotnet test tests/ShuffleNetGen.Tests -c Release --filter FullyQualifiedName~IncrementalCost --logger "console;verbosity=detailed"</c>.
/// </summary>
public class IncrementalCostTests
{
    private readonly ITestOutputHelper _output;

    public IncrementalCostTests(ITestOutputHelper output) => _output = output;

    private const string Paper = """
        using ShuffleNetGen;
        namespace Bench;
        [ShuffleNet(Groups = 3, Scale = 1.0)]
        public partial class Paper1xG3;
        """;

    [Fact]
    public void GeneratingThePaperModelIsCheap()
    {
        const int runs = 15;
        var compilation = GeneratorHarness.CreateCompilation(Paper);

        // Warm up: the first run JITs the generator and Roslyn's driver.
        var warm = GeneratorHarness.CreateDriver().RunGenerators(compilation).GetRunResult();
        Assert.Empty(warm.Diagnostics);
        string source = warm.Results.Single().GeneratedSources.Single().SourceText.ToString();

        var full = new List<double>();
        var incremental = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
            full.Add(stopwatch.Elapsed.TotalMilliseconds);

            var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText($"class Edit{i} {{ }}", GeneratorHarness.ParseOptions));
            stopwatch.Restart();
            driver.RunGenerators(edited);
            incremental.Add(stopwatch.Elapsed.TotalMilliseconds);
        }

        var settings = Generator.Model.NetworkSettings.Default;
        var (network, _) = Generator.Model.NetworkResolver.Resolve(settings);
        var target = new Generator.Model.TargetClassSpec("Bench", "Paper1xG3", "public", false, false);
        var model = new Generator.Model.ModelSpec(target, network!, Generator.Model.ModelSpec.HintNameFor(target));
        var emitOnly = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            string text = ShuffleNetGenerator.Generate(model);
            emitOnly.Add(stopwatch.Elapsed.TotalMilliseconds);
            Assert.Equal(source, text);
        }

        int lines = source.Count(c => c == '\n');
        _output.WriteLine($"ShuffleNet 1x g=3 224x224: {source.Length:N0} chars ({System.Text.Encoding.UTF8.GetByteCount(source):N0} bytes UTF-8), {lines:N0} lines");
        _output.WriteLine($"full generator run (parse, validate, lower, plan, emit): median {Median(full):F1} ms, min {full.Min():F1} ms over {runs} runs");
        _output.WriteLine($"lower + plan + emit only:                              median {Median(emitOnly):F1} ms, min {emitOnly.Min():F1} ms");
        _output.WriteLine($"incremental re-run after an unrelated edit:            median {Median(incremental):F2} ms");

        // Time is reported, never asserted (a shared machine makes any bound flaky); size is deterministic, and a jump
        // past a megabyte would mean a kernel variant exploded the emitted code.
        Assert.InRange(source.Length, 100_000, 1_000_000);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
