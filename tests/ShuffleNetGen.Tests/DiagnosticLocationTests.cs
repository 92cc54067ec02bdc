using Microsoft.CodeAnalysis;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// One case per diagnostic and declaration form: the id, the severity, the exact text the diagnostic underlines (the
/// place to fix) and the message (what to change). <see cref="DiagnosticCatalogTests"/> runs these cases' declarations
/// (through <see cref="OneMistakeOneErrorTests.Cases"/>) and checks that together they produce every id of the catalog.
/// </summary>
public class DiagnosticLocationTests
{
    /// <summary>A finding that still lets the model be generated is a warning; one that stops it is an error.</summary>
    private static DiagnosticSeverity SeverityFor(bool modelGenerated) => modelGenerated ? DiagnosticSeverity.Warning : DiagnosticSeverity.Error;

    private static Diagnostic SingleFromAttribute(string source, string id, bool expectModel = false)
    {
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(SeverityFor(expectModel), d.Severity);
        Assert.Equal(expectModel ? 1 : 0, GeneratorHarness.Models(run).Count());
        Assert.Null(run.Results.Single().Exception);
        return d;
    }

    private static void AssertAttribute(string source, string id, string located, string message, bool expectModel = false)
    {
        var d = SingleFromAttribute(source, id, expectModel);
        Assert.Equal(located, GeneratorHarness.Located(d, source));
        Assert.Equal(message, d.GetMessage());
    }

    private static Diagnostic SingleFromJson(string json, string id, string path = "models/Net.shufflenet.json", bool expectModel = false)
    {
        var (_, diagnostics, run) = JsonHarness.RunJson(path, json);
        var d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(SeverityFor(expectModel), d.Severity);
        Assert.Equal(expectModel ? 1 : 0, GeneratorHarness.Models(run).Count());
        Assert.Equal(path, d.Location.GetLineSpan().Path);
        return d;
    }

    /// <param name="position">1-based "line:column" of the underlined text, as the IDE shows it.</param>
    private static void AssertJson(string json, string id, string located, string position, string message, bool expectModel = false)
    {
        var d = SingleFromJson(json, id, expectModel: expectModel);
        Assert.Equal(located, GeneratorHarness.Located(d, json));
        var start = d.Location.GetLineSpan().StartLinePosition;
        Assert.Equal(position, $"{start.Line + 1}:{start.Character + 1}");
        Assert.Equal(message, d.GetMessage());
        Assert.Equal(Location.Create("x", d.Location.SourceSpan, d.Location.GetLineSpan().Span).GetLineSpan().Span,
            new Microsoft.CodeAnalysis.Text.LinePositionSpan(
                Microsoft.CodeAnalysis.Text.SourceText.From(json).Lines.GetLinePosition(d.Location.SourceSpan.Start),
                Microsoft.CodeAnalysis.Text.SourceText.From(json).Lines.GetLinePosition(d.Location.SourceSpan.End)));
    }

    private const string Using = "using ShuffleNetGen; ";

    // ---- SNG0001 / SNG0002: the class ----

    [Fact]
    public void SNG0001_ClassNotPartial() => AssertAttribute(
        Using + "[ShuffleNet] public class Net { }", "SNG0001", "Net",
        "Class 'Net' has [ShuffleNet] but is not partial; declare it 'partial class Net' so the generated forward pass can be added to it");

    [Theory]
    [InlineData("[ShuffleNet] public partial class Net<T>;", "it is generic; a model has one fixed shape, so remove the type parameters")]
    [InlineData("public partial class Outer { [ShuffleNet] public partial class Net; }", "it is nested in another type; declare it directly in a namespace")]
    [InlineData("[ShuffleNet] public static partial class Net;", "it is static; a model is an instance that owns its activation memory")]
    [InlineData("[ShuffleNet] public abstract partial class Net;", "it is abstract; the generated factories construct it")]
    [InlineData("[ShuffleNet] public partial record Net;", "it is a record; the generated part is a class, so declare it 'partial class'")]
    [InlineData("[ShuffleNet] file partial class Net;", "it is file-local; the generated part lives in another file, so remove the 'file' modifier")]
    public void SNG0002_ClassShapeTheEmitterCannotServe(string declaration, string reason) => AssertAttribute(
        Using + declaration, "SNG0002", "Net", "Class 'Net' cannot hold a generated model: " + reason);

    // ---- SNG0003 … SNG0014: settings, attribute form (the Name = value argument) ----

    [Theory]
    [InlineData("Groups = 5", "SNG0003", "Groups = 5 is not supported; ShuffleNet v1 uses 1, 2, 3, 4 or 8 groups")]
    [InlineData("Scale = 0.0", "SNG0004", "Scale = 0 is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)")]
    [InlineData("Scale = -1.5", "SNG0004", "Scale = -1.5 is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)")]
    [InlineData("Scale = 1e9", "SNG0004", "Scale = 1000000000 is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)")]
    [InlineData("Stages = new int[0]", "SNG0005", "Stages has 0 entries; give 1 to 4 stages (the paper uses new[] { 4, 8, 4 })")]
    [InlineData("Stages = new[] { 1, 1, 1, 1, 1 }", "SNG0005", "Stages has 5 entries; give 1 to 4 stages (the paper uses new[] { 4, 8, 4 })")]
    [InlineData("Stages = new[] { 4, 0, 4 }", "SNG0006", "Stage 3 has 0 units in Stages; give every stage 1 to 32 units (its first unit has stride 2)")]
    [InlineData("Stages = new[] { 4, 800, 4 }", "SNG0006", "Stage 3 has 800 units in Stages; give every stage 1 to 32 units (its first unit has stride 2)")]
    [InlineData("StageChannels = new[] { 240, 480 }", "SNG0008", "StageChannels has 2 entries but Stages has 3; give one output width per stage")]
    [InlineData("InputHeight = 0", "SNG0009", "InputHeight = 0 is out of range; use 1 to 4096")]
    [InlineData("InputWidth = 5000", "SNG0009", "InputWidth = 5000 is out of range; use 1 to 4096")]
    [InlineData("Classes = 0", "SNG0010", "Classes = 0 is out of range; a model needs 1 to 1048576 output classes")]
    [InlineData("StemStride = 3", "SNG0012", "StemStride = 3 is not supported; use 2 (paper) or 1 (small images)")]
    [InlineData("InputChannels = 0", "SNG0013", "InputChannels = 0 is out of range; use 1 to 65536")]
    [InlineData("StemChannels = -3", "SNG0013", "StemChannels = -3 is out of range; use 0 to 65536")]
    [InlineData("ShuffleOrder = (ShuffleOrder)2", "SNG0024", "ShuffleOrder = (ShuffleOrder)2 is not a shuffle order; use ShuffleOrder.Paper (the paper's, the default) or ShuffleOrder.Official (megvii's official code)")]
    [InlineData("Precision = (Precision)4", "SNG0025", "Precision = (Precision)4 is not a precision; use Precision.Float32 (the default) or Precision.Int8")]
    public void SettingErrorsPointAtTheirArgument(string argument, string id, string message) => AssertAttribute(
        Using + $"[ShuffleNet({argument})] public partial class Net;", id, argument, message);

    [Theory]
    [InlineData("Scale = 0", "SNG0004", "Scale = 0 is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)")]
    [InlineData("Stages = new[] { 4, 8, 4, 4, 4 }", "SNG0005", "Stages has 5 entries; give 1 to 4 stages (the paper uses new[] { 4, 8, 4 })")]
    [InlineData("StageChannels = new[] { 116, 233, 464 }", "SNG0007", "stage 3 width 233 is odd; every ShuffleNet v2 unit splits its channels into two equal halves, so use an even width")]
    [InlineData("FinalChannels = -1", "SNG0013", "FinalChannels = -1 is out of range; use 0 to 65536")]
    [InlineData("InputChannels = 0", "SNG0013", "InputChannels = 0 is out of range; use 1 to 65536")]
    public void V2SettingErrorsPointAtTheirArgument(string argument, string id, string message) => AssertAttribute(
        Using + $"[ShuffleNetV2({argument})] public partial class Net;", id, argument, message);

    [Theory]
    [InlineData("Groups = 2, StageChannels = new[] { 300, 600, 1200 }", "StageChannels = new[] { 300, 600, 1200 }",
        "stage 2 width 300 with 2 groups gives a bottleneck of 75 channels, which 2 groups cannot split; use a width divisible by 8")]
    [InlineData("Groups = 3, StemChannels = 24, StageChannels = new[] { 30, 72 }, Stages = new[] { 1, 1 }", "StageChannels = new[] { 30, 72 }",
        "stage 2 width 30 is not a multiple of 4, so the bottleneck (width / 4) is not whole; use a width divisible by 12")]
    [InlineData("Groups = 3, StemChannels = 24, StageChannels = new[] { 24, 48 }, Stages = new[] { 1, 1 }", "StageChannels = new[] { 24, 48 }",
        "stage 2 width 24 is not larger than its input width 24; the stride-2 unit concatenates its input with a branch of width - input channels, so the width must grow")]
    [InlineData("Groups = 3, StemChannels = 25, StageChannels = new[] { 48, 96 }, Stages = new[] { 1, 1 }", "StemChannels = 25",
        "stem width 25 with 3 groups leaves the first unit's branch (48 - 25 channels) indivisible by 3; use a stem width divisible by 3")]
    public void SNG0007_IndivisibleWidthSaysWhichStageAndWhatMultiple(string arguments, string located, string message) => AssertAttribute(
        Using + $"[ShuffleNet({arguments})] public partial class Net;", "SNG0007", located, message);

    [Fact]
    public void SNG0011_ModelTooLargePointsAtTheAttribute()
    {
        const string attribute = "ShuffleNet(InputHeight = 4096, InputWidth = 4096, StemStride = 1, StemMaxPool = false, StemChannels = 240, Scale = 4)";
        AssertAttribute(Using + $"[{attribute}] public partial class Net;", "SNG0011", attribute,
            "The activation arena would need 12079595520 floats, more than an int-indexed array holds; reduce the input size or the widths");
    }

    [Fact]
    public void SNG0014_InputTooSmallIsAWarningAndTheModelIsStillGenerated()
    {
        AssertAttribute(Using + "[ShuffleNet(Scale = 0.25, InputHeight = 8, InputWidth = 32, Classes = 10)] public partial class Net;", "SNG0014", "InputHeight = 8",
            "InputHeight = 8 is too small: the height is already 1 pixel when stage 3's first unit halves it again; use at least 17 pixels, or fewer stride-2 steps (StemStride = 1, StemMaxPool = false or a shorter Stages)",
            expectModel: true);
    }

    // ---- SNG0015: one class declared twice ----

    [Fact]
    public void SNG0015_JsonAndAttributeDeclaringOneClassAreBothReported()
    {
        const string source = "using ShuffleNetGen; namespace Acme; [ShuffleNet(Scale = 0.25, InputHeight = 32, InputWidth = 32)] public partial class Net;";
        const string json = """{ "name": "Net", "namespace": "Acme", "scale": 0.25, "input": { "height": 32, "width": 32 } }""";
        var (_, diagnostics, run) = JsonHarness.Run(new[] { ("models/Net.shufflenet.json", json) }, source);
        Assert.Equal("Acme.Net.ShuffleNet.Failed.g.cs", Assert.Single(run.Results.Single().GeneratedSources).HintName);
        Assert.Equal(2, diagnostics.Length);
        Assert.All(diagnostics, d => Assert.Equal("SNG0015", d.Id));
        var inSource = diagnostics.Single(d => d.Location.GetLineSpan().Path == "Model0.cs");
        var inJson = diagnostics.Single(d => d.Location.GetLineSpan().Path == "models/Net.shufflenet.json");
        Assert.Equal("Net", GeneratorHarness.Located(inSource, source));
        Assert.Equal("\"Net\"", GeneratorHarness.Located(inJson, json));
        Assert.Equal("Model 'Acme.Net' is declared more than once (also at Net.shufflenet.json(1,11)); give each declaration its own class name or namespace", inSource.GetMessage());
        Assert.Equal("Model 'Acme.Net' is declared more than once (also at Model0.cs(1,121)); give each declaration its own class name or namespace", inJson.GetMessage());
    }

    [Fact]
    public void SNG0015_TwoJsonFilesWithOneNameGenerateNoModelForIt()
    {
        const string json = """{ "name": "Net", "scale": 0.25, "input": { "height": 32, "width": 32 } }""";
        const string other = """{ "name": "Other", "scale": 0.25, "input": { "height": 32, "width": 32 } }""";
        var (output, diagnostics, run) = JsonHarness.Run(new[] { ("a/Net.shufflenet.json", json), ("b/Net.shufflenet.json", json), ("Other.shufflenet.json", other) });
        Assert.Equal(new[] { "SNG0015", "SNG0015" }, diagnostics.Select(d => d.Id));
        Assert.Equal(new[] { "a/Net.shufflenet.json", "b/Net.shufflenet.json" }, diagnostics.Select(d => d.Location.GetLineSpan().Path).Order());
        Assert.Equal(new[] { "Net.ShuffleNet.Failed.g.cs", "Other.ShuffleNet.g.cs" }, run.Results.Single().GeneratedSources.Select(s => s.HintName).Order(StringComparer.Ordinal));
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    // ---- SNG0016 … SNG0021: the JSON form (file, line and column of the value) ----

    [Theory]
    [InlineData("{\n  \"name\": \"Net\",\n  \"groups\": 3,\n}", "}", "4:1", "expected a property name after ','; remove the trailing comma")]
    [InlineData("{\n  \"name\": \"Net\"\n  \"groups\": 3\n}", "\"", "3:3", "expected ',' between properties")]
    [InlineData("{ \"name\": \"Net\", // a comment\n}", "//", "1:18", "comments are not allowed in JSON")]
    [InlineData("{ 'name': \"Net\" }", "'", "1:3", "property names take double quotes (\"), not single quotes")]
    [InlineData("{ name: \"Net\" }", "n", "1:3", "property names must be quoted, e.g. \"groups\"")]
    [InlineData("{ \"name\" \"Net\" }", "\"", "1:10", "expected ':' after property name \"name\", found '\"'")]
    [InlineData("{ \"name\": \"Net }", "\"", "1:11", "the string is not closed; add the closing '\"'")]
    [InlineData("{ \"name\": \"Net\", \"groups\": 03 }", "03", "1:28", "numbers cannot have leading zeros")]
    [InlineData("{ \"name\": \"Net\", \"stemMaxPool\": True }", "True", "1:33", "'True' must be written 'true' (JSON literals are lower case)")]
    [InlineData("{ \"name\": \"N\\et\" }", "\\e", "1:13", "'\\e' is not a JSON escape; use \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX")]
    [InlineData("{ \"name\": \"Net\",\n  \"stages\": [4, 8, 4", "", "2:21", "the text ends inside the array that starts at line 2; expected ',' or ']'")]
    [InlineData("", "", "1:1", "the file is empty; write a JSON object such as { \"name\": \"MyNet\" }")]
    [InlineData("{ \"name\": \"Net\" } { }", "{", "1:19", "unexpected '{' after the end of the top-level value; a file holds one JSON value")]
    public void SNG0016_MalformedJsonGivesLineAndColumn(string json, string located, string position, string message) =>
        AssertJson(json, "SNG0016", located, position, "The model declaration is not valid JSON: " + message);

    [Fact]
    public void SNG0016_DeepNestingIsAnErrorNotAStackOverflow()
    {
        string json = "{ \"name\": \"Net\", \"x\": " + new string('[', 100_000) + new string(']', 100_000) + " }";
        var d = SingleFromJson(json, "SNG0016");
        Assert.Equal("The model declaration is not valid JSON: values are nested more than 64 deep", d.GetMessage());
    }

    [Theory]
    [InlineData("{ \"name\": \"Net\", \"grops\": 3 }", "\"grops\"", "1:18", "Unknown property \"grops\" in the model declaration; did you mean \"groups\"?")]
    [InlineData("{ \"name\": \"Net\", \"StemStride\": 1 }", "\"StemStride\"", "1:18", "Unknown property \"StemStride\" in the model declaration; did you mean \"stemStride\"?")]
    [InlineData("{ \"name\": \"Net\", \"stage_channels\": [] }", "\"stage_channels\"", "1:18", "Unknown property \"stage_channels\" in the model declaration; did you mean \"stageChannels\"?")]
    [InlineData("{ \"name\": \"Net\", \"inputHeight\": 32 }", "\"inputHeight\"", "1:18", "Unknown property \"inputHeight\" in the model declaration; write it inside \"input\": { \"height\": ... }")]
    [InlineData("{ \"name\": \"Net\", \"input\": { \"hieght\": 32 } }", "\"hieght\"", "1:29", "Unknown property \"hieght\" in \"input\"; did you mean \"height\"?")]
    [InlineData("{ \"name\": \"Net\", \"dropout\": 0.1 }", "\"dropout\"", "1:18", "Unknown property \"dropout\" in the model declaration; the known properties are \"$schema\", \"name\", \"namespace\", \"version\", \"groups\", \"scale\", \"stages\", \"stageChannels\", \"stemChannels\", \"stemStride\", \"stemMaxPool\", \"finalChannels\", \"input\", \"classes\", \"shuffleOrder\", \"precision\"")]
    public void SNG0017_UnknownPropertySuggestsTheNearest(string json, string located, string position, string message) =>
        AssertJson(json, "SNG0017", located, position, message);

    [Theory]
    [InlineData("{ \"name\": \"Net\", \"groups\": \"3\" }", "\"3\"", "1:28", "\"groups\" must be an integer, not a string")]
    [InlineData("{ \"name\": \"Net\", \"groups\": 2.5 }", "2.5", "1:28", "\"groups\" must be an integer, not 2.5")]
    [InlineData("{ \"name\": \"Net\", \"classes\": 1e12 }", "1e12", "1:29", "\"classes\" must be an integer from -2147483648 to 2147483647, not 1e12")]
    [InlineData("{ \"name\": \"Net\", \"scale\": null }", "null", "1:27", "\"scale\" must be a number, not null")]
    [InlineData("{ \"name\": \"Net\", \"stemMaxPool\": 0 }", "0", "1:33", "\"stemMaxPool\" must be true or false, not a number")]
    [InlineData("{ \"name\": \"Net\", \"stages\": 4 }", "4", "1:28", "\"stages\" must be an array of integers such as [4, 8, 4], not a number")]
    [InlineData("{ \"name\": \"Net\", \"stages\": [4, \"8\", 4] }", "\"8\"", "1:32", "Entry 2 of \"stages\" must be an integer, not a string")]
    [InlineData("{ \"name\": \"Net\", \"input\": [3, 32, 32] }", "[3, 32, 32]", "1:27", "\"input\" must be an object such as { \"channels\": 3, \"height\": 224, \"width\": 224 }, not an array")]
    [InlineData("{ \"name\": \"Net\", \"input\": { \"width\": true } }", "true", "1:38", "\"input.width\" must be an integer, not a boolean")]
    [InlineData("{ \"name\": 42 }", "42", "1:11", "\"name\" must be a string, not a number")]
    [InlineData("{ \"name\": \"Net\", \"shuffleOrder\": 1 }", "1", "1:34", "\"shuffleOrder\" must be a string, not a number")]
    [InlineData("[ { \"name\": \"Net\" } ]", "[ { \"name\": \"Net\" } ]", "1:1", "A model declaration must be a JSON object such as { \"name\": \"MyNet\" }, not an array")]
    public void SNG0018_WrongTypeNamesTheExpectedType(string json, string located, string position, string message) =>
        AssertJson(json, "SNG0018", located, position, message);

    [Fact]
    public void SNG0019_MissingNameSuggestsOneFromTheFileName()
    {
        var d = SingleFromJson("\n  { \"groups\": 3 }", "SNG0019", path: "models/TinyNet.shufflenet.json");
        Assert.Equal(new Microsoft.CodeAnalysis.Text.TextSpan(3, 1), d.Location.SourceSpan);
        Assert.Equal(new Microsoft.CodeAnalysis.Text.LinePosition(1, 2), d.Location.GetLineSpan().StartLinePosition);
        Assert.Equal("The model declaration has no \"name\"; add \"name\": \"TinyNet\" to name the generated class", d.GetMessage());
    }

    [Theory]
    [InlineData("class", "it is a C# keyword; choose another name")]
    [InlineData("record", "it is a contextual keyword of C#, which the generated code could not use as a type name; choose another name")]
    [InlineData("3DNet", "it is not a C# identifier; use letters, digits and '_', not starting with a digit")]
    [InlineData("Tiny-Net", "it is not a C# identifier; use letters, digits and '_', not starting with a digit")]
    [InlineData("Ne\u200Bt", "it contains the invisible formatting character U+200B; remove it")]
    [InlineData("Forward", "the generated class declares a member of that name, and a member cannot share its class's name; choose another name")]
    [InlineData("Planes_58_1f30d40d", "the generated class declares a member of that name, and a member cannot share its class's name; choose another name")]
    [InlineData("Vector128", "the generated code refers to 'Vector128' by its simple name, which a class of that name would hide; choose another name")]
    [InlineData("ShuffleNetGen", "a class 'ShuffleNetGen' in the global namespace hides the ShuffleNetGen namespace, which the attribute and every generated file refer to (even global::ShuffleNetGen then names the class); put the class in a namespace or choose another name")]
    public void SNG0020_InvalidJsonClassName(string name, string reason) =>
        AssertJson($$"""{ "name": "{{name}}" }""", "SNG0020", $"\"{name}\"", "1:11", $"'{name}' cannot be the model's class name: {reason}");

    [Theory]
    [InlineData("", "it is empty; omit it for the global namespace, or give a dotted name such as Acme.Vision")]
    [InlineData("Acme..Vision", "it has an empty segment; write segments separated by single dots, such as Acme.Vision")]
    [InlineData("Acme.namespace", "segment 'namespace': it is a C# keyword; choose another name")]
    [InlineData("Acme.Unsafe", "segment 'Unsafe': the generated code refers to 'Unsafe' by its simple name, which a namespace of that name would hide; choose another name")]
    public void SNG0020_InvalidJsonNamespace(string ns, string reason) =>
        AssertJson($$"""{ "name": "Net", "namespace": "{{ns}}" }""", "SNG0020", $"\"{ns}\"", "1:31", $"'{ns}' cannot be the model's namespace: {reason}");

    [Fact]
    public void SNG0020_AttributeClassNamedLikeAGeneratedMember() => AssertAttribute(
        Using + "[ShuffleNet] public partial class Forward;", "SNG0020", "Forward",
        "'Forward' cannot be the model's class name: the generated class declares a member of that name, and a member cannot share its class's name; choose another name");

    [Fact]
    public void SNG0020_AttributeClassInANamespaceThatHidesAGeneratedName() => AssertAttribute(
        Using + "namespace Acme.Span; [ShuffleNet] public partial class Net;", "SNG0020", "Acme.Span",
        "'Acme.Span' cannot be the model's namespace: segment 'Span': the generated code refers to 'Span' by its simple name, which a namespace of that name would hide; choose another name");

    // ---- SNG0020 / SNG0005 / SNG0023: the limits on a declaration's size (docs/reliability.md) ----

    // Shared with OneMistakeOneErrorTests, which declares the same models: one copy cannot drift from the other.
    internal static readonly string JsonNamespaceOf33Segments = string.Join(".", Enumerable.Repeat("a", 33));
    internal static readonly string JsonClassNameOf190Bytes = new('N', 190);
    internal static readonly string AttributeNamespaceOf40Segments = string.Join(".", Enumerable.Range(0, 40).Select(i => "N" + i));
    internal static readonly string AttributeClassNameOf203Bytes = "Net" + new string('x', 200);
    internal static readonly string HundredStages = "[" + string.Join(", ", Enumerable.Repeat("4", 100)) + "]";
    internal static readonly string ThirtyUnknownPropertiesJson = "{ \"name\": \"Net\", " + string.Join(", ", Enumerable.Range(0, 30).Select(i => $"\"zz{i}\": 1")) + " }";

    [Fact]
    public void SNG0020_JsonNamespaceWithTooManySegments()
    {
        string ns = JsonNamespaceOf33Segments;
        AssertJson($$"""{ "name": "Net", "namespace": "{{ns}}" }""", "SNG0020", $"\"{ns}\"", "1:31",
            $"'{ns[..64]}…' cannot be the model's namespace: it has 33 segments; a namespace may have at most 32");
    }

    [Fact]
    public void SNG0020_JsonFullNameTooLongPointsAtTheLongerPart()
    {
        string name = JsonClassNameOf190Bytes;
        AssertJson($$"""{ "name": "{{name}}", "namespace": "Acme.Vision" }""", "SNG0020", $"\"{name}\"", "1:11",
            $"'{name[..64]}…' cannot be the model's class name: the full name (namespace.class) is 202 bytes of UTF-8; it may be at most 200, because it names the generated file");
    }

    [Fact]
    public void SNG0020_AttributeNamespaceWithTooManySegments()
    {
        string ns = AttributeNamespaceOf40Segments;
        AssertAttribute(Using + $"namespace {ns}; [ShuffleNet] public partial class Net;", "SNG0020", ns,
            $"'{ns[..64]}…' cannot be the model's namespace: it has 40 segments; a namespace may have at most 32");
    }

    [Fact]
    public void SNG0020_AttributeClassNameTooLong()
    {
        string name = AttributeClassNameOf203Bytes;
        AssertAttribute(Using + $"[ShuffleNet] public partial class {name};", "SNG0020", name,
            $"'{name[..64]}…' cannot be the model's class name: the full name is 203 bytes of UTF-8; it may be at most 200, because it names the generated file");
    }

    [Fact]
    public void SNG0005_JsonArrayPastTheReaderLimitIsCountedNotRead()
    {
        string stages = HundredStages;
        AssertJson("{ \"name\": \"Net\", \"stages\": " + stages + " }", "SNG0005", stages, "1:28",
            "stages has 100 entries; give 1 to 4 stages (the paper uses [4, 8, 4])");
    }

    [Fact]
    public void SNG0023_FindingsPastTheCapAreCountedAtTheTopLevelBrace()
    {
        string json = ThirtyUnknownPropertiesJson;
        var (_, diagnostics, run) = JsonHarness.RunJson("models/Net.shufflenet.json", json);
        Assert.Empty(GeneratorHarness.Models(run));
        Assert.Equal(21, diagnostics.Length);
        Assert.All(diagnostics.Take(20), d => Assert.Equal("SNG0017", d.Id));
        var last = diagnostics.Last();
        Assert.Equal("SNG0023", last.Id);
        Assert.Equal("{", GeneratorHarness.Located(last, json));
        Assert.Equal("10 more problems in this file are not listed; only the first 20 are. Fix those and build again.", last.GetMessage());
    }

    [Fact]
    public void SNG0021_DuplicatePropertyPointsAtTheSecond() => AssertJson(
        "{ \"name\": \"Net\", \"groups\": 3, \"groups\": 4 }", "SNG0021", "\"groups\"", "1:31",
        "Property \"groups\" is given more than once; keep one");

    // ---- settings in JSON: same rules, reported at the value (or the list entry) ----

    [Theory]
    [InlineData("\"groups\": 5", "5", "1:28", "SNG0003", "\"groups\": 5 is not supported; ShuffleNet v1 uses 1, 2, 3, 4 or 8 groups")]
    [InlineData("\"scale\": 0", "0", "1:27", "SNG0004", "\"scale\": 0 is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)")]
    [InlineData("\"stages\": []", "[]", "1:28", "SNG0005", "stages has 0 entries; give 1 to 4 stages (the paper uses [4, 8, 4])")]
    [InlineData("\"stages\": [4, 8, 0]", "0", "1:35", "SNG0006", "Stage 4 has 0 units in stages; give every stage 1 to 32 units (its first unit has stride 2)")]
    [InlineData("\"groups\": 2, \"stageChannels\": [200, 300, 800]", "300", "1:54", "SNG0007", "stage 3 width 300 with 2 groups gives a bottleneck of 75 channels, which 2 groups cannot split; use a width divisible by 8")]
    [InlineData("\"stageChannels\": [240, 480]", "[240, 480]", "1:35", "SNG0008", "stageChannels has 2 entries but stages has 3; give one output width per stage")]
    [InlineData("\"input\": { \"height\": 0 }", "0", "1:39", "SNG0009", "\"input\": { \"height\": 0 } is out of range; use 1 to 4096")]
    [InlineData("\"classes\": -1", "-1", "1:29", "SNG0010", "\"classes\": -1 is out of range; a model needs 1 to 1048576 output classes")]
    [InlineData("\"stemStride\": 4", "4", "1:32", "SNG0012", "\"stemStride\": 4 is not supported; use 2 (paper) or 1 (small images)")]
    [InlineData("\"stageChannels\": [240, 0, 960]", "0", "1:41", "SNG0013", "stageChannels entry 0 (stage 3) is out of range; use 1 to 65536")]
    [InlineData("\"shuffleOrder\": \"megvii\"", "\"megvii\"", "1:34", "SNG0024", "\"shuffleOrder\": \"megvii\" is not a shuffle order; use \"paper\" (the default) or \"official\" (megvii's official code)")]
    [InlineData("\"shuffleOrder\": \"Official\"", "\"Official\"", "1:34", "SNG0024", "\"shuffleOrder\": \"Official\" is not a shuffle order; use \"paper\" (the default) or \"official\" (megvii's official code)")]
    [InlineData("\"precision\": \"int4\"", "\"int4\"", "1:31", "SNG0025", "\"precision\": \"int4\" is not a precision; use \"float32\" (the default) or \"int8\"")]
    [InlineData("\"version\": 2, \"groups\": 3", "3", "1:42", "SNG0026", "\"groups\" is a ShuffleNet v1 setting; this declaration is ShuffleNet v2, which has no group convolutions")]
    [InlineData("\"version\": 2, \"stemMaxPool\": false", "false", "1:47", "SNG0026", "\"stemMaxPool\" is a ShuffleNet v1 setting; this declaration is ShuffleNet v2, which has torchvision's fixed stem (a stride-2 convolution and a max pool)")]
    [InlineData("\"finalChannels\": 1024", "1024", "1:35", "SNG0026", "\"finalChannels\" is a ShuffleNet v2 setting; this declaration is ShuffleNet v1, which has no conv5; remove it or declare \"version\": 2")]
    [InlineData("\"version\": 3", "3", "1:29", "SNG0027", "\"version\": 3 is not a ShuffleNet version; use 1 (ShuffleNet v1, the default) or 2 (ShuffleNet v2)")]
    [InlineData("\"version\": 2, \"stageChannels\": [116, 233, 464]", "233", "1:55", "SNG0007", "stage 3 width 233 is odd; every ShuffleNet v2 unit splits its channels into two equal halves, so use an even width")]
    [InlineData("\"version\": 2, \"finalChannels\": -1", "-1", "1:49", "SNG0013", "\"finalChannels\": -1 is out of range; use 0 to 65536")]
    public void JsonSettingErrorsPointAtTheValue(string settings, string located, string position, string id, string message) =>
        AssertJson("{ \"name\": \"Net\", " + settings + " }", id, located, position, message);

    [Fact]
    public void JsonModelTooLargePointsAtTheInput()
    {
        const string json = """{ "name": "Net", "scale": 4, "stemChannels": 240, "stemStride": 1, "stemMaxPool": false, "input": { "height": 4096, "width": 4096 } }""";
        AssertJson(json, "SNG0011", "{ \"height\": 4096, \"width\": 4096 }", "1:99",
            "The activation arena would need 12079595520 floats, more than an int-indexed array holds; reduce the input size or the widths");
    }

    [Fact]
    public void JsonInputTooSmallPointsAtTheDimension() => AssertJson(
        """{ "name": "Net", "scale": 0.25, "input": { "height": 32, "width": 4 } }""", "SNG0014", "4", "1:67",
        "\"input\": { \"width\": 4 } is too small: the width is already 1 pixel when stage 2's first unit halves it again; use at least 17 pixels, or fewer stride-2 steps (\"stemStride\": 1, \"stemMaxPool\": false or a shorter stages)",
        expectModel: true);

    [Fact]
    public void JsonReportsEveryIndependentProblemAtOnce()
    {
        const string json = """
            {
              "name": "class",
              "grups": 3,
              "scale": "big",
              "classes": 0
            }
            """;
        var (_, diagnostics, run) = JsonHarness.RunJson("Net.shufflenet.json", json);
        Assert.Empty(run.Results.Single().GeneratedSources);
        Assert.Equal(new[] { "SNG0017@3:3", "SNG0018@4:12", "SNG0020@2:11", "SNG0010@5:14" },
            diagnostics.Select(d => $"{d.Id}@{d.Location.GetLineSpan().StartLinePosition.Line + 1}:{d.Location.GetLineSpan().StartLinePosition.Character + 1}"));
    }
}
