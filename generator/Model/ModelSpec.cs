using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// The settings of one declaration, as written (before widths are derived or checked). <see cref="Version"/> picks the
/// family: 1 for ShuffleNet v1 (<c>[ShuffleNet]</c>), 2 for v2 (<c>[ShuffleNetV2]</c>, <c>"version": 2</c>);
/// <see cref="FinalChannels"/> is v2's <c>conv5</c> width (0: derived from the scale).
/// </summary>
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
    bool StemMaxPool,
    int ShuffleOrder,
    int Precision = 0,
    int Version = 1,
    int FinalChannels = 0)
{
    public static readonly EquatableArray<int> DefaultStages = new(new[] { 4, 8, 4 });

    public static NetworkSettings Default { get; } = new(3, 1.0, DefaultStages, EquatableArray<int>.Empty, 0, 3, 224, 224, 1000, 2, true, (int)ChannelShuffleOrder.Paper);
}

/// <summary>
/// The channel shuffle's permutation; the values are those of the runtime's <c>ShuffleNetGen.ShuffleOrder</c>, which
/// the attribute passes as its underlying integer (the generator cannot reference the runtime assembly).
/// </summary>
internal enum ChannelShuffleOrder
{
    /// <summary>Reshape to (g, C/g) and transpose: channel i·n + j lands at j·g + i (n = C/g).</summary>
    Paper = 0,

    /// <summary>megvii's official code: reshape to (C/g, g) and transpose, the inverse: channel i·g + j lands at j·n + i.</summary>
    Official = 1,
}

/// <summary>
/// A fully resolved, valid network: every width known and divisible as the units need. <see cref="Version"/> names the
/// family (<see cref="Families.NetworkFamily.Of"/>); v2 has no groups (1) and its <see cref="FinalChannels"/> is conv5's width.
/// </summary>
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
    EquatableArray<int> StageRepeats,
    ChannelShuffleOrder ShuffleOrder = ChannelShuffleOrder.Paper,
    NumericPrecision Precision = NumericPrecision.Float32,
    int Version = 1,
    int FinalChannels = 0)
{
    public bool IsInt8 => Precision == NumericPrecision.Int8;
}

/// <summary>The runtime's <c>ShuffleNetGen.Precision</c>, by value (the generator cannot reference the runtime assembly).</summary>
internal enum NumericPrecision
{
    Float32 = 0,
    Int8 = 1,
}

/// <summary>Where the generated code goes: the user's partial class.</summary>
internal sealed record TargetClassSpec(string? Namespace, string ClassName, string Accessibility, bool IsSealed, bool IsStatic)
{
    public string FullName => Namespace is null ? ClassName : Namespace + "." + ClassName;
}

/// <summary>Everything the emitter needs for one model; compared structurally so unchanged models stay cached.</summary>
internal sealed record ModelSpec(TargetClassSpec Target, NetworkSpec Network, string HintName)
{
    public string FullName => Target.FullName;

    /// <summary>The same for both declaration forms, so one model declared either way is emitted under one name.</summary>
    public static string HintNameFor(TargetClassSpec target) => target.FullName + ".ShuffleNet.g.cs";

    /// <summary>
    /// The <paramref name="rank"/>-th (from 0) of several hint names equal ignoring case: the first keeps its name, the
    /// others get .2, .3, ... before .g.cs, as AddSource needs names unique on a case-insensitive file system.
    /// </summary>
    public static string NumberedHintName(string hintName, int rank) =>
        rank == 0 ? hintName : hintName.Substring(0, hintName.Length - ".g.cs".Length) + "." + (rank + 1) + ".g.cs";
}

/// <summary>
/// The fully qualified class a declaration claims and where it says so, for the duplicate check across declarations.
/// Kept apart from <see cref="ModelSpec"/> so that moving a declaration re-runs only that check, never the emitter.
/// </summary>
internal sealed record DeclaredModel(string FullName, LocationInfo? Location);

/// <summary>What the compilation around a model adds to its emitted members (from references and build properties).</summary>
internal readonly record struct EmitOptions(bool OnnxAvailable, bool BenchmarkHooks, TargetWidths Target = default);

/// <summary>
/// A class a declaration names that can take a stand-in when no model is generated for it: the declaration's target,
/// and why it failed (null when it did not). Carried for valid declarations too, so that two valid declarations of one
/// name (SNG0015) still get their stand-in.
/// </summary>
internal sealed record FallbackSpec(TargetClassSpec Target, bool FromAttribute, string? Failure)
{
    public string FullName => Target.FullName;
}

/// <summary>
/// A stand-in for a model that could not be generated: the full public surface with bodies that throw, so that one
/// mistake in a declaration is one error, not one more at every use of the model.
/// </summary>
internal sealed record PlaceholderSpec(TargetClassSpec Target, string HintName, string Failure);
