using System.Collections;
using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The incremental pipeline does no work for edits that cannot change a model, and re-emits exactly the model an edit
/// changes. Asserted on the driver's step tracking, which records why each output of each named step was produced.
/// </summary>
public class IncrementalPipelineTests
{
    private readonly ITestOutputHelper _output;

    public IncrementalPipelineTests(ITestOutputHelper output) => _output = output;

    private const string ModelA = """
        using ShuffleNetGen;
        namespace Acme;
        [ShuffleNet(Groups = 3, Scale = 0.25, InputHeight = 32, InputWidth = 32, Classes = 10)]
        public partial class A;
        """;

    private const string ModelB = """
        using ShuffleNetGen;
        namespace Acme;
        [ShuffleNet(Groups = 2, Scale = 0.25, InputHeight = 32, InputWidth = 32, Classes = 5)]
        public partial class B;
        """;

    private const string Unrelated = """
        namespace Acme;
        public static class Helpers
        {
            public static int Answer() => 42;
        }
        """;

    private const string JsonC = """
        { "name": "C", "namespace": "Acme", "groups": 4, "scale": 0.25, "input": { "height": 32, "width": 32 }, "classes": 3 }
        """;

    private static readonly AdditionalText s_jsonC = new InMemoryAdditionalText("models/C.shufflenet.json", JsonC);

    /// <summary>Driver and compilation after a first run over models A, B (attributes) and C (JSON), plus one unrelated file.</summary>
    private static (GeneratorDriver Driver, Compilation Compilation) FirstRun(params AdditionalText[] extra)
    {
        var compilation = GeneratorHarness.CreateCompilation(ModelA, ModelB, Unrelated);
        var driver = GeneratorHarness.CreateDriver(new[] { s_jsonC }.Concat(extra)).RunGenerators(compilation);
        Assert.Equal(3, GeneratorHarness.Models(driver.GetRunResult()).Count());
        return (driver, compilation);
    }

    private static SyntaxTree Tree(Compilation compilation, string path) => compilation.SyntaxTrees.Single(t => t.FilePath == path);

    private static Compilation Replace(Compilation compilation, string path, string text) =>
        compilation.ReplaceSyntaxTree(Tree(compilation, path), CSharpSyntaxTree.ParseText(text, GeneratorHarness.ParseOptions, path: path));

    private static GeneratorRunResult Result(GeneratorDriver driver) => driver.GetRunResult().Results.Single();

    /// <summary>Every output of every step this generator names, and every source output, with why it was produced.</summary>
    private static List<(string Step, IncrementalStepRunReason Reason, object Value)> Outputs(GeneratorRunResult result) =>
        result.TrackedSteps.Where(s => s.Key.StartsWith("ShuffleNet.", StringComparison.Ordinal))
            .Concat(result.TrackedOutputSteps)
            .SelectMany(s => s.Value.SelectMany(step => step.Outputs.Select(o => (s.Key, o.Reason, o.Value))))
            .ToList();

    private void Print(GeneratorRunResult result)
    {
        foreach (var (step, reason, value) in Outputs(result)) _output.WriteLine($"{step,-34} {reason,-9} {Describe(value)}");
    }

    private static string Describe(object value) => value switch
    {
        Generator.Model.ParseResult r => "parse " + (r.Model?.FullName ?? r.Declaration?.FullName ?? "?"),
        Generator.Model.ModelSpec m => "model " + m.FullName,
        ValueTuple<SourceProductionContext, Generator.Model.ModelSpec> t => "emit " + t.Item2.FullName,
        _ => value.GetType().Name,
    };

    private void AssertNothingRan(GeneratorRunResult result)
    {
        Print(result);
        var ran = Outputs(result).Where(o => o.Reason is not (IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged)).ToList();
        Assert.True(ran.Count == 0, "Steps that did work: " + string.Join(", ", ran.Select(o => $"{o.Step} {o.Reason} {Describe(o.Value)}")));
    }

    /// <summary>The models the Models step handed to the emitter as new or modified: exactly those re-emitted.</summary>
    private static List<string> Reemitted(GeneratorRunResult result) =>
        result.TrackedSteps[ShuffleNetGenerator.TrackingNames.Models]
            .SelectMany(s => s.Outputs)
            .Where(o => o.Reason is IncrementalStepRunReason.New or IncrementalStepRunReason.Modified)
            .Select(o => ((Generator.Model.ModelSpec)o.Value).FullName)
            .Order(StringComparer.Ordinal)
            .ToList();

    // Adding an unrelated file: IncrementalCostTests.AnUnrelatedEditReusesThePaperModelsSourceWithoutEmittingIt, which
    // also checks that the tracking saw the first run's work and that the driver hands back the same source text.

    [Fact]
    public void ChangingAMethodBodyElsewhereDoesNoWork()
    {
        var (driver, compilation) = FirstRun();
        var edited = Replace(compilation, "Model2.cs", Unrelated.Replace("=> 42", "=> 6 * 7"));
        AssertNothingRan(Result(driver.RunGenerators(edited)));
    }

    [Fact]
    public void ChangingCodeInTheModelsOwnFileReEmitsNothing()
    {
        var (driver, compilation) = FirstRun();
        var edited = Replace(compilation, "Model0.cs", ModelA + "\nnamespace Acme { static class Local { static int F() => 1; } }");
        var result = Result(driver.RunGenerators(edited));
        Print(result);
        Assert.Empty(Reemitted(result));
    }

    [Fact]
    public void MovingADeclarationMovesOnlyItsDiagnosticsNotItsCode()
    {
        var (driver, compilation) = FirstRun();
        var edited = Replace(compilation, "Model0.cs", "\n\n// moved down\n" + ModelA);
        var result = Result(driver.RunGenerators(edited));
        Print(result);
        Assert.Empty(Reemitted(result));
        Assert.All(Outputs(result).Where(o => o.Step != ShuffleNetGenerator.TrackingNames.Parsed),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{o.Step} {o.Reason}"));
    }

    [Fact]
    public void EditingAnAttributeRegeneratesOnlyThatModel()
    {
        var (driver, compilation) = FirstRun();
        var edited = Replace(compilation, "Model1.cs", ModelB.Replace("Classes = 5", "Classes = 6"));
        driver = driver.RunGenerators(edited);
        var result = Result(driver);
        Print(result);
        Assert.Equal(new[] { "Acme.B" }, Reemitted(result));
        Assert.Contains("public const int Classes = 6;", result.GeneratedSources.Single(s => s.HintName == "Acme.B.ShuffleNet.g.cs").SourceText.ToString());
    }

    [Fact]
    public void EditingJsonRegeneratesOnlyThatModel()
    {
        var (driver, compilation) = FirstRun();
        driver = driver.ReplaceAdditionalText(s_jsonC, new InMemoryAdditionalText(s_jsonC.Path, JsonC.Replace("\"classes\": 3", "\"classes\": 4")));
        var result = Result(driver.RunGenerators(compilation));
        Print(result);
        Assert.Equal(new[] { "Acme.C" }, Reemitted(result));
        Assert.All(result.TrackedSteps[ShuffleNetGenerator.TrackingNames.Parsed].SelectMany(s => s.Outputs),
            o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void ReplacingJsonWithIdenticalTextDoesNoWork()
    {
        var (driver, compilation) = FirstRun();
        // A host hands a new AdditionalText for a saved-but-unchanged file: the content comparison keeps it cached.
        driver = driver.ReplaceAdditionalText(s_jsonC, new InMemoryAdditionalText(s_jsonC.Path, JsonC));
        var result = Result(driver.RunGenerators(compilation));
        Print(result);
        var files = result.TrackedSteps[ShuffleNetGenerator.TrackingNames.JsonFiles].SelectMany(s => s.Outputs).ToList();
        Assert.Equal(IncrementalStepRunReason.Unchanged, Assert.Single(files).Reason);
        AssertNothingRan(result);
    }

    [Fact]
    public void AddingAJsonFileEmitsOnlyTheNewModel()
    {
        var (driver, compilation) = FirstRun();
        driver = driver.AddAdditionalTexts(ImmutableArray.Create<AdditionalText>(new InMemoryAdditionalText("D.shufflenet.json", JsonC.Replace("\"C\"", "\"D\""))));
        var result = Result(driver.RunGenerators(compilation));
        Print(result);
        Assert.Equal(new[] { "Acme.D" }, Reemitted(result));
        Assert.Equal(4, result.GeneratedSources.Length);
    }

    [Fact]
    public void OtherAdditionalFilesAreNeverRead()
    {
        var counting = new CountingAdditionalText("appsettings.json", "{ }");
        var (driver, compilation) = FirstRun(counting);
        Result(driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class X { }", GeneratorHarness.ParseOptions, path: "X.cs"))));
        Assert.Equal(0, counting.Reads);
    }

    private sealed class CountingAdditionalText : AdditionalText
    {
        private readonly string _text;

        public CountingAdditionalText(string path, string text)
        {
            Path = path;
            _text = text;
        }

        public int Reads { get; private set; }

        public override string Path { get; }

        public override Microsoft.CodeAnalysis.Text.SourceText GetText(CancellationToken cancellationToken = default)
        {
            Reads++;
            return Microsoft.CodeAnalysis.Text.SourceText.From(_text);
        }
    }

    [Fact]
    public void FixingAnErrorRemovesItsDiagnosticAndEmitsTheModel()
    {
        var compilation = GeneratorHarness.CreateCompilation(ModelA.Replace("Groups = 3", "Groups = 5"));
        var driver = GeneratorHarness.CreateDriver(Array.Empty<AdditionalText>()).RunGenerators(compilation);
        Assert.Equal("SNG0003", Assert.Single(driver.GetRunResult().Diagnostics).Id);
        driver = driver.RunGenerators(Replace(compilation, "Model0.cs", ModelA));
        Assert.Empty(driver.GetRunResult().Diagnostics);
        Assert.Single(Result(driver).GeneratedSources);
    }

    /// <summary>
    /// What the incremental cache holds must compare by value and must not pin a compilation: no symbol, syntax,
    /// semantic model, location, compilation or additional-text object anywhere in any named step's output, no plain
    /// array in our own types, and every one of our types equatable (a record or IEquatable of itself).
    /// </summary>
    [Fact]
    public void CachedStepOutputsHoldOnlyEquatableValues()
    {
        var (driver, compilation) = FirstRun(new InMemoryAdditionalText("Bad.shufflenet.json", "{ \"name\": \"Bad\", \"groups\": 5 }"));
        // A v2 declaration too, so the v2 attribute's steps run and are walked.
        var edited = Replace(compilation, "Model1.cs", ModelB.Replace("Classes = 5", "Classes = 0"))
            .AddSyntaxTrees(CSharpSyntaxTree.ParseText("using ShuffleNetGen; [ShuffleNetV2(Scale = 0.5, Stages = new[] { 1, 1 }, InputHeight = 32, InputWidth = 32, Classes = 3)] public partial class V2Model;",
                GeneratorHarness.ParseOptions, path: "V2Model.cs"));
        var result = Result(driver.RunGenerators(edited));
        var outputs = Outputs(result).Where(o => !o.Step.Equals("SourceOutput", StringComparison.Ordinal)).ToList();
        Assert.Equal(ShuffleNetGenerator.TrackingNames.All.Order(StringComparer.Ordinal), outputs.Select(o => o.Step).Distinct().Order(StringComparer.Ordinal));
        var problems = new List<string>();
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var (step, _, value) in outputs) Walk(value, step, visited, problems);
        Assert.True(problems.Count == 0, string.Join("\n", problems.Distinct()));
    }

    private sealed record HoldsArray(int[] Widths);

    [Fact]
    public void TheWalkerCatchesWhatItLooksFor()
    {
        var problems = new List<string>();
        Walk(new object[] { Location.None, new HoldsArray(new[] { 1 }), GeneratorHarness.CreateCompilation("class X { }") }, "probe", new(ReferenceEqualityComparer.Instance), problems);
        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.Contains("Location", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("plain array", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Compilation", StringComparison.Ordinal));
    }

    private static readonly Type[] s_forbidden =
    {
        typeof(ISymbol), typeof(Compilation), typeof(SyntaxNode), typeof(SyntaxTree), typeof(SemanticModel), typeof(Location), typeof(AdditionalText),
    };

    private static void Walk(object? value, string path, HashSet<object> visited, List<string> problems)
    {
        if (value is null) return;
        var type = value.GetType();
        if (type.IsPrimitive || type.IsEnum || value is string || value is decimal) return;
        if (!type.IsValueType && !visited.Add(value)) return;
        if (s_forbidden.Any(f => f.IsAssignableFrom(type)))
        {
            problems.Add($"{path}: holds a {type.Name}");
            return;
        }
        bool ours = type.Namespace?.StartsWith("ShuffleNetGen", StringComparison.Ordinal) == true;
        if (ours && !type.IsValueType)
        {
            bool equatable = type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEquatable<>) && i.GenericTypeArguments[0] == type);
            if (!equatable) problems.Add($"{path}: {type.Name} is not equatable");
        }
        if (value is IEnumerable items && value is not string)
        {
            int i = 0;
            foreach (var item in items) Walk(item, $"{path}[{i++}]", visited, problems);
            if (type.IsArray || type.FullName?.StartsWith("System.Collections.Immutable.", StringComparison.Ordinal) == true) return;
        }
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (ours && field.FieldType.IsArray) problems.Add($"{path}.{field.Name}: a plain array (compares by reference)");
                Walk(field.GetValue(value), $"{path}.{field.Name}", visited, problems);
            }
        }
    }
}
