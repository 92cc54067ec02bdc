using static ShuffleNetGen.Tests.Reference.ReferenceOps;

namespace ShuffleNetGen.Tests.Reference;

// The ground truth that generated models are tested against. It deliberately shares no code with the generator
// and is written plainly from the ShuffleNet v1 spec: NCHW loops, double-precision activations and accumulators,
// no folding of batch norm into convolutions, no fusion. If this file and the generator agree, it is because both
// implement the same network, not because they share a mistake. The operators are ReferenceOps (shared with the v2
// reference); this file is the network: its units, its channel shuffle, its tensor names.

/// <summary>
/// The architecture the reference computes; mirrors the PyTorch fixture json keys. <paramref name="OfficialShuffle"/>:
/// the channel shuffle of megvii's official code (see <c>OfficialShuffle</c> below) instead of the paper's.
/// </summary>
public sealed record ReferenceConfig(
    int Groups,
    int StemChannels,
    int[] StageChannels,
    int[] StageRepeats,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    int Classes,
    int StemStride,
    bool StemMaxPool,
    bool OfficialShuffle = false)
{
    /// <summary>The architecture a generated model declares.</summary>
    public static ReferenceConfig Of(ModelDescription d) =>
        new(d.Groups, d.StemChannels, d.StageChannels.ToArray(), d.StageRepeats.ToArray(), d.InputChannels, d.InputHeight, d.InputWidth,
            d.Classes, d.StemStride, d.StemMaxPool, d.ShuffleOrder == ShuffleOrder.Official);
}

/// <summary>Scalar ShuffleNet v1 forward pass over PyTorch-layout weights.</summary>
public static class ReferenceShuffleNet
{
    /// <summary>Every tensor the network reads, in the canonical order, with its PyTorch shape.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> WeightShapes(ReferenceConfig c)
    {
        var list = new List<(string, int[])>();
        void BatchNorm(string prefix, int channels)
        {
            foreach (var part in BatchNormParts)
                list.Add(($"{prefix}.{part}", new[] { channels }));
        }

        list.Add(("conv1.weight", new[] { c.StemChannels, c.InputChannels, 3, 3 }));
        BatchNorm("bn1", c.StemChannels);
        foreach (var u in Units(c))
        {
            string p = $"units.{u.Index}";
            list.Add(($"{p}.conv1.weight", new[] { u.Bottleneck, u.In / u.FirstGroups, 1, 1 }));
            BatchNorm($"{p}.bn1", u.Bottleneck);
            list.Add(($"{p}.dw.weight", new[] { u.Bottleneck, 1, 3, 3 }));
            BatchNorm($"{p}.bn2", u.Bottleneck);
            list.Add(($"{p}.conv3.weight", new[] { u.BranchOut, u.Bottleneck / c.Groups, 1, 1 }));
            BatchNorm($"{p}.bn3", u.BranchOut);
        }
        int last = c.StageChannels[^1];
        list.Add(("fc.weight", new[] { c.Classes, last }));
        list.Add(("fc.bias", new[] { c.Classes }));
        return list;
    }

    /// <summary>
    /// Runs the network on one C×H×W image. <paramref name="weight"/> returns the raw row-major PyTorch tensor for
    /// a canonical name (see <see cref="WeightShapes"/>). <paramref name="observePointwiseInput"/>, if given, sees the
    /// input of every 1x1 convolution (<c>units.N.conv1</c>, <c>units.N.conv3</c>) before it runs: int8 calibration
    /// in the conformance runner takes its ranges from there.
    /// </summary>
    public static float[] Forward(ReferenceConfig c, Func<string, float[]> weight, float[] input, Action<string, double[]>? observePointwiseInput = null)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(weight);
        var x = Image(input, c.InputChannels, c.InputHeight, c.InputWidth);
        var W = CheckedWeights(weight, WeightShapes(c));

        x = Conv3x3(x, W("conv1.weight"), c.StemChannels, c.StemStride);
        BatchNorm(x, W, "bn1");
        Relu(x);
        if (c.StemMaxPool) x = MaxPool3x3Stride2(x);

        foreach (var u in Units(c))
        {
            string p = $"units.{u.Index}";
            observePointwiseInput?.Invoke($"{p}.conv1", x.Data);
            var b = GroupConv1x1(x, W($"{p}.conv1.weight"), u.Bottleneck, u.FirstGroups);
            BatchNorm(b, W, $"{p}.bn1");
            Relu(b);
            if (c.Groups > 1) b = ShuffleChannels(b, c.Groups, c.OfficialShuffle);
            b = Depthwise3x3(b, W($"{p}.dw.weight"), u.Stride);
            BatchNorm(b, W, $"{p}.bn2");
            observePointwiseInput?.Invoke($"{p}.conv3", b.Data);
            b = GroupConv1x1(b, W($"{p}.conv3.weight"), u.BranchOut, c.Groups);
            BatchNorm(b, W, $"{p}.bn3");

            if (u.Stride == 1)
            {
                for (int i = 0; i < b.Data.Length; i++) b.Data[i] += x.Data[i];
                x = b;
            }
            else
            {
                x = Concat(AvgPool3x3Stride2(x), b);
            }
            Relu(x);
        }

        // Global average pool, then the classifier.
        return Linear(GlobalAveragePool(x), W("fc.weight"), W("fc.bias"), c.Classes);
    }

    private sealed record Unit(int Index, int Stride, int In, int Out, int BranchOut, int Bottleneck, int FirstGroups);

    private static List<Unit> Units(ReferenceConfig c)
    {
        if (c.StageChannels.Length != c.StageRepeats.Length)
            throw new ArgumentException("StageChannels and StageRepeats differ in length");
        var units = new List<Unit>();
        int inC = c.StemChannels;
        for (int s = 0; s < c.StageChannels.Length; s++)
        {
            int outC = c.StageChannels[s];
            for (int r = 0; r < c.StageRepeats[s]; r++)
            {
                int index = units.Count;
                int stride = r == 0 ? 2 : 1;
                int m = outC / 4;
                // The very first unit reads the narrow stem output, too few channels to split into groups.
                int g1 = index == 0 ? 1 : c.Groups;
                int branchOut = stride == 2 ? outC - inC : outC;
                Require(outC % 4 == 0, $"unit {index}: output width {outC} is not a multiple of 4");
                Require(m % c.Groups == 0, $"unit {index}: bottleneck {m} is not divisible by {c.Groups} groups");
                Require(inC % g1 == 0, $"unit {index}: input width {inC} is not divisible by {g1} groups");
                Require(branchOut > 0 && branchOut % c.Groups == 0, $"unit {index}: branch width {branchOut} is not a positive multiple of {c.Groups}");
                Require(stride == 2 || inC == outC, $"unit {index}: a stride-1 unit needs equal input and output widths");
                units.Add(new Unit(index, stride, inC, outC, branchOut, m, g1));
                inC = outC;
            }
        }
        return units;
    }

    /// <summary>
    /// The channel shuffle after the first grouped 1x1 convolution: the paper's (Zhang et al., 2017) reshapes the C
    /// channels to (g, C/g), transposes and flattens, i.e. <see cref="TransposeChannels"/> with rows = g. megvii's
    /// official ShuffleNetV1 channel_shuffle, x.reshape(N, C/g, g, H, W).permute(0, 2, 1, 3, 4).reshape(N, C, H, W), is
    /// rows = C/g: its result's channel a·(C/g) + b is the view's element [b, a], channel b·g + a of x.
    /// </summary>
    private static Map ShuffleChannels(Map x, int groups, bool official) => TransposeChannels(x, official ? x.C / groups : groups);
}
