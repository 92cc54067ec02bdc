using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace ShuffleNetGen.Generator;

/// <summary>
/// Every diagnostic the generator reports. Ids are stable: never renumber or reuse one, only add (and list the new id in
/// AnalyzerReleases.Unshipped.md; the release-tracking analyzer fails the build otherwise). Each descriptor is created
/// with literal id, category and severity at its field because that is the only form the release-tracking analyzer can
/// read: behind a helper method it silently checks nothing. SNG0030 is taken too, by the package's NativeAOT build
/// warning (runtime/buildTransitive/ShuffleNetGen.targets).
/// </summary>
internal static class DiagnosticDescriptors
{
    /// <summary>The declaration itself: the class or the JSON file's name and namespace.</summary>
    public const string DeclarationCategory = "ShuffleNetGen.Declaration";

    /// <summary>The network's settings: what the units can be built from.</summary>
    public const string ArchitectureCategory = "ShuffleNetGen.Architecture";

    /// <summary>The JSON form of a declaration: syntax, property names and types.</summary>
    public const string JsonCategory = "ShuffleNetGen.Json";

    /// <summary>Each id's row in the README's catalog carries the anchor diagnostics-sngNNNN (a test checks they exist).</summary>
    private const string HelpBase = "https://github.com/shufflenetgen/shufflenetgen/blob/main/README.md#diagnostics";

    public static readonly DiagnosticDescriptor ClassNotPartial = new(
        "SNG0001", "Model class must be partial",
        "Class '{0}' has [ShuffleNet] but is not partial; declare it 'partial class {0}' so the generated forward pass can be added to it",
        DeclarationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "The generator adds the forward pass, factories and constants to the class as another part of it, which C# allows only for a partial class.",
        helpLinkUri: HelpBase + "-sng0001");

    public static readonly DiagnosticDescriptor UnsupportedClassShape = new(
        "SNG0002", "Model class shape not supported",
        "Class '{0}' cannot hold a generated model: {1}",
        DeclarationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A model class must be a non-generic, non-static, non-abstract partial class declared directly in a namespace (or the global namespace), not a record and not file-local.",
        helpLinkUri: HelpBase + "-sng0002");

    public static readonly DiagnosticDescriptor UnsupportedGroups = new(
        "SNG0003", "Unsupported group count",
        "{0} is not supported; ShuffleNet v1 uses 1, 2, 3, 4 or 8 groups",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "The paper defines stage widths for 1, 2, 3, 4 and 8 groups only (Table 1); other counts have no reference widths.",
        helpLinkUri: HelpBase + "-sng0003");

    public static readonly DiagnosticDescriptor InvalidScale = new(
        "SNG0004", "Width scale out of range",
        "{0} is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Scale multiplies the 1x widths of Table 1. It must be a finite number in (0, 4]; give StageChannels to set widths beyond that.",
        helpLinkUri: HelpBase + "-sng0004");

    public static readonly DiagnosticDescriptor InvalidStageCount = new(
        "SNG0005", "Stage list length out of range",
        "{0} has {1} entries; give 1 to 4 stages (the paper uses {2})",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Stages lists the number of units of each stage, from stage 2 on. Between 1 and 4 stages are supported.",
        helpLinkUri: HelpBase + "-sng0005");

    public static readonly DiagnosticDescriptor InvalidRepeat = new(
        "SNG0006", "Stage unit count out of range",
        "Stage {0} has {1} units in {2}; give every stage 1 to {3} units (its first unit has stride 2)",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Each stage starts with a stride-2 unit, so it needs at least one unit. More than 32 units per stage is rejected so a typo cannot emit megabytes of code.",
        helpLinkUri: HelpBase + "-sng0006");

    public static readonly DiagnosticDescriptor IndivisibleWidth = new(
        "SNG0007", "Width not divisible as the unit needs",
        "{0}",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A unit's bottleneck is a quarter of its width and is split into groups; a stride-2 unit's branch (its width minus its input width) is split into groups too. The message names the stage and the multiple to use.",
        helpLinkUri: HelpBase + "-sng0007");

    public static readonly DiagnosticDescriptor StageChannelsLength = new(
        "SNG0008", "StageChannels does not match Stages",
        "{0} has {1} entries but {2} has {3}; give one output width per stage",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "StageChannels, when given, lists one output width for each stage in Stages.",
        helpLinkUri: HelpBase + "-sng0008");

    public static readonly DiagnosticDescriptor InvalidInputSize = new(
        "SNG0009", "Input size out of range",
        "{0} is out of range; use 1 to {1}",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Input height and width are in pixels, from 1 to 4096.",
        helpLinkUri: HelpBase + "-sng0009");

    public static readonly DiagnosticDescriptor InvalidClasses = new(
        "SNG0010", "Class count out of range",
        "{0} is out of range; a model needs 1 to {1} output classes",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Classes is the number of logits the classifier writes.",
        helpLinkUri: HelpBase + "-sng0010");

    public static readonly DiagnosticDescriptor ModelTooLarge = new(
        "SNG0011", "Model too large",
        "{0} would need {1} floats, more than an int-indexed array holds; reduce the input size or the widths",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Activations live in one float array (the arena) and weights in another; each must stay below 2^31 elements.",
        helpLinkUri: HelpBase + "-sng0011");

    public static readonly DiagnosticDescriptor InvalidStemStride = new(
        "SNG0012", "Unsupported stem stride",
        "{0} is not supported; use 2 (paper) or 1 (small images)",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "The 3x3 stem convolution has stride 2 in the paper; stride 1 keeps resolution for small inputs such as 32x32.",
        helpLinkUri: HelpBase + "-sng0012");

    public static readonly DiagnosticDescriptor InvalidChannels = new(
        "SNG0013", "Channel count out of range",
        "{0} is out of range; use {1} to {2}",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Channel counts must be positive and at most 65536; StemChannels also takes 0, meaning derived from Scale.",
        helpLinkUri: HelpBase + "-sng0013");

    public static readonly DiagnosticDescriptor InputTooSmall = new(
        "SNG0014", "Input too small for its stride-2 steps",
        "{0} is too small: the {1} is already 1 pixel when {2} halves it again; use at least {3} pixels, or fewer stride-2 steps ({4})",
        ArchitectureCategory, DiagnosticSeverity.Warning, isEnabledByDefault: true,
        description: "Every stride-2 step (a stride-2 stem, the max pool, the first unit of each stage) halves height and width, rounding up. When a step's input is already 1 pixel high or wide, it no longer downsamples and its 3x3 window sees mostly padding: the model compiles and runs, but the input cannot use the depth it was given. An input of 2^(n-1) + 1 pixels or more avoids this with n stride-2 steps (17 for the paper's 5).",
        helpLinkUri: HelpBase + "-sng0014");

    public static readonly DiagnosticDescriptor DuplicateModel = new(
        "SNG0015", "Model declared more than once",
        "Model '{0}' is declared more than once (also at {1}); give each declaration its own class name or namespace",
        DeclarationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Two declarations (attributes, JSON files, or one of each) would generate the same class. No model is generated for that class until only one remains; until then its members throw.",
        helpLinkUri: HelpBase + "-sng0015");

    public static readonly DiagnosticDescriptor JsonSyntax = new(
        "SNG0016", "Malformed JSON",
        "The model declaration is not valid JSON: {0}",
        JsonCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A .shufflenet.json file must hold one strict JSON object (RFC 8259): no comments, no trailing commas, double-quoted names and strings.",
        helpLinkUri: HelpBase + "-sng0016");

    public static readonly DiagnosticDescriptor JsonUnknownProperty = new(
        "SNG0017", "Unknown JSON property",
        "Unknown property \"{0}\" in {1}; {2}",
        JsonCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Only the documented properties are read; an unknown one is an error rather than ignored, because a misspelled setting would otherwise silently keep its default. The schema shufflenet.schema.json lists them all.",
        helpLinkUri: HelpBase + "-sng0017");

    public static readonly DiagnosticDescriptor JsonWrongType = new(
        "SNG0018", "JSON value has the wrong type",
        "{0} must be {1}, not {2}",
        JsonCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Each property takes one JSON type: name and namespace take strings, scale a number, stemMaxPool a boolean, input an object, stages and stageChannels arrays of integers, every other setting an integer.",
        helpLinkUri: HelpBase + "-sng0018");

    public static readonly DiagnosticDescriptor JsonMissingName = new(
        "SNG0019", "JSON declaration has no name",
        "The model declaration has no \"name\"; add \"name\": \"{0}\" to name the generated class",
        JsonCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "The name property is the generated class's name; namespace, optional, is its namespace.",
        helpLinkUri: HelpBase + "-sng0019");

    public static readonly DiagnosticDescriptor InvalidModelName = new(
        "SNG0020", "Invalid model class name or namespace",
        "'{0}' cannot be the model's {1}: {2}",
        DeclarationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "The class name and each namespace segment must be C# identifiers that are not keywords and that do not hide a name the generated code declares or uses (Forward, Classes, Span, Unsafe, ...).",
        helpLinkUri: HelpBase + "-sng0020");

    public static readonly DiagnosticDescriptor JsonDuplicateProperty = new(
        "SNG0021", "Duplicate JSON property",
        "Property \"{0}\" is given more than once; keep one",
        JsonCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "JSON readers disagree on which of two equal names wins, so a repeated property is rejected instead of guessed.",
        helpLinkUri: HelpBase + "-sng0021");

    public static readonly DiagnosticDescriptor InternalError = new(
        "SNG0022", "Generator failure",
        "The ShuffleNet generator failed on '{0}' ({1}: {2}); no code was generated for it. Please report this with the declaration.",
        DeclarationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "An unexpected error inside the generator. It is reported here instead of crashing the build so the rest of the project still compiles.",
        helpLinkUri: HelpBase + "-sng0022");

    public static readonly DiagnosticDescriptor TooManyFindings = new(
        "SNG0023", "Too many problems in one JSON declaration",
        "{0} more problems in this file are not listed; only the first {1} are. Fix those and build again.",
        JsonCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A .shufflenet.json file reports at most 20 findings; the rest are counted here. A declaration has a dozen settings, so a file with more problems than that is usually not a model declaration at all.",
        helpLinkUri: HelpBase + "-sng0023");

    public static readonly DiagnosticDescriptor UnsupportedShuffleOrder = new(
        "SNG0024", "Unsupported shuffle order",
        "{0} is not a shuffle order; use {1}",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "The channel shuffle is either the paper's permutation or megvii's official code's, its inverse; weights must be declared with the order they were trained with.",
        helpLinkUri: HelpBase + "-sng0024");

    public static readonly DiagnosticDescriptor UnsupportedPrecision = new(
        "SNG0025", "Unsupported precision",
        "{0} is not a precision; use {1}",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A model computes in 32-bit floats or, for its 1x1 convolutions, in 8-bit integers with calibrated activation scales.",
        helpLinkUri: HelpBase + "-sng0025");

    public static readonly DiagnosticDescriptor SettingOfOtherVersion = new(
        "SNG0026", "Setting of the other ShuffleNet version",
        "{0} is a ShuffleNet v{1} setting; this declaration is ShuffleNet v{2}, which {3}",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "ShuffleNet v1 and v2 share most settings, but v1's group convolutions, shuffle order and stem options do not exist in v2 (no groups, a fixed stem), and v2's conv5 width does not exist in v1.",
        helpLinkUri: HelpBase + "-sng0026");

    public static readonly DiagnosticDescriptor UnsupportedVersion = new(
        "SNG0027", "Unsupported ShuffleNet version",
        "{0} is not a ShuffleNet version; use 1 (ShuffleNet v1, the default) or 2 (ShuffleNet v2)",
        ArchitectureCategory, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A declaration compiles ShuffleNet v1 (Zhang et al., 2017) or ShuffleNet v2 (Ma et al., 2018, as torchvision builds it).",
        helpLinkUri: HelpBase + "-sng0027");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = Index(
        ClassNotPartial, UnsupportedClassShape, UnsupportedGroups, InvalidScale, InvalidStageCount, InvalidRepeat,
        IndivisibleWidth, StageChannelsLength, InvalidInputSize, InvalidClasses, ModelTooLarge, InvalidStemStride,
        InvalidChannels, InputTooSmall, DuplicateModel, JsonSyntax, JsonUnknownProperty, JsonWrongType, JsonMissingName,
        InvalidModelName, JsonDuplicateProperty, InternalError, TooManyFindings, UnsupportedShuffleOrder,
        UnsupportedPrecision, SettingOfOtherVersion, UnsupportedVersion);

    public static DiagnosticDescriptor ById(string id) =>
        s_byId.TryGetValue(id, out var d) ? d : throw new ArgumentException("Unknown diagnostic id " + id, nameof(id));

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values;

    private static Dictionary<string, DiagnosticDescriptor> Index(params DiagnosticDescriptor[] descriptors)
    {
        var byId = new Dictionary<string, DiagnosticDescriptor>();
        foreach (var d in descriptors) byId.Add(d.Id, d);
        return byId;
    }
}
