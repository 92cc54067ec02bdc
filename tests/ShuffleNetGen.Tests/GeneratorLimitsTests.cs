using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using CsCheck;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator.Json;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Declarations far past any real one (a 10,000-segment namespace, a 30 MB stage list, 100,000 properties) end in a
/// few diagnostics, quickly and in little memory, instead of crashing the compiler, hanging the build or emitting code
/// that breaks metadata. The limits are in docs/reliability.md.
/// </summary>
public class GeneratorLimitsTests
{
    private readonly ITestOutputHelper _output;

    public GeneratorLimitsTests(ITestOutputHelper output) => _output = output;

    /// <summary>A model small enough that compiling its generated code takes a moment, not the point of the test.</summary>
    private const string TinySettings = "\"groups\": 1, \"scale\": 0.25, \"stages\": [1, 1], \"input\": { \"height\": 16, \"width\": 16 }, \"classes\": 3";
    private const string TinyArguments = "Groups = 1, Scale = 0.25, Stages = new[] { 1, 1 }, InputHeight = 16, InputWidth = 16, Classes = 3";

    /// <summary>Generous for a loaded 2-core machine; the cases below take milliseconds when the limits hold.</summary>
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(10);

    /// <summary>Before the limit, in-process Roslyn died of a stack overflow binding the generated namespace.</summary>
    [Fact]
    public void TenThousandSegmentNamespaceInJsonIsOneDiagnostic()
    {
        string ns = string.Join(".", Enumerable.Repeat("a", 10_000));
        string json = $$"""{"name":"N","namespace":"{{ns}}"}""";
        var stopwatch = Stopwatch.StartNew();
        var (_, diagnostics, run) = JsonHarness.RunJson("N.shufflenet.json", json);
        stopwatch.Stop();
        _output.WriteLine($"10,000 segments ({json.Length} chars): {diagnostics.Length} diagnostic(s) in {stopwatch.Elapsed.TotalMilliseconds:F0} ms");
        var d = Assert.Single(diagnostics);
        Assert.Equal("SNG0020", d.Id);
        Assert.Equal("\"" + ns + "\"", GeneratorHarness.Located(d, json));
        Assert.Contains("it has 10000 segments; a namespace may have at most 32", d.GetMessage());
        Assert.True(d.GetMessage().Length < 300, "the message quotes a 20 KB name in full");
        Assert.Empty(run.Results.Single().GeneratedSources);
        Assert.True(stopwatch.Elapsed < Quick, $"took {stopwatch.Elapsed}");
    }

    /// <summary>Dotted names from 1 to 20,000 segments of 1 to 300 characters, mostly near the limits.</summary>
    private static readonly Gen<string> Namespaces =
        Gen.Select(
            Gen.OneOf(Gen.Int[1, 40], Gen.Int[1, 20_000]),
            Gen.OneOf(Gen.Int[1, 8], Gen.Int[1, 300]),
            Gen.Int[0, 1_000_000],
            (segments, length, seed) =>
            {
                var random = new Random(seed);
                var text = new StringBuilder();
                for (int s = 0; s < segments; s++)
                {
                    if (s > 0) text.Append('.');
                    // Capitalised, so no segment is a keyword or a name the generated code uses: those have their own tests.
                    text.Append((char)('A' + random.Next(26)));
                    for (int i = 1; i < length; i++) text.Append((char)('a' + random.Next(26)));
                }
                return text.ToString();
            });

    private static readonly Gen<string> ClassNames =
        Gen.OneOf(Gen.Int[1, 16], Gen.Int[1, 400]).Select(length => "M" + new string('x', length - 1));

    [Fact]
    public void LongAndDeepNamesInJsonGiveCompilingCodeOrSNG0020AtTheName() =>
        AssertNamesGenerateOrAreRejectedAtTheName("JSON", Namespaces, iterations: 40,
            (ns, name) => $$"""{ "name": "{{name}}", "namespace": "{{ns}}", {{TinySettings}} }""",
            json => JsonHarness.RunJson("Net.shufflenet.json", json),
            (ns, name) => new[] { "\"" + ns + "\"", "\"" + name + "\"" });

    // C# source up to 1,000 segments: deeper, the compiler's own binding of the user's namespace is the limit.
    [Fact]
    [Trait("Category", "Slow")] // 10 s or more in CI (measured run, 2-core machine)
    public void LongAndDeepNamesInCSharpGiveCompilingCodeOrSNG0020AtTheName() =>
        AssertNamesGenerateOrAreRejectedAtTheName("C#", Namespaces.Where(ns => ns.Count(c => c == '.') < 1_000), iterations: 25,
            (ns, name) => $"using ShuffleNetGen; namespace {ns}; [ShuffleNet({TinyArguments})] public partial class {name};",
            source => GeneratorHarness.Run(source),
            (ns, name) => new[] { ns, name });

    /// <param name="declare">The declaration of a class named by (namespace, class name).</param>
    /// <param name="run">Runs the generator on that declaration.</param>
    /// <param name="located">The texts an SNG0020 may underline: the namespace or the class name as written.</param>
    private void AssertNamesGenerateOrAreRejectedAtTheName(
        string label, Gen<string> namespaces, int iterations, Func<string, string, string> declare,
        Func<string, (Compilation Output, ImmutableArray<Diagnostic> Diagnostics, GeneratorDriverRunResult Run)> run,
        Func<string, string, string[]> located)
    {
        int generated = 0, rejected = 0;
        Gen.Select(namespaces, ClassNames).Sample((ns, name) =>
        {
            string text = declare(ns, name);
            var stopwatch = Stopwatch.StartNew();
            var (output, diagnostics, driverRun) = run(text);
            Assert.True(stopwatch.Elapsed < Quick, $"generation took {stopwatch.Elapsed}");
            var result = driverRun.Results.Single();
            Assert.Null(result.Exception);
            if (diagnostics.IsEmpty)
            {
                generated++;
                Assert.Single(result.GeneratedSources);
                // To a PE image, not only bound: metadata name limits are enforced when the image is written.
                GeneratorHarness.Emit(output).Dispose();
                return;
            }
            rejected++;
            Assert.Empty(result.GeneratedSources);
            var d = Assert.Single(diagnostics);
            Assert.Equal("SNG0020", d.Id);
            Assert.Contains(GeneratorHarness.Located(d, text), located(ns, name));
        }, iter: iterations, threads: 1);
        _output.WriteLine($"{label}: {generated} generated and compiled, {rejected} rejected with SNG0020");
        Assert.True(generated > 0 && rejected > 0, $"{generated} generated, {rejected} rejected: the generator is too one-sided to test the limit");
    }

    [Fact]
    public void ThirtyMegabyteStageListIsOneDiagnosticInLittleMemory()
    {
        const int entries = 15_000_000;
        var text = new StringBuilder("{\"name\":\"N\",\"stages\":[", entries * 2 + 64);
        for (int i = 0; i < entries; i++) text.Append(i == 0 ? "4" : ",4");
        text.Append("]}");
        string json = text.ToString();

        // The parse stage alone, on this thread, so the allocation count is the generator's own (the driver's
        // SourceText-to-string copy of the file is the compiler's, whatever the limits).
        var file = new JsonFile("N.shufflenet.json", json);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var stopwatch = Stopwatch.StartNew();
        var result = JsonDeclarationParser.Parse(file, CancellationToken.None);
        stopwatch.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        _output.WriteLine($"{json.Length / 1e6:F1} MB stage list: parsed in {stopwatch.Elapsed.TotalMilliseconds:F0} ms, {allocated} bytes allocated");

        var d = Assert.Single(result.Diagnostics).ToDiagnostic();
        Assert.Equal("SNG0005", d.Id);
        Assert.Equal($"stages has {entries} entries; give 1 to 4 stages (the paper uses [4, 8, 4])", d.GetMessage());
        Assert.Equal(json.IndexOf('['), d.Location.SourceSpan.Start);
        Assert.Equal(json.Length - 1, d.Location.SourceSpan.End);
        Assert.Null(result.Model);
        Assert.True(allocated < 1_000_000, $"{allocated} bytes allocated for a list that should not be materialized");
        // No time bound: scanning 30 MB is linear but took 110 s of wall time on a 2-core machine at load 60, which
        // says nothing about the generator; the bound that matters here is the allocation above.
    }

    [Fact]
    public void HundredThousandUnknownPropertiesAreOneDiagnostic()
    {
        var text = new StringBuilder("{\"name\":\"N\"");
        for (int i = 0; i < 100_000; i++) text.Append(",\"p").Append(i).Append("\":1");
        text.Append('}');
        string json = text.ToString();
        var stopwatch = Stopwatch.StartNew();
        var (_, diagnostics, _) = JsonHarness.RunJson("N.shufflenet.json", json);
        stopwatch.Stop();
        _output.WriteLine($"100,000 unknown properties ({json.Length / 1e6:F1} MB): {diagnostics.Length} diagnostic(s) in {stopwatch.Elapsed.TotalMilliseconds:F0} ms");
        var d = Assert.Single(diagnostics);
        Assert.Equal("SNG0016", d.Id);
        Assert.Equal($"The model declaration is not valid JSON: the object that starts at line 1 has more than {JsonReader.MaxProperties} properties; a model declaration has at most {JsonDeclarationParser.RootProperties.Length}", d.GetMessage());
        // At the first property past the limit ("name" is the first of the 256 read).
        Assert.Equal(json.IndexOf("\"p" + (JsonReader.MaxProperties - 1) + "\"", StringComparison.Ordinal), d.Location.SourceSpan.Start);
        Assert.True(stopwatch.Elapsed < Quick, $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public void UnknownPropertiesUnderTheObjectLimitAreCappedAtTwentyFindings()
    {
        var text = new StringBuilder("{\"name\":\"N\"");
        for (int i = 0; i < 250; i++) text.Append(",\"p").Append(i).Append("\":1");
        text.Append('}');
        var (_, diagnostics, _) = JsonHarness.RunJson("N.shufflenet.json", text.ToString());
        Assert.Equal(JsonDeclarationParser.MaxDiagnostics + 1, diagnostics.Length);
        Assert.Equal(Enumerable.Repeat("SNG0017", 20).Append("SNG0023"), diagnostics.Select(d => d.Id));
        Assert.StartsWith("230 more problems in this file are not listed", diagnostics[^1].GetMessage());
    }

    [Fact]
    public void EntriesPastTheArrayLimitAreStillCheckedForSyntax()
    {
        string json = "{ \"name\": \"N\", \"stages\": [" + string.Join(",", Enumerable.Repeat("1", 20)) + ", {\"a\": [1, \"x\\u00e9\", tru]}] }";
        var error = JsonReader.Parse(json).Error;
        Assert.NotNull(error);
        Assert.Equal("tru", json.Substring(error!.Span.Start, error.Span.Length));
    }
}
