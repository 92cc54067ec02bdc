using System.Text.RegularExpressions;
using CsCheck;
using ShuffleNetGen.Generator.Json;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// shufflenet.schema.json, the schema editors use for completion and validation, says what the generator does: the same
/// properties, defaults and limits, and on random declarations it accepts what the generator accepts and rejects what
/// the generator rejects (up to the rules a schema cannot express, such as divisibility).
/// </summary>
public class JsonSchemaTests
{
    private static string SchemaPath() => Repository.File("shufflenet.schema.json");

    private static readonly Lazy<JsonNode> s_schema = new(() =>
    {
        var document = JsonReader.Parse(File.ReadAllText(SchemaPath()));
        Assert.Null(document.Error);
        return document.Root!;
    });

    private static JsonNode Get(JsonNode obj, string name) => obj.Properties.Single(p => p.Name == name).Value;

    private static JsonNode Property(string path)
    {
        var node = s_schema.Value;
        foreach (string part in path.Split('.')) node = Get(Get(node, "properties"), part);
        return node;
    }

    private static double Number(JsonNode node, string name) => Get(node, name).NumberValue;

    [Fact]
    public void DeclaresExactlyThePropertiesTheGeneratorReads()
    {
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", Get(s_schema.Value, "$schema").StringValue);
        Assert.Equal(JsonDeclarationParser.RootProperties, Get(s_schema.Value, "properties").Properties.Select(p => p.Name));
        Assert.Equal(JsonDeclarationParser.InputProperties, Get(Property("input"), "properties").Properties.Select(p => p.Name));
        Assert.Equal(new[] { "name" }, Get(s_schema.Value, "required").Items.Select(i => i.StringValue));
        Assert.Equal(JsonKind.False, Get(s_schema.Value, "additionalProperties").Kind);
        Assert.Equal(JsonKind.False, Get(Property("input"), "additionalProperties").Kind);
    }

    [Fact]
    public void DefaultsAreTheAttributeDefaults()
    {
        var d = NetworkSettings.Default;
        Assert.Equal(d.Groups, Number(Property("groups"), "default"));
        Assert.Equal(d.Scale, Number(Property("scale"), "default"));
        Assert.Equal(d.Stages, Get(Property("stages"), "default").Items.Select(i => (int)i.NumberValue));
        Assert.Equal(d.StemChannels, Number(Property("stemChannels"), "default"));
        Assert.Equal(d.StemStride, Number(Property("stemStride"), "default"));
        Assert.Equal(d.StemMaxPool, Get(Property("stemMaxPool"), "default").Kind == JsonKind.True);
        Assert.Equal(d.InputChannels, Number(Property("input.channels"), "default"));
        Assert.Equal(d.InputHeight, Number(Property("input.height"), "default"));
        Assert.Equal(d.InputWidth, Number(Property("input.width"), "default"));
        Assert.Equal(d.Classes, Number(Property("classes"), "default"));
        Assert.Equal(JsonDeclarationParser.ShuffleOrders[d.ShuffleOrder], Get(Property("shuffleOrder"), "default").StringValue);
    }

    [Fact]
    public void LimitsAreTheResolverLimits()
    {
        Assert.Equal(new[] { 1, 2, 3, 4, 8 }, Get(Property("groups"), "enum").Items.Select(i => (int)i.NumberValue));
        Assert.All(Enumerable.Range(-1, 12), g => Assert.Equal(NetworkResolver.BaseStageWidth(g) != 0, new[] { 1, 2, 3, 4, 8 }.Contains(g)));
        Assert.Equal(NetworkResolver.MaxScale, Number(Property("scale"), "maximum"));
        Assert.Equal(NetworkResolver.MaxStages, Number(Property("stages"), "maxItems"));
        Assert.Equal(NetworkResolver.MaxUnitsPerStage, Number(Get(Property("stages"), "items"), "maximum"));
        Assert.Equal(NetworkResolver.MaxChannels, Number(Get(Property("stageChannels"), "items"), "maximum"));
        Assert.Equal(NetworkResolver.MaxChannels, Number(Property("stemChannels"), "maximum"));
        Assert.Equal(NetworkResolver.MaxChannels, Number(Property("input.channels"), "maximum"));
        Assert.Equal(NetworkResolver.MaxInputSize, Number(Property("input.height"), "maximum"));
        Assert.Equal(NetworkResolver.MaxInputSize, Number(Property("input.width"), "maximum"));
        Assert.Equal(NetworkResolver.MaxClasses, Number(Property("classes"), "maximum"));
        Assert.Equal(JsonDeclarationParser.ShuffleOrders, Get(Property("shuffleOrder"), "enum").Items.Select(i => i.StringValue));
        // The JSON names, by index, are the runtime enum's values, which the attribute passes to the generator.
        Assert.Equal(new[] { (int)ShuffleOrder.Paper, (int)ShuffleOrder.Official }, JsonDeclarationParser.ShuffleOrders.Select((_, i) => i));
        Assert.Equal(Enum.GetNames<ShuffleOrder>().Select(n => n.ToLowerInvariant()), JsonDeclarationParser.ShuffleOrders);
        // The full-name limit covers name and namespace together, which a schema cannot say: each alone gets the most
        // the other leaves (a one-character name, or no namespace), so the schema never rejects what the generator accepts.
        Assert.Equal(ModelNames.MaxFullNameBytes, Number(Property("name"), "maxLength"));
        Assert.Equal(ModelNames.MaxFullNameBytes - 2, Number(Property("namespace"), "maxLength"));
        Assert.EndsWith($"{{0,{ModelNames.MaxNamespaceSegments - 1}}}$", Get(Property("namespace"), "pattern").StringValue);
    }

    [Fact]
    public void TheIssueExampleIsValid()
    {
        const string example = """{ "name": "TinyNet", "namespace": "Acme.Vision", "groups": 3, "scale": 0.5, "stages": [4, 8, 4], "input": { "channels": 1, "height": 32, "width": 32 }, "classes": 10 }""";
        Assert.Empty(Validate(example));
    }

    /// <summary>Diagnostics a schema can express: types, names, ranges, list lengths, required and unknown properties.</summary>
    private static readonly HashSet<string> s_expressible = new() { "SNG0003", "SNG0004", "SNG0005", "SNG0006", "SNG0009", "SNG0010", "SNG0012", "SNG0013", "SNG0016", "SNG0017", "SNG0018", "SNG0019", "SNG0024" };

    [Fact]
    [Trait("Category", "Slow")] // 10 s or more in CI (measured run, 2-core machine)
    public void SchemaAndGeneratorAgreeOnRandomDeclarations()
    {
        int valid = 0, invalid = 0;
        GeneratorRobustnessTests.JsonProperties.Sample(properties =>
        {
            string json = "{ " + string.Join(", ", properties) + " }";
            var schemaErrors = Validate(json);
            var (_, diagnostics, _) = JsonHarness.RunJson("Net.shufflenet.json", json);
            if (schemaErrors.Count == 0)
            {
                Interlocked.Increment(ref valid);
                var expressible = diagnostics.Where(d => s_expressible.Contains(d.Id)).ToList();
                Assert.True(expressible.Count == 0, "the schema accepts what the generator rejects: " + string.Join("; ", expressible.Select(d => d.GetMessage())));
            }
            else
            {
                Interlocked.Increment(ref invalid);
                Assert.True(diagnostics.Any(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error),
                    "the schema rejects what the generator accepts: " + string.Join("; ", schemaErrors));
            }
        }, iter: 1500, threads: 2, print: p => "{ " + string.Join(", ", p) + " }");
        Assert.True(valid > 100 && invalid > 100, $"{valid} valid, {invalid} invalid: the sample does not exercise both sides");
    }

    // ---- a validator for the part of JSON Schema the schema uses ----

    private static List<string> Validate(string json)
    {
        var document = JsonReader.Parse(json);
        var errors = new List<string>();
        if (document.Error is not null) errors.Add("not JSON");
        else Validate(s_schema.Value, document.Root!, "$", errors);
        return errors;
    }

    private static void Validate(JsonNode schema, JsonNode value, string path, List<string> errors)
    {
        JsonNode? Keyword(string name) => schema.Properties.FirstOrDefault(p => p.Name == name)?.Value;

        if (Keyword("type") is { } type)
        {
            bool ok = type.StringValue switch
            {
                "object" => value.Kind == JsonKind.Object,
                "array" => value.Kind == JsonKind.Array,
                "string" => value.Kind == JsonKind.String,
                "boolean" => value.Kind is JsonKind.True or JsonKind.False,
                "number" => value.Kind == JsonKind.Number,
                "integer" => value.Kind == JsonKind.Number && Math.Floor(value.NumberValue) == value.NumberValue,
                _ => throw new InvalidOperationException("validator lacks type " + type.StringValue),
            };
            if (!ok)
            {
                errors.Add($"{path}: not {type.StringValue}");
                return;
            }
        }
        if (Keyword("enum") is { } allowed && !allowed.Items.Any(a => a.Kind == value.Kind && a.NumberValue == value.NumberValue && a.StringValue == value.StringValue))
            errors.Add($"{path}: not in enum");
        if (Keyword("minimum") is { } min && value.NumberValue < min.NumberValue) errors.Add($"{path}: below minimum");
        if (Keyword("maximum") is { } max && value.NumberValue > max.NumberValue) errors.Add($"{path}: above maximum");
        if (Keyword("exclusiveMinimum") is { } emin && value.NumberValue <= emin.NumberValue) errors.Add($"{path}: not above exclusiveMinimum");
        if (Keyword("pattern") is { } pattern && !Regex.IsMatch(value.StringValue, pattern.StringValue, RegexOptions.ECMAScript)) errors.Add($"{path}: does not match pattern");
        if (Keyword("minItems") is { } minItems && value.Count < minItems.NumberValue) errors.Add($"{path}: too few items");
        if (Keyword("maxItems") is { } maxItems && value.Count > maxItems.NumberValue) errors.Add($"{path}: too many items");
        if (Keyword("maxLength") is { } maxLength && value.StringValue.Length > maxLength.NumberValue) errors.Add($"{path}: too long");
        if (Keyword("items") is { } items)
        {
            for (int i = 0; i < value.Items.Count; i++) Validate(items, value.Items[i], $"{path}[{i}]", errors);
        }
        if (value.Kind == JsonKind.Object)
        {
            var properties = Keyword("properties")?.Properties ?? Array.Empty<JsonProperty>();
            foreach (var required in Keyword("required")?.Items ?? Array.Empty<JsonNode>())
            {
                if (!value.Properties.Any(p => p.Name == required.StringValue)) errors.Add($"{path}: missing {required.StringValue}");
            }
            foreach (var p in value.Properties)
            {
                var sub = properties.FirstOrDefault(s => s.Name == p.Name);
                if (sub is not null) Validate(sub.Value, p.Value, path + "." + p.Name, errors);
                else if (Keyword("additionalProperties")?.Kind == JsonKind.False) errors.Add($"{path}: unknown property {p.Name}");
            }
        }
        var known = new HashSet<string> { "type", "enum", "minimum", "maximum", "exclusiveMinimum", "pattern", "minItems", "maxItems", "maxLength", "items", "properties", "required", "additionalProperties", "description", "default", "examples", "$schema", "$id", "title" };
        Assert.All(schema.Properties, p => Assert.Contains(p.Name, known));
    }
}
