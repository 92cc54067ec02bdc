using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace ShuffleNetGen.Generator;

/// <summary>Every diagnostic the generator reports. Ids are stable: never renumber, only add.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "ShuffleNetGen";
    private const string HelpBase = "https://github.com/shufflenetgen/shufflenetgen/blob/main/README.md#diagnostics";

    public static readonly DiagnosticDescriptor ClassNotPartial = Error(
        "SNG0001", "Model class must be partial",
        "Class '{0}' has [ShuffleNet] but is not partial; declare it 'partial class {0}' so the generated forward pass can be added to it");

    public static readonly DiagnosticDescriptor UnsupportedClassShape = Error(
        "SNG0002", "Model class shape not supported",
        "Class '{0}' cannot hold a generated model: {1}");

    public static readonly DiagnosticDescriptor UnsupportedGroups = Error(
        "SNG0003", "Unsupported group count",
        "Groups = {0} is not supported; ShuffleNet v1 uses 1, 2, 3, 4 or 8 groups");

    public static readonly DiagnosticDescriptor InvalidScale = Error(
        "SNG0004", "Width scale out of range",
        "Scale = {0} is out of range; use a value greater than 0 and at most 4 (the paper uses 0.25, 0.5, 1, 1.5 and 2)");

    public static readonly DiagnosticDescriptor InvalidStageCount = Error(
        "SNG0005", "Stage list length out of range",
        "Stages has {0} entries; give 1 to 4 stages (the paper uses {{ 4, 8, 4 }})");

    public static readonly DiagnosticDescriptor InvalidRepeat = Error(
        "SNG0006", "Stage repeat count below 1",
        "Stage {0} repeats {1} units; every stage needs at least 1 unit (its first unit has stride 2)");

    public static readonly DiagnosticDescriptor IndivisibleWidth = Error(
        "SNG0007", "Width not divisible as the unit needs",
        "{0}");

    public static readonly DiagnosticDescriptor StageChannelsLength = Error(
        "SNG0008", "StageChannels does not match Stages",
        "StageChannels has {0} entries but Stages has {1}; give one output width per stage");

    public static readonly DiagnosticDescriptor InvalidInputSize = Error(
        "SNG0009", "Input size out of range",
        "{0} = {1} is out of range; use 1 to {2}");

    public static readonly DiagnosticDescriptor InvalidClasses = Error(
        "SNG0010", "Class count below 1",
        "Classes = {0}; a model needs at least 1 output class");

    public static readonly DiagnosticDescriptor ModelTooLarge = Error(
        "SNG0011", "Model too large",
        "{0} would need {1} floats, more than an int-indexed array holds; reduce the input size or the widths");

    public static readonly DiagnosticDescriptor InvalidStemStride = Error(
        "SNG0012", "Unsupported stem stride",
        "StemStride = {0} is not supported; use 2 (paper) or 1 (small images)");

    public static readonly DiagnosticDescriptor InvalidChannels = Error(
        "SNG0013", "Channel count out of range",
        "{0} = {1} is out of range; use 1 to {2}");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = new()
    {
        [ClassNotPartial.Id] = ClassNotPartial,
        [UnsupportedClassShape.Id] = UnsupportedClassShape,
        [UnsupportedGroups.Id] = UnsupportedGroups,
        [InvalidScale.Id] = InvalidScale,
        [InvalidStageCount.Id] = InvalidStageCount,
        [InvalidRepeat.Id] = InvalidRepeat,
        [IndivisibleWidth.Id] = IndivisibleWidth,
        [StageChannelsLength.Id] = StageChannelsLength,
        [InvalidInputSize.Id] = InvalidInputSize,
        [InvalidClasses.Id] = InvalidClasses,
        [ModelTooLarge.Id] = ModelTooLarge,
        [InvalidStemStride.Id] = InvalidStemStride,
        [InvalidChannels.Id] = InvalidChannels,
    };

    public static DiagnosticDescriptor ById(string id) =>
        s_byId.TryGetValue(id, out var d) ? d : throw new ArgumentException("Unknown diagnostic id " + id, nameof(id));

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values;

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            helpLinkUri: HelpBase + "-" + id.ToLowerInvariant());
}
