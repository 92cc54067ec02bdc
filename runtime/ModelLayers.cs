using System;
using System.Collections.Generic;

namespace ShuffleNetGen;

/// <summary>What one layer of a generated model computes (every layer is a fused op: batch norm, ReLU, residual and
/// channel shuffle live in its epilogue and its <see cref="LayerDescription.OutputPlanes"/>).</summary>
public enum LayerKind
{
    /// <summary>A full 3x3 convolution, padding 1 (the stem).</summary>
    Convolution3x3,

    /// <summary>A 3x3 depthwise convolution, padding 1.</summary>
    Depthwise3x3,

    /// <summary>A 3x3 max pool, padding 1 (padded cells never win).</summary>
    MaxPool3x3,

    /// <summary>A 3x3 average pool, padding 1, always dividing by 9 (padding counted, as PyTorch's default).</summary>
    AveragePool3x3,

    /// <summary>A 1x1 group convolution.</summary>
    Pointwise,

    /// <summary>An int8 model's quantization of a 1x1 convolution's float input into packed 7-bit activations.</summary>
    Quantize,

    /// <summary>The mean of each plane.</summary>
    GlobalAveragePool,

    /// <summary>An int8 model's quantization of the classifier's features, per image.</summary>
    FeatureQuantize,

    /// <summary>The classifier: <c>weight · x + bias</c>.</summary>
    Linear,
}

/// <summary>
/// Where a layer's channels are among a tensor's planes: channel i is plane <c>this[i]</c>. A contiguous slice, a slice
/// in channel-shuffled order (a channel shuffle after the layer, folded into its stores), or any table.
/// </summary>
public sealed class ChannelPlanes
{
    private readonly int[]? _table;

    private ChannelPlanes(int start, int count, int shuffleGroups, bool official, int[]? table)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (shuffleGroups < 1 || count % shuffleGroups != 0) throw new ArgumentOutOfRangeException(nameof(shuffleGroups), $"{count} channels do not split into {shuffleGroups} shuffle groups.");
        Start = start;
        Count = count;
        ShuffleGroups = shuffleGroups;
        OfficialShuffle = official;
        _table = table;
    }

    /// <summary>Channels 0..count-1 in planes start..start+count-1.</summary>
    public static ChannelPlanes Contiguous(int start, int count) => new(start, count, 1, false, null);

    /// <summary>
    /// Planes start..start+count-1 in the order a channel shuffle of <paramref name="groups"/> groups leaves them: the
    /// paper's shuffle sends channel i·n + j to plane start + j·g + i (n = count / g), megvii's official one
    /// (<paramref name="official"/>) sends i·g + j to start + j·n + i.
    /// </summary>
    public static ChannelPlanes Shuffled(int start, int count, int groups, bool official) => new(start, count, groups, official, null);

    /// <summary>Channel i in plane <c>planes[i]</c>.</summary>
    public static ChannelPlanes Table(params int[] planes) => new(-1, planes.Length, 1, false, (int[])planes.Clone());

    /// <summary>Channel i in plane <c>planes[i]</c> (a generated model's tables are spans over data in its binary).</summary>
    public static ChannelPlanes Table(ReadOnlySpan<int> planes) => new(-1, planes.Length, 1, false, planes.ToArray());

    /// <summary>The first plane of a contiguous or shuffled map; -1 for a table.</summary>
    public int Start { get; }

    /// <summary>Channels the map places.</summary>
    public int Count { get; }

    /// <summary>Groups of the shuffle the map applies; 1 for none.</summary>
    public int ShuffleGroups { get; }

    /// <summary>The shuffle is megvii's official order, the inverse of the paper's.</summary>
    public bool OfficialShuffle { get; }

    /// <summary>The plane that holds <paramref name="channel"/>.</summary>
    public int this[int channel]
    {
        get
        {
            if ((uint)channel >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(channel));
            if (_table is not null) return _table[channel];
            if (ShuffleGroups == 1) return Start + channel;
            int perGroup = Count / ShuffleGroups;
            return Start + (OfficialShuffle
                ? channel % ShuffleGroups * perGroup + channel / ShuffleGroups
                : channel % perGroup * ShuffleGroups + channel / perGroup);
        }
    }

    /// <summary>The map in words, for messages.</summary>
    public override string ToString() =>
        _table is not null ? "[" + string.Join(", ", _table) + "]"
        : ShuffleGroups == 1 ? $"planes {Start}..{Start + Count - 1}"
        : $"planes {Start}..{Start + Count - 1}, {(OfficialShuffle ? "official " : "")}shuffle of {ShuffleGroups} groups";
}

/// <summary>
/// One layer of a generated model, as its family lowered it: the same ops, in the same order, that the generated
/// forward pass runs. Tools that must follow the network without the generated class read these: the int8
/// calibration's float forward pass, and the ONNX importer's structure check.
/// </summary>
/// <param name="Kind">What it computes.</param>
/// <param name="Name">Its weights' prefix in the model's layout (<c>units.3.conv1</c>), or for a weightless layer a descriptive name.</param>
/// <param name="Section">The generated method it runs in (<c>Stem</c>, <c>Unit3</c>, <c>Head</c>).</param>
/// <param name="Input">The tensor it reads (<c>input</c> is the image; the others are <see cref="ModelDescription.MemoryPlan"/> slots).</param>
/// <param name="InputPlanes">Which planes of <paramref name="Input"/> are its input channels; null: all of them, in order.</param>
/// <param name="Output">The tensor it writes (<c>logits</c> is the caller's span).</param>
/// <param name="OutputPlanes">Where it stores each channel it computes; null: planes 0..<paramref name="Channels"/>-1.</param>
/// <param name="Channels">Channels it computes.</param>
/// <param name="Groups">Groups of a 1x1 convolution (1 otherwise).</param>
/// <param name="Stride">Stride of a 3x3 window (1 otherwise).</param>
/// <param name="Relu">Whether a ReLU ends it (after the residual).</param>
/// <param name="BatchNorm">The batch norm folded into it, by prefix (<c>units.3.bn1</c>), or null.</param>
/// <param name="Residual">A tensor added before the ReLU, channel i at plane i, or null.</param>
public sealed record LayerDescription(
    LayerKind Kind,
    string Name,
    string Section,
    string Input,
    ChannelPlanes? InputPlanes,
    string Output,
    ChannelPlanes? OutputPlanes,
    int Channels,
    int Groups,
    int Stride,
    bool Relu,
    string? BatchNorm,
    string? Residual)
{
    /// <summary>The plane of <see cref="Output"/> that holds computed channel <paramref name="channel"/>.</summary>
    public int OutputPlane(int channel) => OutputPlanes is null ? channel : OutputPlanes[channel];

    /// <summary>The plane of <see cref="Input"/> that holds input channel <paramref name="channel"/>.</summary>
    public int InputPlane(int channel) => InputPlanes is null ? channel : InputPlanes[channel];
}
