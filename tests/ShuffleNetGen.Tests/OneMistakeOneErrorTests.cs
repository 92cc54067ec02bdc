using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// One mistake in a declaration is one error: a declaration that generates no model still gets its class's public
/// surface (throwing), so user code touching the model reports nothing more. The cases are every case of
/// <see cref="DiagnosticLocationTests"/>, read from its test data, so a case added there is checked here too.
/// </summary>
public class OneMistakeOneErrorTests
{
    private readonly ITestOutputHelper _output;

    public OneMistakeOneErrorTests(ITestOutputHelper output) => _output = output;

    /// <param name="Label">What the case is, for failure messages.</param>
    /// <param name="Source">The C# declaration, if any.</param>
    /// <param name="Json">The JSON declaration, if any (path Net.shufflenet.json).</param>
    /// <param name="Model">The model class as user code names it.</param>
    /// <param name="Hostable">
    /// Whether a stand-in can exist: not for a class that is not partial or cannot take members (SNG0001, SNG0002), nor
    /// where no usable class name is known (unreadable JSON, a name that is not an identifier or is a member's name).
    /// </param>
    public sealed record Case(string Label, string? Source, string? Json, string Model, bool Hostable);

    private const string Using = "using ShuffleNetGen; ";

    /// <summary>Touches every public member a model has: constants, factories, Forward, the interface's statics.</summary>
    private static string Consumer(string model) => $$"""
        using System;
        using System.IO;
        using ShuffleNetGen;

        public static class Consumer
        {
            public static long Use()
            {
                int sizes = {{model}}.InputChannels + {{model}}.InputHeight + {{model}}.InputWidth + {{model}}.InputLength + {{model}}.Classes + {{model}}.ArenaLength + {{model}}.LiveLowerBound;
                long figures = {{model}}.NaiveActivationLength + {{model}}.ParameterCount + {{model}}.MultiplyAdds;
                int images = 4000 / {{model}}.Classes;
                Span<float> logits = stackalloc float[{{model}}.Classes];
                {{model}} model = {{model}}.CreateRandom(1);
                model = {{model}}.FromTensors(new TensorSet());
                model = {{model}}.FromSafetensors("weights.safetensors");
                model = {{model}}.FromSafetensors(Stream.Null);
                model.Forward(new float[{{model}}.InputLength], logits);
                IShuffleNetModel any = model;
                ModelDescription description = {{model}}.Description;
                var layout = {{model}}.WeightLayout;
                var paths = {{model}}.KernelPaths;
                return sizes + figures + images + Generic<{{model}}>() + description.Classes + layout.Count + paths.Count + (any is null ? 0 : 1);
            }

            private static int Generic<T>() where T : class, IShuffleNetModel<T> => T.ClassCount + T.InputElementCount + T.Description.Classes + T.KernelPaths.Count + (T.CreateRandom(1) is null ? 0 : 1);
        }
        """;

    /// <summary>How each parameterized case of DiagnosticLocationTests becomes a declaration.</summary>
    private static readonly Dictionary<string, Func<object[], Case>> s_theories = new()
    {
        ["SNG0002_ClassShapeTheEmitterCannotServe"] = a => new($"SNG0002 {a[0]}", Using + a[0], null, "Net", Hostable: false),
        ["SettingErrorsPointAtTheirArgument"] = a => new($"{a[1]} {a[0]}", Using + $"[ShuffleNet({a[0]})] public partial class Net;", null, "Net", true),
        ["V2SettingErrorsPointAtTheirArgument"] = a => new($"{a[1]} v2 {a[0]}", Using + $"[ShuffleNetV2({a[0]})] public partial class Net;", null, "Net", true),
        ["SNG0007_IndivisibleWidthSaysWhichStageAndWhatMultiple"] = a => new($"SNG0007 {a[0]}", Using + $"[ShuffleNet({a[0]})] public partial class Net;", null, "Net", true),
        // Unreadable JSON names no class.
        ["SNG0016_MalformedJsonGivesLineAndColumn"] = a => new($"SNG0016 {a[3]}", null, (string)a[0], "Net", false),
        ["SNG0017_UnknownPropertySuggestsTheNearest"] = a => new($"SNG0017 {a[0]}", null, (string)a[0], "Net", true),
        ["SNG0018_WrongTypeNamesTheExpectedType"] = a => new($"SNG0018 {a[0]}", null, (string)a[0], "Net", ((string)a[0]).StartsWith("{ \"name\": \"Net\"", StringComparison.Ordinal)),
        // "Vector128" is an identifier that only the kernels cannot live with; the others cannot name a class, or name
        // a member the class would declare.
        ["SNG0020_InvalidJsonClassName"] = a => new($"SNG0020 name {a[0]}", null, $$"""{ "name": "{{a[0]}}" }""", (string)a[0] == "class" ? "@class" : (string)a[0], (string)a[0] == "Vector128"),
        ["SNG0020_InvalidJsonNamespace"] = a => new($"SNG0020 namespace '{a[0]}'", null, $$"""{ "name": "Net", "namespace": "{{a[0]}}" }""", (string)a[0] == "Acme.Unsafe" ? "Acme.Unsafe.Net" : "Net", (string)a[0] == "Acme.Unsafe"),
        ["JsonSettingErrorsPointAtTheValue"] = a => new($"{a[3]} json {a[0]}", null, "{ \"name\": \"Net\", " + a[0] + " }", "Net", true),
    };

    /// <summary>The fact cases of DiagnosticLocationTests, written out (a fact has no data to read).</summary>
    private static readonly Dictionary<string, Case[]> s_facts = new()
    {
        ["SNG0001_ClassNotPartial"] = new[] { new Case("SNG0001", Using + "[ShuffleNet] public class Net { }", null, "Net", false) },
        ["SNG0011_ModelTooLargePointsAtTheAttribute"] = new[] { new Case("SNG0011", Using + "[ShuffleNet(InputHeight = 4096, InputWidth = 4096, StemStride = 1, StemMaxPool = false, StemChannels = 240, Scale = 4)] public partial class Net;", null, "Net", true) },
        // A warning: the model itself is generated, which the test checks apart.
        ["SNG0014_InputTooSmallIsAWarningAndTheModelIsStillGenerated"] = new[] { new Case("SNG0014", Using + "[ShuffleNet(Scale = 0.25, InputHeight = 8, InputWidth = 32, Classes = 10)] public partial class Net;", null, "Net", true) },
        ["SNG0015_JsonAndAttributeDeclaringOneClassAreBothReported"] = new[] { new Case("SNG0015 json + attribute", "using ShuffleNetGen; namespace Acme; [ShuffleNet(Scale = 0.25, InputHeight = 32, InputWidth = 32)] internal partial class Net;", """{ "name": "Net", "namespace": "Acme", "scale": 0.25, "input": { "height": 32, "width": 32 } }""", "Acme.Net", true) },
        ["SNG0015_TwoJsonFilesWithOneNameGenerateNoModelForIt"] = Array.Empty<Case>(), // two files: DuplicateJsonFilesGetOneStandIn
        ["SNG0016_DeepNestingIsAnErrorNotAStackOverflow"] = new[] { new Case("SNG0016 deep nesting", null, "{ \"name\": \"Net\", \"x\": " + new string('[', 1000) + new string(']', 1000) + " }", "Net", false) },
        ["SNG0019_MissingNameSuggestsOneFromTheFileName"] = new[] { new Case("SNG0019", null, "\n  { \"groups\": 3 }", "Net", false) },
        ["SNG0020_AttributeClassNamedLikeAGeneratedMember"] = new[] { new Case("SNG0020 class Forward", Using + "[ShuffleNet] public partial class Forward;", null, "Forward", false) },
        ["SNG0020_AttributeClassInANamespaceThatHidesAGeneratedName"] = new[] { new Case("SNG0020 namespace Acme.Span", Using + "namespace Acme.Span; [ShuffleNet] public partial class Net;", null, "Acme.Span.Net", true) },
        ["SNG0021_DuplicatePropertyPointsAtTheSecond"] = new[] { new Case("SNG0021", null, "{ \"name\": \"Net\", \"groups\": 3, \"groups\": 4 }", "Net", true) },
        // Past the name limits no stand-in is emitted: it would bring back the over-long file name and deep namespace.
        ["SNG0020_JsonNamespaceWithTooManySegments"] = new[] { new Case("SNG0020 33 segments", null, $$"""{ "name": "Net", "namespace": "{{DiagnosticLocationTests.JsonNamespaceOf33Segments}}" }""", DiagnosticLocationTests.JsonNamespaceOf33Segments + ".Net", false) },
        ["SNG0020_JsonFullNameTooLongPointsAtTheLongerPart"] = new[] { new Case("SNG0020 202 bytes", null, $$"""{ "name": "{{DiagnosticLocationTests.JsonClassNameOf190Bytes}}", "namespace": "Acme.Vision" }""", "Acme.Vision." + DiagnosticLocationTests.JsonClassNameOf190Bytes, false) },
        ["SNG0020_AttributeNamespaceWithTooManySegments"] = new[] { new Case("SNG0020 40 segments", Using + $"namespace {DiagnosticLocationTests.AttributeNamespaceOf40Segments}; [ShuffleNet] public partial class Net;", null, DiagnosticLocationTests.AttributeNamespaceOf40Segments + ".Net", false) },
        ["SNG0020_AttributeClassNameTooLong"] = new[] { new Case("SNG0020 203 bytes", Using + $"[ShuffleNet] public partial class {DiagnosticLocationTests.AttributeClassNameOf203Bytes};", null, DiagnosticLocationTests.AttributeClassNameOf203Bytes, false) },
        ["SNG0005_JsonArrayPastTheReaderLimitIsCountedNotRead"] = new[] { new Case("SNG0005 100 stages", null, "{ \"name\": \"Net\", \"stages\": " + DiagnosticLocationTests.HundredStages + " }", "Net", true) },
        ["SNG0023_FindingsPastTheCapAreCountedAtTheTopLevelBrace"] = new[] { new Case("SNG0023", null, DiagnosticLocationTests.ThirtyUnknownPropertiesJson, "Net", true) },
        ["JsonModelTooLargePointsAtTheInput"] = new[] { new Case("SNG0011 json", null, """{ "name": "Net", "scale": 4, "stemChannels": 240, "stemStride": 1, "stemMaxPool": false, "input": { "height": 4096, "width": 4096 } }""", "Net", true) },
        ["JsonInputTooSmallPointsAtTheDimension"] = new[] { new Case("SNG0014 json", null, """{ "name": "Net", "scale": 0.25, "input": { "height": 32, "width": 4 } }""", "Net", true) },
        // The name "class" is a keyword: nothing can be generated, and four errors are four mistakes.
        ["JsonReportsEveryIndependentProblemAtOnce"] = new[] { new Case("four JSON mistakes", null, "{ \"name\": \"class\", \"grups\": 3, \"scale\": \"big\", \"classes\": 0 }", "@class", false) },
    };

    public static IEnumerable<object[]> Cases()
    {
        foreach (var method in typeof(DiagnosticLocationTests).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
        {
            if (s_theories.TryGetValue(method.Name, out var make))
            {
                foreach (var data in method.GetCustomAttributes<InlineDataAttribute>())
                    yield return new object[] { make(data.GetData(method).Single()) };
            }
            else if (s_facts.TryGetValue(method.Name, out var cases))
            {
                foreach (var c in cases) yield return new object[] { c };
            }
        }
    }

    [Fact]
    public void EveryLocationTestIsACaseHere()
    {
        var tests = typeof(DiagnosticLocationTests).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => m.GetCustomAttributes<FactAttribute>().Any()).Select(m => m.Name);
        Assert.DoesNotContain(tests, t => !s_theories.ContainsKey(t) && !s_facts.ContainsKey(t));
        Assert.True(Cases().Count() >= 80, "the location tests' data was not read");
    }

    private static (List<Diagnostic> Errors, List<Diagnostic> ErrorsWithoutStandIns, ImmutableArray<GeneratedSourceResult> Generated, string ConsumerPath) Compile(Case c)
    {
        var sources = (c.Source is null ? new[] { Consumer(c.Model) } : new[] { c.Source, Consumer(c.Model) });
        var files = c.Json is null ? Array.Empty<(string, string)>() : new[] { ("Net.shufflenet.json", c.Json) };
        var (output, generatorDiagnostics, run) = JsonHarness.Run(files, sources);
        var generated = run.Results.Single().GeneratedSources;
        var generatorErrors = generatorDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        var errors = generatorErrors.Concat(JsonHarness.CompileErrors(output)).ToList();
        // What the generator gave before stand-ins existed: the same diagnostics, and no file for a failed declaration.
        var standIns = output.SyntaxTrees.Where(t => t.FilePath.EndsWith(GeneratorHarness.StandInSuffix, StringComparison.Ordinal)).ToList();
        var without = standIns.Count > 0 ? generatorErrors.Concat(JsonHarness.CompileErrors(output.RemoveSyntaxTrees(standIns))).ToList() : errors;
        return (errors, without, generated, $"Model{sources.Length - 1}.cs");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void UsingAModelWhoseDeclarationFailedReportsOnlyTheDeclarationsErrors(Case c)
    {
        var (errors, before, generated, consumer) = Compile(c);
        _output.WriteLine($"{c.Label}: {before.Count} errors before stand-ins, {errors.Count} now: {string.Join(", ", errors.Select(e => e.Id))}");
        var other = errors.Where(e => !e.Id.StartsWith("SNG", StringComparison.Ordinal)).ToList();
        if (c.Hostable)
        {
            Assert.True(other.Count == 0, $"{c.Label}: {string.Join("; ", other)}");
            Assert.True(generated.Length == 1, $"{c.Label}: {generated.Length} files generated");
        }
        else
        {
            // Nothing is generated: a part added to the class (or a class under a name C# cannot use) would be an
            // error of its own. The remaining errors are the user's uses of members that do not exist.
            Assert.True(generated.Length == 0, $"{c.Label}: {generated.Length} files generated");
            Assert.True(errors.Count(e => e.Id.StartsWith("SNG", StringComparison.Ordinal)) > 0, c.Label);
            Assert.True(other.All(e => e.Location.GetLineSpan().Path == consumer), $"{c.Label}: {string.Join("; ", other)}");
            Assert.Equal(before.Count, errors.Count);
        }
    }

    [Fact]
    public void DuplicateJsonFilesGetOneStandIn()
    {
        const string json = """{ "name": "Net", "scale": 0.25, "input": { "height": 32, "width": 32 } }""";
        var (output, diagnostics, run) = JsonHarness.Run(new[] { ("a/Net.shufflenet.json", json), ("b/Net.shufflenet.json", json) }, Consumer("Net"));
        Assert.Equal(new[] { "SNG0015", "SNG0015" }, diagnostics.Select(d => d.Id));
        Assert.Equal("Net.ShuffleNet.Failed.g.cs", Assert.Single(run.Results.Single().GeneratedSources).HintName);
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    [Fact]
    [Trait("Category", "Slow")] // 10 s or more in CI (measured run, 2-core machine)
    public void StandInThrowsNamingTheDiagnosticAndItsMessage()
    {
        var (output, diagnostics, _) = GeneratorHarness.Run(Using + "namespace Acme; [ShuffleNet(Groups = 5)] internal partial class SmallNet;");
        Assert.Equal("SNG0003", Assert.Single(diagnostics).Id);
        var type = GeneratorHarness.EmitAndLoad(output).GetType("Acme.SmallNet")!;
        Assert.False(type.IsPublic); // the declared accessibility is kept

        const string expected = "ShuffleNetGen could not generate SmallNet: SNG0003 Groups = 5 is not supported; ShuffleNet v1 uses 1, 2, 3, 4 or 8 groups";
        var e = Assert.Throws<TargetInvocationException>(() => type.GetMethod("CreateRandom")!.Invoke(null, new object[] { 1 }));
        Assert.Equal(expected, Assert.IsType<InvalidOperationException>(e.InnerException).Message);
        e = Assert.Throws<TargetInvocationException>(() => type.GetProperty("Description")!.GetValue(null));
        Assert.Equal(expected, Assert.IsType<InvalidOperationException>(e.InnerException).Message);
        Assert.Equal(1, (int)type.GetField("Classes")!.GetValue(null)!);
    }

    [Fact]
    [Trait("Category", "Slow")] // 10 s or more in CI (measured run, 2-core machine)
    public void StandInHasEveryPublicMemberAValidModelHas()
    {
        static string[] Surface(Type t) => t.GetMembers(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Select(m => m.ToString()!.Replace(t.FullName!, "MODEL")).Order(StringComparer.Ordinal).ToArray();
        static Type Load(string declaration)
        {
            var (output, _, _) = GeneratorHarness.Run(Using + declaration);
            return GeneratorHarness.EmitAndLoad(output).GetType("Net")!;
        }
        var valid = Load("[ShuffleNet(Scale = 0.25, InputHeight = 32, InputWidth = 32, Classes = 10)] public partial class Net;");
        var standIn = Load("[ShuffleNet(Scale = 0.25, InputHeight = 32, InputWidth = 32, Classes = 0)] public partial class Net;");
        Assert.Equal(Surface(valid), Surface(standIn));
        Assert.Equal(valid.GetInterfaces().Select(i => i.Name), standIn.GetInterfaces().Select(i => i.Name));
    }
}
