using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>The settings of one declaration, as written (before widths are derived or checked).</summary>
internal sealed record NetworkSettings(
    int Groups,
    double Scale,
    EquatableArray<int> Stages,
    EquatableArray<int> StageChannels,
    int StemChannels,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    int Classes,
    int StemStride,
    bool StemMaxPool)
{
    public static readonly EquatableArray<int> DefaultStages = new(new[] { 4, 8, 4 });

    public static NetworkSettings Default { get; } = new(3, 1.0, DefaultStages, EquatableArray<int>.Empty, 0, 3, 224, 224, 1000, 2, true);
}

/// <summary>A fully resolved, valid network: every width known and divisible as the units need.</summary>
internal sealed record NetworkSpec(
    int Groups,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    int Classes,
    int StemChannels,
    int StemStride,
    bool StemMaxPool,
    EquatableArray<int> StageChannels,
    EquatableArray<int> StageRepeats);

/// <summary>Where the generated code goes: the user's partial class.</summary>
internal sealed record TargetClassSpec(string? Namespace, string ClassName, string Accessibility, bool IsSealed, bool IsStatic);

/// <summary>Everything the emitter needs for one model; compared structurally so unchanged models stay cached.</summary>
internal sealed record ModelSpec(TargetClassSpec Target, NetworkSpec Network, string HintName);
