using System.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// What the paper's ShuffleNet 1x (g = 3, 224x224), the largest model a consumer is likely to declare, costs the build
/// after an edit that does not touch it: nothing, because the driver hands back the source it emitted before. Asserted
/// on the driver's step tracking, never on time (a shared machine makes any time bound flaky); the times are printed,
/// see them with
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

    /// <summary>Every output of the generator's named steps and of its source output, with why the driver produced it.</summary>
    private static List<(string Step, IncrementalStepRunReason Reason)> Outputs(GeneratorRunResult result) =>
        result.TrackedSteps.Where(s => s.Key.StartsWith("ShuffleNet.", StringComparison.Ordinal))
            .Concat(result.TrackedOutputSteps)
            .SelectMany(s => s.Value.SelectMany(step => step.Outputs.Select(o => (s.Key, o.Reason))))
            .ToList();

    private static bool IsSourceOutput(string step) => step.EndsWith("SourceOutput", StringComparison.Ordinal);

    [Fact]
    public void AnUnrelatedEditReusesThePaperModelsSourceWithoutEmittingIt()
    {
        var compilation = GeneratorHarness.CreateCompilation(Paper);
        var stopwatch = Stopwatch.StartNew();
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        double fullMs = stopwatch.Elapsed.TotalMilliseconds;
        var first = driver.GetRunResult().Results.Single();
        Assert.Empty(first.Diagnostics);
        var emitted = Assert.Single(first.GeneratedSources);
        // The tracking sees the first run's work, so an empty report below is the driver's, not a blind spot.
        var firstOutputs = Outputs(first);
        Assert.Contains(firstOutputs, o => IsSourceOutput(o.Step));
        Assert.All(firstOutputs, o => Assert.Equal(IncrementalStepRunReason.New, o.Reason));

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Bench; class Edit { int F() => 1; }", GeneratorHarness.ParseOptions, path: "Edit.cs"));
        stopwatch.Restart();
        driver = driver.RunGenerators(edited);
        double incrementalMs = stopwatch.Elapsed.TotalMilliseconds;
        var second = driver.GetRunResult().Results.Single();

        var secondOutputs = Outputs(second);
        Assert.Contains(secondOutputs, o => IsSourceOutput(o.Step));
        var ran = secondOutputs.Where(o => o.Reason is not (IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged)).ToList();
        Assert.True(ran.Count == 0, "steps that did work after an unrelated edit: " + string.Join(", ", ran.Select(o => $"{o.Step} {o.Reason}")));
        // No new source: the driver hands back the very text object of the first run.
        var reused = Assert.Single(second.GeneratedSources);
        Assert.Equal(emitted.HintName, reused.HintName);
        Assert.Same(emitted.SourceText, reused.SourceText);

        string source = emitted.SourceText.ToString();
        _output.WriteLine($"ShuffleNet 1x g=3 224x224: {source.Length:N0} chars, {source.Count(c => c == '\n'):N0} lines");
        _output.WriteLine($"first generator run (parse, validate, lower, plan, emit, JIT of the generator included): {fullMs:F0} ms");
        _output.WriteLine($"re-run after an unrelated edit: {incrementalMs:F1} ms");
    }
}
