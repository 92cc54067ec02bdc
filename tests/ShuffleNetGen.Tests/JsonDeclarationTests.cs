using Microsoft.CodeAnalysis;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>A <c>*.shufflenet.json</c> additional file declares a model exactly as the attribute does.</summary>
public class JsonDeclarationTests
{
    private const string TinyNetJson = """
        {
          "$schema": "../shufflenet.schema.json",
          "name": "TinyNet",
          "namespace": "Acme.Vision",
          "groups": 3,
          "scale": 0.5,
          "stages": [4, 8, 4],
          "input": { "channels": 1, "height": 32, "width": 32 },
          "classes": 10
        }
        """;

    private const string TinyNetAttribute = """
        using ShuffleNetGen;
        namespace Acme.Vision;
        [ShuffleNet(Groups = 3, Scale = 0.5, Stages = new[] { 4, 8, 4 }, InputChannels = 1, InputHeight = 32, InputWidth = 32, Classes = 10)]
        public partial class TinyNet;
        """;

    private static string GenerateFromJson(string json, string path = "models/TinyNet.shufflenet.json")
    {
        var (_, diagnostics, run) = JsonHarness.RunJson(path, json);
        Assert.Empty(diagnostics);
        return Assert.Single(run.Results.Single().GeneratedSources).SourceText.ToString();
    }

    private static string GenerateFromAttribute(string source)
    {
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        return Assert.Single(run.Results.Single().GeneratedSources).SourceText.ToString();
    }

    [Fact]
    public void JsonDeclaresAPublicPartialClassInItsNamespace()
    {
        var (output, diagnostics, run) = JsonHarness.RunJson("models/TinyNet.shufflenet.json", TinyNetJson);
        Assert.Empty(diagnostics);
        var generated = Assert.Single(run.Results.Single().GeneratedSources);
        Assert.Equal("Acme.Vision.TinyNet.ShuffleNet.g.cs", generated.HintName);
        string text = generated.SourceText.ToString();
        Assert.Contains("namespace Acme.Vision;", text);
        Assert.Contains("public partial class TinyNet : global::ShuffleNetGen.IShuffleNetModel<TinyNet>", text);
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    [Fact]
    public void AttributeAndJsonDeclaringOneModelEmitTheSameSource()
    {
        string fromJson = GenerateFromJson(TinyNetJson);
        string fromAttribute = GenerateFromAttribute(TinyNetAttribute);
        Assert.Equal(fromAttribute, fromJson);
        Snapshot.Verify("JsonTinyNet", fromJson);
    }

    [Fact]
    public void EverySettingMapsToItsAttributeCounterpart()
    {
        const string json = """
            {
              "name": "Custom", "namespace": "Acme",
              "groups": 8, "stages": [2, 2], "stageChannels": [64, 128], "stemChannels": 16,
              "stemStride": 1, "stemMaxPool": false,
              "input": { "channels": 1, "height": 48, "width": 40 }, "classes": 7, "shuffleOrder": "official"
            }
            """;
        const string attribute = """
            using ShuffleNetGen;
            namespace Acme;
            [ShuffleNet(Groups = 8, Stages = new[] { 2, 2 }, StageChannels = new[] { 64, 128 }, StemChannels = 16, StemStride = 1, StemMaxPool = false, InputChannels = 1, InputHeight = 48, InputWidth = 40, Classes = 7, ShuffleOrder = ShuffleOrder.Official)]
            public partial class Custom;
            """;
        Assert.Equal(GenerateFromAttribute(attribute), GenerateFromJson(json, "Custom.shufflenet.json"));
    }

    [Fact]
    public void AVersion2DeclarationIsTheShuffleNetV2AttributesModel()
    {
        const string json = """
            {
              "name": "Custom", "namespace": "Acme", "version": 2,
              "stages": [2, 1], "stageChannels": [24, 48], "stemChannels": 8, "finalChannels": 64,
              "input": { "channels": 1, "height": 40, "width": 36 }, "classes": 5, "precision": "float32"
            }
            """;
        const string attribute = """
            using ShuffleNetGen;
            namespace Acme;
            [ShuffleNetV2(Stages = new[] { 2, 1 }, StageChannels = new[] { 24, 48 }, StemChannels = 8, FinalChannels = 64, InputChannels = 1, InputHeight = 40, InputWidth = 36, Classes = 5)]
            public partial class Custom;
            """;
        string fromJson = GenerateFromJson(json, "Custom.shufflenet.json");
        Assert.Equal(GenerateFromAttribute(attribute), fromJson);
        Assert.Contains("ShuffleNet v2", fromJson);
        // The scale alone gives torchvision's widths, and omitted settings v2's defaults.
        Assert.Equal(GenerateFromAttribute("using ShuffleNetGen; [ShuffleNetV2(Scale = 0.5, InputHeight = 32, InputWidth = 32)] public partial class Half;"),
            GenerateFromJson("""{ "name": "Half", "version": 2, "scale": 0.5, "input": { "height": 32, "width": 32 } }""", "Half.shufflenet.json"));
    }

    [Fact]
    public void OmittedSettingsTakeTheAttributeDefaults()
    {
        const string attribute = "using ShuffleNetGen; [ShuffleNet] public partial class Paper;";
        Assert.Equal(GenerateFromAttribute(attribute), GenerateFromJson("""{ "name": "Paper" }""", "Paper.shufflenet.json"));
    }

    [Fact]
    public void AUserPartialClassOfTheSameNameMergesWithTheGeneratedOne()
    {
        const string user = "namespace Acme.Vision; public partial class TinyNet { public string Label => \"tiny\"; }";
        var (output, diagnostics, _) = JsonHarness.Run(new[] { ("TinyNet.shufflenet.json", TinyNetJson) }, user);
        Assert.Empty(diagnostics);
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    [Theory]
    [InlineData("models/tiny.json")]
    [InlineData("models/TinyNet.shufflenet.json.bak")]
    [InlineData("models/shufflenet.json.txt")]
    public void OnlyShuffleNetJsonFilesAreRead(string path)
    {
        var (_, diagnostics, run) = JsonHarness.RunJson(path, "{ not json");
        Assert.Empty(diagnostics);
        Assert.Empty(run.Results.Single().GeneratedSources);
    }

    [Fact]
    public void FileSuffixIsMatchedIgnoringCase()
    {
        var (_, diagnostics, run) = JsonHarness.RunJson("TinyNet.ShuffleNet.JSON", TinyNetJson);
        Assert.Empty(diagnostics);
        Assert.Single(run.Results.Single().GeneratedSources);
    }

    [Fact]
    public void GlobalNamespaceWhenNamespaceIsOmitted()
    {
        string text = GenerateFromJson("""{ "name": "Global", "groups": 3, "scale": 0.25, "input": { "height": 32, "width": 32 }, "classes": 2 }""", "Global.shufflenet.json");
        Assert.DoesNotContain(text.Split('\n'), line => line.StartsWith("namespace ", StringComparison.Ordinal));
        Assert.Contains("public partial class Global ", text);
    }

    [Fact]
    public void SeveralJsonFilesDeclareSeveralModels()
    {
        var (output, diagnostics, run) = JsonHarness.Run(new[]
        {
            ("a/One.shufflenet.json", """{ "name": "One", "namespace": "Models", "scale": 0.25, "input": { "height": 32, "width": 32 }, "classes": 2 }"""),
            ("b/Two.shufflenet.json", """{ "name": "Two", "namespace": "Models", "groups": 2, "scale": 0.25, "input": { "height": 32, "width": 32 }, "classes": 3 }"""),
        });
        Assert.Empty(diagnostics);
        Assert.Equal(new[] { "Models.One.ShuffleNet.g.cs", "Models.Two.ShuffleNet.g.cs" }, run.Results.Single().GeneratedSources.Select(s => s.HintName).Order());
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    [Fact]
    public void ByteOrderMarkAndCrLfAreAccepted()
    {
        string json = "\uFEFF{\r\n  \"name\": \"Bom\",\r\n  \"scale\": 0.25,\r\n  \"input\": { \"height\": 32, \"width\": 32 }\r\n}\r\n";
        var (_, diagnostics, run) = JsonHarness.RunJson("Bom.shufflenet.json", json);
        Assert.Empty(diagnostics);
        Assert.Single(run.Results.Single().GeneratedSources);
    }

    [Fact]
    public void IntegralNumbersWrittenWithAFractionOrExponentAreIntegers()
    {
        // JSON Schema's "integer" accepts 3.0 and 1e1; so does the generator, or the schema and the build would disagree.
        const string attribute = "using ShuffleNetGen; [ShuffleNet(Groups = 3, Scale = 0.25, InputHeight = 32, InputWidth = 32, Classes = 10)] public partial class Net;";
        Assert.Equal(GenerateFromAttribute(attribute),
            GenerateFromJson("""{ "name": "Net", "groups": 3.0, "scale": 25e-2, "input": { "height": 32, "width": 3.2e1 }, "classes": 1e1 }""", "Net.shufflenet.json"));
    }

    [Fact]
    public void ModelsFromBothFormsCompileTogether()
    {
        const string attribute = "using ShuffleNetGen; namespace Acme.Vision; [ShuffleNet(Groups = 2, Scale = 0.25, InputHeight = 32, InputWidth = 32, Classes = 4)] internal partial class Other;";
        var (output, diagnostics, run) = JsonHarness.Run(new[] { ("TinyNet.shufflenet.json", TinyNetJson) }, attribute);
        Assert.Empty(diagnostics);
        Assert.Equal(2, run.Results.Single().GeneratedSources.Length);
        Assert.Empty(JsonHarness.CompileErrors(output));
    }

    [Fact]
    public void AnUnreadableFileIsReportedNotSkipped()
    {
        var (_, diagnostics, run) = JsonHarness.Run(new[] { ("Gone.shufflenet.json", (string)null!) });
        var d = Assert.Single(diagnostics);
        Assert.Equal("SNG0016", d.Id);
        Assert.Equal("The model declaration is not valid JSON: the file could not be read", d.GetMessage());
        Assert.Empty(run.Results.Single().GeneratedSources);
    }
}
