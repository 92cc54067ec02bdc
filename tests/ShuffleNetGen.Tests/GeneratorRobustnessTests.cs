using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using CsCheck;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The generator never throws and never emits code that does not compile: whatever it is given, the outcome is either
/// generated code that compiles or diagnostics. Random attribute values and random, truncated or corrupted JSON are
/// fed through the real driver; a sample of the generated models is compiled.
/// </summary>
public class GeneratorRobustnessTests
{
    private readonly ITestOutputHelper _output;

    public GeneratorRobustnessTests(ITestOutputHelper output) => _output = output;

    // Kept moderate for a 2-core machine: generation is milliseconds a case, compiling a generated model is most of
    // a second, so every case is generated and checked but only a bounded sample is compiled. Lowered from 1500 /
    // 2500 / 12 when CI on two cores reached its 20-minute limit; the diagnostics seen stay the same set.
    private const int AttributeCases = 1000;
    private const int JsonCases = 1500;
    private const int CompileBudget = 8;
    private const int CompileSizeLimit = 120_000;

    /// <summary>One random input: C# sources (may be none) and JSON files (may be none).</summary>
    public sealed record Case(string[] Sources, (string Path, string Text)[] Files)
    {
        public override string ToString() =>
            string.Join("\n", Sources.Select((s, i) => $"--- Model{i}.cs\n{s}").Concat(Files.Select(f => $"--- {f.Path}\n{f.Text}")));
    }

    private sealed class Tally
    {
        public int Cases;
        public int Generated;
        public int Rejected;
        public int Warned;
        public int Compiled;
        public int CompileCandidates;
        public long CompileTicks;
        public readonly ConcurrentDictionary<string, int> Ids = new();
    }

    [Fact]
    [Trait("Category", "Slow")] // thousands of random declarations through the real driver
    public void RandomAttributesGiveCompilingCodeOrDiagnostics() => Check(AttributeCase, AttributeCases, "attribute");

    [Fact]
    [Trait("Category", "Slow")]
    public void RandomJsonGivesCompilingCodeOrDiagnostics() => Check(JsonCase, JsonCases, "JSON");

    private void Check(Gen<Case> gen, int iterations, string what)
    {
        var tally = new Tally();
        var stopwatch = Stopwatch.StartNew();
        gen.Sample(c => CheckCase(c, tally), iter: iterations, threads: 2, print: c => c.ToString());
        _output.WriteLine($"{what}: {tally.Cases} cases in {stopwatch.Elapsed.TotalSeconds:F1} s; {tally.Generated} generated code, {tally.Rejected} rejected with errors, {tally.Warned} with warnings; {tally.Compiled} generated outputs compiled ({Stopwatch.GetElapsedTime(0, tally.CompileTicks).TotalSeconds:F1} s of compiling)");
        _output.WriteLine("diagnostics seen: " + string.Join(", ", tally.Ids.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}×{p.Value}")));
        Assert.True(tally.Generated > iterations / 10, $"only {tally.Generated} of {tally.Cases} cases generated code: the generators are too hostile to test the emitter");
        Assert.True(tally.Rejected > iterations / 10, $"only {tally.Rejected} of {tally.Cases} cases were rejected: the generators are too tame");
        // The compile check is the point of generating code here: a run that compiled nothing (every output over the
        // size limit, say) would pass while checking nothing, so the whole budget must have been compiled.
        Assert.True(tally.Compiled == CompileBudget, $"only {tally.Compiled} of {tally.CompileCandidates} generated outputs under {CompileSizeLimit:N0} characters were compiled, not {CompileBudget}: the compile check did not run");
    }

    private static void CheckCase(Case c, Tally tally)
    {
        Interlocked.Increment(ref tally.Cases);
        var compilation = GeneratorHarness.CreateCompilation(c.Sources);
        var driver = GeneratorHarness.CreateDriver(c.Files.Select(f => (AdditionalText)new InMemoryAdditionalText(f.Path, f.Text)))
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var driverDiagnostics);
        var result = driver.GetRunResult().Results.Single();

        // The generator itself never fails: no exception (the driver turns one into CS8785 and drops all output) and no
        // internal-error diagnostic (ours, for an exception caught inside).
        Assert.Null(result.Exception);
        Assert.All(driverDiagnostics, d => Assert.StartsWith("SNG", d.Id));
        Assert.DoesNotContain(result.Diagnostics, d => d.Id == "SNG0022");
        Assert.All(result.Diagnostics, d => Assert.StartsWith("SNG", d.Id));

        // Every diagnostic renders and points inside the file it names.
        foreach (var d in result.Diagnostics)
        {
            tally.Ids.AddOrUpdate(d.Id, 1, (_, n) => n + 1);
            Assert.False(string.IsNullOrWhiteSpace(d.GetMessage(CultureInfo.InvariantCulture)));
            var span = d.Location.GetLineSpan();
            string? text = c.Files.Where(f => f.Path == span.Path).Select(f => f.Text ?? "").FirstOrDefault()
                ?? c.Sources.Where((_, i) => $"Model{i}.cs" == span.Path).FirstOrDefault();
            Assert.True(text is not null, $"{d.Id} points at unknown file '{span.Path}'");
            Assert.InRange(d.Location.SourceSpan.End, 0, text!.Length);
            Assert.Equal(SourceText.From(text).Lines.GetLinePositionSpan(d.Location.SourceSpan), span.Span);
        }

        bool errors = result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
        if (result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Warning)) Interlocked.Increment(ref tally.Warned);
        if (result.GeneratedSources.Length == 0)
        {
            Interlocked.Increment(ref tally.Rejected);
            // Without an error of ours, the compiler must have one: an attribute it cannot bind is never seen by the generator.
            Assert.True(errors || compilation.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error), "nothing was generated and no error says why");
            return;
        }
        Interlocked.Increment(ref tally.Generated);
        if (errors) Interlocked.Increment(ref tally.Rejected);

        // A class named ShuffleNetGen in the global namespace hides the runtime's namespace from every file, the
        // generated ones included, and C# has no spelling that reaches the namespace past it. A JSON model of that name
        // gets SNG0020; a user's own class of that name already breaks the user's `using ShuffleNetGen;` (CS0138).
        if (compilation.Assembly.GlobalNamespace.GetTypeMembers(ModelNames.RuntimeNamespace).Length > 0) return;

        // Compile a bounded sample of the smaller outputs: the first cases that generate, then every fourth one while the
        // budget lasts. Compile time grows with the emitted size, which the kernel emitters decide, not these tests.
        if (result.GeneratedSources.Sum(g => g.SourceText.Length) > CompileSizeLimit) return;
        int candidate = Interlocked.Increment(ref tally.CompileCandidates);
        if (candidate > CompileBudget && candidate % 4 != 0) return;
        if (Interlocked.Increment(ref tally.Compiled) > CompileBudget)
        {
            Interlocked.Decrement(ref tally.Compiled);
            return;
        }
        // Errors the user's own code has without any generated code are not the generator's; any other error is.
        long start = Stopwatch.GetTimestamp();
        var before = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToHashSet();
        var after = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && !before.Contains(d.ToString())).Take(5).ToList();
        Interlocked.Add(ref tally.CompileTicks, Stopwatch.GetTimestamp() - start);
        Assert.True(after.Count == 0, "generated code does not compile:\n" + string.Join("\n", after));
    }

    // ---------------- random attribute declarations ----------------

    // Gen.Int rather than Gen.Double[0, 1]: CsCheck's doubles favour edge values, far from uniform.
    private static Gen<string?> Sometimes(double probability, Gen<string> gen) =>
        Gen.Int[0, 999].SelectMany(p => p < probability * 1000 ? gen.Select(s => (string?)s) : Gen.Const((string?)null));

    private static string Literal(double d) =>
        double.IsNaN(d) ? "double.NaN" : double.IsPositiveInfinity(d) ? "double.PositiveInfinity" : double.IsNegativeInfinity(d) ? "double.NegativeInfinity"
        : d.ToString("R", CultureInfo.InvariantCulture);

    private static readonly Gen<int> GroupsValue = Gen.Frequency((12, Gen.OneOfConst(1, 2, 3, 4, 8)), (2, Gen.Int[-2, 17]), (1, Gen.OneOfConst(int.MinValue, int.MaxValue)));

    private static readonly Gen<double> ScaleValue = Gen.Frequency(
        (6, Gen.OneOfConst(0.25, 0.5, 1.0, 1.5)),
        (2, Gen.Double[0.01, 4.5]),
        (1, Gen.OneOfConst(0.0, -1.0, 1e308, double.NaN, double.PositiveInfinity, 1e-300, 4.0, 4.0000001)));

    // Few units, so generated models stay small enough to compile a sample quickly.
    private static readonly Gen<int[]> StagesValue = Gen.Frequency(
        (10, Gen.Int[1, 3].Array[1, 4]),
        (2, Gen.Frequency((9, Gen.Int[1, 2]), (1, Gen.Int[-1, 40])).Array[0, 6]));

    private static readonly Gen<int[]> StageChannelsValue = Gen.Frequency(
        (3, Gen.Int[1, 40].Select(k => k * 12).Array[1, 4]),
        (1, Gen.Int[-4, 700].Array[0, 5]));

    private static readonly Gen<int> InputChannelsValue = Gen.Frequency((8, Gen.Int[1, 4]), (1, Gen.OneOfConst(0, -1, 70_000)));

    private static readonly Gen<int> SizeValue = Gen.Frequency((12, Gen.Int[1, 48]), (1, Gen.Int[49, 300]), (1, Gen.OneOfConst(0, -5, 4096, 5000)));

    private static readonly Gen<int> ClassesValue = Gen.Frequency((8, Gen.Int[1, 20]), (1, Gen.OneOfConst(0, -1, 1 << 21)));

    private static readonly Gen<int> StemStrideValue = Gen.Frequency((6, Gen.OneOfConst(1, 2)), (1, Gen.OneOfConst(0, 3, -2)));

    private static readonly Gen<int> StemChannelsValue = Gen.Frequency((4, Gen.Int[1, 16].Select(k => k * 3)), (1, Gen.Int[-2, 70]));

    private static readonly Gen<string> ShuffleOrderJson = Gen.Frequency(
        (8, Gen.OneOfConst("\"paper\"", "\"official\"")),
        (1, Gen.OneOfConst("\"Official\"", "\"megvii\"", "\"\"", "1")));

    private static readonly Gen<string> ShuffleOrderArgument = Gen.Frequency(
        (8, Gen.OneOfConst("ShuffleOrder.Paper", "ShuffleOrder.Official", "ShuffleNetGen.ShuffleOrder.Official")),
        (1, Gen.OneOfConst("(ShuffleOrder)2", "(ShuffleOrder)(-1)", "default")));

    private static readonly Gen<string> PrecisionArgument = Gen.Frequency(
        (8, Gen.OneOfConst("Precision.Float32", "Precision.Int8", "ShuffleNetGen.Precision.Int8")),
        (1, Gen.OneOfConst("(Precision)2", "(Precision)(-1)", "default")));

    private static readonly Gen<string> PrecisionJson = Gen.Frequency(
        (8, Gen.OneOfConst("\"float32\"", "\"int8\"")),
        (1, Gen.OneOfConst("\"Int8\"", "\"fp16\"", "\"\"", "0")));

    /// <summary>The shuffle order and the precision, either, both or neither, as attribute arguments.</summary>
    private static readonly Gen<string?> OrderAndPrecision = Gen.Select(
        Sometimes(0.2, ShuffleOrderArgument.Select(s => $"ShuffleOrder = {s}")), Sometimes(0.25, PrecisionArgument.Select(s => $"Precision = {s}")),
        (order, precision) => order is null ? precision : precision is null ? order : order + ", " + precision);

    private static string IntList(int[] values) => values.Length == 0 ? "new int[0]" : "new[] { " + string.Join(", ", values) + " }";

    private static readonly Gen<string> AttributeArguments = Gen.Select(
        Sometimes(0.5, GroupsValue.Select(g => $"Groups = {g}")),
        Sometimes(0.5, ScaleValue.Select(s => $"Scale = {Literal(s)}")),
        Sometimes(0.9, StagesValue.Select(s => $"Stages = {IntList(s)}")),
        Sometimes(0.08, StageChannelsValue.Select(s => $"StageChannels = {IntList(s)}")),
        Sometimes(0.15, StemChannelsValue.Select(s => $"StemChannels = {s}")),
        Sometimes(0.4, InputChannelsValue.Select(s => $"InputChannels = {s}")),
        Gen.Select(Sometimes(0.95, SizeValue.Select(s => $"InputHeight = {s}")), Sometimes(0.95, SizeValue.Select(s => $"InputWidth = {s}")), (h, w) => (h, w)),
        Gen.Select(Sometimes(0.8, ClassesValue.Select(s => $"Classes = {s}")), Sometimes(0.3, StemStrideValue.Select(s => $"StemStride = {s}")),
            Sometimes(0.3, Gen.Bool.Select(b => $"StemMaxPool = {(b ? "true" : "false")}")), OrderAndPrecision,
            (a, b, c, d) => (a, b, c, d)),
        (groups, scale, stages, widths, stem, channels, size, rest) =>
            string.Join(", ", new[] { groups, scale, stages, widths, stem, channels, size.h, size.w, rest.a, rest.b, rest.c, rest.d }.Where(a => a is not null)));

    private static readonly Gen<string> ClassName = Gen.Frequency(
        (12, Gen.OneOfConst("Net", "Model", "TinyNet", "ShuffleNet_g3")),
        (1, Gen.OneOfConst("Forward", "Vector128", "@class", "Unit3", "Span", "tensors", "Tensor", "Weights", "ShuffleNetGen", "IShuffleNetModel", "TensorSet")));

    private static readonly Gen<string> ClassModifiers = Gen.Frequency(
        (14, Gen.OneOfConst("public partial class", "internal partial class", "public sealed partial class", "partial class")),
        (1, Gen.OneOfConst("public class", "public static partial class", "public abstract partial class", "public partial record", "file partial class")));

    private static readonly Gen<string?> NamespaceName = Gen.Frequency(
        (6, Gen.OneOfConst<string?>(null, "Acme.Vision", "Models")),
        (1, Gen.OneOfConst<string?>("Acme.Span", "Acme.Weights", "Acme.ShuffleNetGen", "@class.Models")));

    private static readonly Gen<Case> AttributeCase = Gen.Select(AttributeArguments, ClassName, ClassModifiers, NamespaceName, Gen.Int[0, 19], (arguments, name, modifiers, ns, shape) =>
    {
        string typeParameters = shape == 0 ? "<T>" : "";
        string declaration = $"[ShuffleNet({arguments})] {modifiers} {name}{typeParameters}" + (shape == 1 ? " { public int Extra => 1; }" : ";");
        if (shape == 2) declaration = $"public partial class Outer {{ {declaration} }}";
        string source = "using ShuffleNetGen;\n" + (ns is null ? "" : $"namespace {ns};\n") + declaration + "\n";
        return new Case(new[] { source }, Array.Empty<(string, string)>());
    });

    // ---------------- random JSON declarations ----------------

    private static string Json(double d) =>
        double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : d > 0 ? "1e400" : d < 0 ? "-1e400" : "0";

    private static Gen<string> JsonValue(Gen<string> good) => Gen.Frequency(
        (40, good),
        (1, Gen.OneOfConst("\"3\"", "true", "null", "[3]", "{}", "2.5", "1e12", "-0", "1E400")));

    internal static readonly Gen<string[]> JsonProperties = Gen.Select(
        Sometimes(0.93, JsonValue(Gen.Frequency(
            (20, Gen.OneOfConst("\"TinyNet\"", "\"Net\"", "\"NET\"", "\"Model\"")),
            (1, Gen.OneOfConst("\"class\"", "\"3D\"", "\"Forward\"", "\"Ne\\u200Bt\"", "\"\"", "\"Vector128\"", "\"Tiny Net\"")))).Select(v => $"\"name\": {v}")),
        Sometimes(0.6, JsonValue(Gen.Frequency(
            (20, Gen.OneOfConst("\"Acme.Vision\"", "\"acme\"", "\"Models\"")),
            (1, Gen.OneOfConst("\"\"", "\"Acme..X\"", "\"Acme.Unsafe\"", "\".Acme\"", "\"Acme.\"", "\"global\"")))).Select(v => $"\"namespace\": {v}")),
        Gen.Select(
            Sometimes(0.5, JsonValue(GroupsValue.Select(g => g.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"groups\": {v}")),
            Sometimes(0.5, JsonValue(ScaleValue.Select(Json)).Select(v => $"\"scale\": {v}")),
            (g, s) => new[] { g, s }),
        Sometimes(0.97, JsonValue(StagesValue.Select(s => "[" + string.Join(", ", s) + "]")).Select(v => $"\"stages\": {v}")),
        Sometimes(0.08, JsonValue(StageChannelsValue.Select(s => "[" + string.Join(", ", s) + "]")).Select(v => $"\"stageChannels\": {v}")),
        Gen.Select(
            Sometimes(0.15, JsonValue(StemChannelsValue.Select(s => s.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"stemChannels\": {v}")),
            Sometimes(0.3, JsonValue(StemStrideValue.Select(s => s.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"stemStride\": {v}")),
            Sometimes(0.3, JsonValue(Gen.Bool.Select(b => b ? "true" : "false")).Select(v => $"\"stemMaxPool\": {v}")),
            Sometimes(0.8, JsonValue(ClassesValue.Select(s => s.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"classes\": {v}")),
            Gen.Select(Sometimes(0.3, JsonValue(ShuffleOrderJson).Select(v => $"\"shuffleOrder\": {v}")), Sometimes(0.25, JsonValue(PrecisionJson).Select(v => $"\"precision\": {v}")),
                (order, precision) => order is null ? precision : precision is null ? order : order + ", " + precision),
            (a, b, c, d, e) => new[] { a, b, c, d, e }),
        Gen.Select(
            Sometimes(0.4, JsonValue(InputChannelsValue.Select(s => s.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"channels\": {v}")),
            Sometimes(0.95, JsonValue(SizeValue.Select(s => s.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"height\": {v}")),
            Sometimes(0.95, JsonValue(SizeValue.Select(s => s.ToString(CultureInfo.InvariantCulture))).Select(v => $"\"width\": {v}")),
            Sometimes(0.05, Gen.OneOfConst("\"depth\": 3", "\"Height\": 3")),
            (c, h, w, x) => "\"input\": { " + string.Join(", ", new[] { c, h, w, x }.Where(p => p is not null)) + " }"),
        Sometimes(0.05, Gen.OneOfConst("\"grops\": 3", "\"inputHeight\": 32", "\"$schema\": \"x\"", "\"$comment\": 1", "\"stages\": [1]", "\"name\": \"Dup\"")),
        (name, ns, groupsAndScale, stages, widths, stem, input, extra) =>
            new[] { name, ns }.Concat(groupsAndScale).Append(stages).Append(widths).Concat(stem).Append(input).Append(extra).Where(p => p is not null).Select(p => p!).ToArray());

    private static readonly string[] Noise = { ",", ":", "\"", "{", "}", "[", "]", "\\", "0", "-", ".", "e", " ", "\n", "\r\n", "\u2028", "//", "'", "\u0001", "😀", "\uD800" };

    private static readonly Gen<string> JsonText = Gen.Select(JsonProperties, Gen.Int[0, 16], Gen.Int[0, int.MaxValue], (properties, mode, seed) =>
    {
        var random = new Random(seed);
        string separator = random.Next(3) switch { 0 => ", ", 1 => ",\n  ", _ => ",\r\n\t" };
        string json = "{ " + string.Join(separator, properties.OrderBy(_ => random.Next())) + " }";
        return mode switch
        {
            <= 12 => json,
            13 => json.Substring(0, random.Next(json.Length + 1)),
            14 => json.Insert(random.Next(json.Length + 1), Noise[random.Next(Noise.Length)]),
            15 => json.Remove(random.Next(json.Length), 1),
            _ => random.Next(4) switch { 0 => "", 1 => "[]", 2 => "\uFEFF" + json, _ => new string('[', 200) },
        };
    });

    private static readonly Gen<Case> JsonCase = Gen.Select(
        Gen.Frequency((12, JsonText.Array[1, 1]), (2, JsonText.Array[2, 3]), (1, JsonReaderTests.NearJson.Array[1, 1])),
        Gen.Frequency((4, Gen.Const((string?)null)), (1, AttributeCase.Select(c => (string?)c.Sources[0]))),
        Gen.Bool,
        (texts, source, nullText) => new Case(
            source is null ? Array.Empty<string>() : new[] { source },
            texts.Select((t, i) => ($"models/m{i}.shufflenet.json", nullText && i == 1 ? null! : t)).ToArray()));

    // ---------------- names the generated code uses ----------------

    /// <summary>
    /// Guards <see cref="ModelNames"/> against the emitter: every member the generated class declares, every type or
    /// namespace it names without qualification, and every parameter or local of a member that names the class itself
    /// must be refused as a model name, or a user could pick it and get uncompilable code.
    /// </summary>
    [Theory]
    [InlineData("Groups = 3, Scale = 1.0")]
    [InlineData("Groups = 8, Scale = 0.5, Stages = new[] { 2, 2 }, InputChannels = 1, InputHeight = 28, InputWidth = 28, StemStride = 1, StemMaxPool = false, Classes = 10")]
    [InlineData("Groups = 1, Scale = 0.25, Stages = new[] { 1, 1, 1, 1 }, InputHeight = 7, InputWidth = 9, Classes = 2")]
    public void EveryNameTheGeneratedCodeNeedsIsReserved(string arguments)
    {
        const string self = "ZzModel";
        var (output, _, run) = GeneratorHarness.Run($"using ShuffleNetGen; namespace ZzSpace; [ShuffleNet({arguments})] public partial class {self};");
        var tree = output.SyntaxTrees.Single(t => t.FilePath.EndsWith(".g.cs", StringComparison.Ordinal));
        var model = output.GetSemanticModel(tree);
        var root = tree.GetRoot();
        var unreserved = new SortedSet<string>(StringComparer.Ordinal);

        var type = root.DescendantNodes().OfType<ClassDeclarationSyntax>().Single();
        foreach (var member in type.Members)
        {
            string? name = member switch
            {
                MethodDeclarationSyntax m when m.ExplicitInterfaceSpecifier is null => m.Identifier.ValueText,
                PropertyDeclarationSyntax p when p.ExplicitInterfaceSpecifier is null => p.Identifier.ValueText,
                _ => null,
            };
            if (name is not null && ModelNames.ClassNameProblem(name) is null) unreserved.Add("member " + name);
            if (member is FieldDeclarationSyntax f)
            {
                foreach (var v in f.Declaration.Variables.Where(v => ModelNames.ClassNameProblem(v.Identifier.ValueText) is null)) unreserved.Add("member " + v.Identifier.ValueText);
            }
        }

        foreach (var name in root.DescendantNodes().OfType<SimpleNameSyntax>())
        {
            bool qualified = name.Parent is MemberAccessExpressionSyntax ma && ma.Name == name
                || name.Parent is QualifiedNameSyntax qn && qn.Right == name
                || name.Parent is AliasQualifiedNameSyntax;
            bool declaration = name.Ancestors().Any(a => a is BaseNamespaceDeclarationSyntax ns && ns.Name.Span.Contains(name.Span) || a is UsingDirectiveSyntax);
            if (qualified || declaration || name.Identifier.ValueText == self) continue;
            var symbol = model.GetSymbolInfo(name).Symbol ?? model.GetAliasInfo(name);
            string text = name.Identifier.ValueText;
            // A type the generated class declares (a nested type, a method's type parameter) is found before any namespace,
            // so only a class of that name breaks it; anything else a class or a namespace segment of that name would hide.
            bool declaredInside = symbol is ITypeParameterSymbol || symbol is ITypeSymbol { ContainingType.Name: self };
            if (symbol is ITypeSymbol or INamespaceSymbol or IAliasSymbol
                && (ModelNames.ClassNameProblem(text) is null || !declaredInside && ModelNames.NamespaceProblem("Acme." + text) is null))
                unreserved.Add("simple name " + text);
        }

        // Where the class names itself, a parameter or local of that name would capture the reference.
        foreach (var member in type.Members.Where(m => m.DescendantTokens().Any(t => t.ValueText == self)))
        {
            var declared = member.DescendantNodes().OfType<ParameterSyntax>().Select(p => p.Identifier.ValueText)
                .Concat(member.DescendantNodes().OfType<VariableDeclaratorSyntax>().Where(v => v.Parent?.Parent is LocalDeclarationStatementSyntax).Select(v => v.Identifier.ValueText))
                .Concat(member.DescendantNodes().OfType<SingleVariableDesignationSyntax>().Select(v => v.Identifier.ValueText));
            foreach (var local in declared.Where(n => ModelNames.ClassNameProblem(n) is null)) unreserved.Add("local " + local);
        }

        Assert.True(unreserved.Count == 0, "Add these to ModelNames (generator/Model/ModelNames.cs): " + string.Join(", ", unreserved));
        Assert.Empty(JsonHarness.CompileErrors(output));
        Assert.Single(run.Results.Single().GeneratedSources);
    }

    /// <summary>Names close to what the generated code uses but accepted by the generator do compile, as class or namespace.</summary>
    [Fact]
    public void AcceptedNamesNearTheGeneratedOnesCompile()
    {
        string[] names = { "Tensor", "Weights", "Kernels", "ShuffleNetGen", "IShuffleNetModel", "TensorSet", "ModelDescription", "ArenaSlot", "TensorShape", "Model", "Net", "Conv", "Pointwise", "Depthwise", "Unit", "UnitX", "Intrinsic", "Memory", "Vector2", "_Net", "Modèle", "网络" };
        var sources = names.Select((n, i) => $"using ShuffleNetGen; namespace N{i}.{n}; [ShuffleNet(Scale = 0.25, Stages = new[] {{ 1 }}, InputHeight = 8, InputWidth = 8, Classes = 2)] public partial class {n};").ToArray();
        var (output, diagnostics, run) = GeneratorHarness.Run(sources);
        Assert.Empty(diagnostics);
        Assert.Equal(names.Length, run.Results.Single().GeneratedSources.Length);
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    [Fact]
    public void ClassesDifferingOnlyInCaseGetDistinctFiles()
    {
        const string source = """
            using ShuffleNetGen;
            namespace Acme;
            [ShuffleNet(Scale = 0.25, Stages = new[] { 1 }, InputHeight = 8, InputWidth = 8, Classes = 2)] public partial class Net;
            [ShuffleNet(Scale = 0.25, Stages = new[] { 1 }, InputHeight = 8, InputWidth = 8, Classes = 3)] public partial class NET;
            """;
        var (output, diagnostics, run) = JsonHarness.Run(new[] { ("net.shufflenet.json", """{ "name": "nEt", "namespace": "Acme", "scale": 0.25, "stages": [1], "input": { "height": 8, "width": 8 } }""") }, source);
        Assert.Empty(diagnostics);
        Assert.Equal(new[] { "Acme.NET.ShuffleNet.g.cs", "Acme.Net.ShuffleNet.2.g.cs", "Acme.nEt.ShuffleNet.3.g.cs" },
            run.Results.Single().GeneratedSources.Select(s => s.HintName).Order(StringComparer.Ordinal));
        Assert.Empty(JsonHarness.CompileErrors(output));
    }
}
