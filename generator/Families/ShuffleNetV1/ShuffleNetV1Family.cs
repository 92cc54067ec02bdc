using System.Collections.Generic;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Families.ShuffleNetV1;

/// <summary>
/// ShuffleNet v1 (Zhang et al., 2017), in the canonical PyTorch <c>state_dict</c> names: a 3x3 stem convolution
/// (<c>conv1</c>, <c>bn1</c>) and optional max pool, then stages of units (<c>units.N.*</c>), each stage's first unit
/// at stride 2, then the global pool and the classifier (<c>fc</c>). tools/shufflenet.py is the Python model this
/// must agree with.
/// </summary>
internal sealed class ShuffleNetV1Family : NetworkFamily
{
    public static readonly ShuffleNetV1Family Instance = new();

    public override string DisplayName => "ShuffleNet v1";

    public override IReadOnlyList<string> Lower(NetworkSpec spec, GraphBuilder b)
    {
        int g = spec.Groups;
        var stem = b.Tensor("stem", spec.StemChannels, Windows.OutputSize(spec.InputHeight, spec.StemStride), Windows.OutputSize(spec.InputWidth, spec.StemStride));
        b.Window(WindowKind.Convolution, "conv1", b.Input, stem, spec.StemStride, relu: true, batchNorm: "bn1");
        var x = stem;
        if (spec.StemMaxPool)
        {
            var pooled = b.Tensor("maxpool", spec.StemChannels, Windows.OutputSize(stem.Height, 2), Windows.OutputSize(stem.Width, 2));
            b.Window(WindowKind.MaxPool, "maxpool", x, pooled, 2, relu: false, batchNorm: null);
            x = pooled;
        }

        int index = 0;
        for (int stage = 0; stage < spec.StageChannels.Count; stage++)
        {
            for (int repeat = 0; repeat < spec.StageRepeats[stage]; repeat++, index++)
                x = Unit(b, spec, index, stride: repeat == 0 ? 2 : 1, x, spec.StageChannels[stage]);
        }

        b.Section = new Section("Head", null);
        b.Classifier("fc", b.GlobalPool("globalpool", x));

        var summary = new List<string>
        {
            $"{DisplayName}, {g} group(s), input {spec.InputChannels}x{spec.InputHeight}x{spec.InputWidth}, {spec.Classes} classes;",
        };
        if (spec.ShuffleOrder == ChannelShuffleOrder.Official) summary.Add("channel shuffle in the order of megvii's official code (the inverse of the paper's);");
        summary.Add($"stem {spec.StemChannels}, stages {string.Join(" / ", spec.StageChannels)} with {string.Join(", ", spec.StageRepeats)} units.");
        return summary;
    }

    /// <summary>
    /// One unit: 1x1 group convolution (its output stored in channel-shuffled order), 3x3 depthwise, 1x1 group
    /// convolution, joined with the shortcut: at stride 2 an average pool writing the first channels of the output in
    /// place (the concat is never copied) and the branch the rest; at stride 1 a residual add. The unit's first
    /// convolution reads the stem's output, too narrow for groups, ungrouped; its shuffle stays, as in the official code.
    /// </summary>
    private static TensorNode Unit(GraphBuilder b, NetworkSpec spec, int index, int stride, TensorNode x, int outChannels)
    {
        int g = spec.Groups;
        string p = "units." + index;
        int inChannels = x.Channels;
        int m = outChannels / 4;
        int h = Windows.OutputSize(x.Height, stride), w = Windows.OutputSize(x.Width, stride);
        b.Section = new Section("Unit" + index, $"Unit {index}: {inChannels}x{x.Height}x{x.Width} to {outChannels}x{h}x{w}, stride {stride}.");

        var output = b.Tensor(p + ".out", outChannels, h, w);
        if (stride == 2)
            b.Window(WindowKind.AveragePool, p + ".shortcut", x, output, 2, relu: true, batchNorm: null, PlaneMap.Contiguous(0, inChannels));

        var squeezed = b.Tensor(p + ".bottleneck", m, x.Height, x.Width);
        b.Pointwise(p + ".conv1", x, squeezed, m, index == 0 ? 1 : g, p + ".bn1", relu: true,
            PlaneMap.Shuffled(0, m, g, spec.ShuffleOrder == ChannelShuffleOrder.Official));

        var spatial = b.Tensor(p + ".depthwise", m, h, w);
        b.Window(WindowKind.Depthwise, p + ".dw", squeezed, spatial, stride, relu: false, batchNorm: p + ".bn2");

        int branch = stride == 2 ? outChannels - inChannels : outChannels;
        b.Pointwise(p + ".conv3", spatial, output, branch, g, p + ".bn3", relu: true,
            PlaneMap.Contiguous(stride == 2 ? inChannels : 0, branch), residual: stride == 2 ? null : x);
        return output;
    }
}
