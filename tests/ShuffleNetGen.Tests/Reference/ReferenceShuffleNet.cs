namespace ShuffleNetGen.Tests.Reference;

// The ground truth that generated models are tested against. It deliberately shares no code with the generator
// and is written plainly from the ShuffleNet v1 spec: NCHW loops, double-precision activations and accumulators,
// no folding of batch norm into convolutions, no fusion. If this file and the generator agree, it is because both
// implement the same network, not because they share a mistake.

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
    public const double BatchNormEpsilon = 1e-5;

    /// <summary>One activation: C×H×W values, row-major.</summary>
    private sealed class Map
    {
        public Map(int c, int h, int w)
        {
            C = c;
            H = h;
            W = w;
            Data = new double[c * h * w];
        }

        public int C { get; }
        public int H { get; }
        public int W { get; }
        public double[] Data { get; }

        public double this[int c, int y, int x]
        {
            get => Data[(c * H + y) * W + x];
            set => Data[(c * H + y) * W + x] = value;
        }
    }

    /// <summary>Every tensor the network reads, in the canonical order, with its PyTorch shape.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> WeightShapes(ReferenceConfig c)
    {
        var list = new List<(string, int[])>();
        void BatchNorm(string prefix, int channels)
        {
            foreach (var suffix in new[] { "weight", "bias", "running_mean", "running_var" })
                list.Add(($"{prefix}.{suffix}", new[] { channels }));
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
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length != c.InputChannels * c.InputHeight * c.InputWidth)
            throw new ArgumentException($"input has {input.Length} values, expected {c.InputChannels}x{c.InputHeight}x{c.InputWidth}", nameof(input));

        var shapes = WeightShapes(c).ToDictionary(s => s.Name, s => s.Shape);
        double[] W(string name)
        {
            var data = weight(name) ?? throw new ArgumentException($"weight '{name}' is missing");
            long expected = shapes[name].Aggregate(1L, (a, d) => a * d);
            if (data.Length != expected)
                throw new ArgumentException($"weight '{name}' has {data.Length} values, expected [{string.Join(", ", shapes[name])}] = {expected}");
            return Array.ConvertAll(data, v => (double)v);
        }

        var x = new Map(c.InputChannels, c.InputHeight, c.InputWidth);
        for (int i = 0; i < input.Length; i++) x.Data[i] = input[i];

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
            if (c.Groups > 1) b = TransposeChannels(b, c.OfficialShuffle ? b.C / c.Groups : c.Groups);
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
        var pooled = new double[x.C];
        for (int ch = 0; ch < x.C; ch++)
        {
            double sum = 0;
            for (int i = 0; i < x.H * x.W; i++) sum += x.Data[ch * x.H * x.W + i];
            pooled[ch] = sum / (x.H * x.W);
        }
        var fcW = W("fc.weight");
        var fcB = W("fc.bias");
        var logits = new float[c.Classes];
        for (int k = 0; k < c.Classes; k++)
        {
            double sum = fcB[k];
            for (int ch = 0; ch < x.C; ch++) sum += fcW[k * x.C + ch] * pooled[ch];
            logits[k] = (float)sum;
        }
        return logits;
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

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }

    /// <summary>Output size of a 3x3 window with padding 1.</summary>
    private static int OutSize(int size, int stride) => (size - 1) / stride + 1;

    /// <summary>Full 3x3 convolution, padding 1 with zeros; weights [outC, inC, 3, 3].</summary>
    private static Map Conv3x3(Map x, double[] w, int outC, int stride)
    {
        var y = new Map(outC, OutSize(x.H, stride), OutSize(x.W, stride));
        for (int o = 0; o < outC; o++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double sum = 0;
                    for (int i = 0; i < x.C; i++)
                        for (int ky = 0; ky < 3; ky++)
                        {
                            int iy = oy * stride - 1 + ky;
                            if (iy < 0 || iy >= x.H) continue;
                            for (int kx = 0; kx < 3; kx++)
                            {
                                int ix = ox * stride - 1 + kx;
                                if (ix < 0 || ix >= x.W) continue;
                                sum += w[((o * x.C + i) * 3 + ky) * 3 + kx] * x[i, iy, ix];
                            }
                        }
                    y[o, oy, ox] = sum;
                }
        return y;
    }

    /// <summary>Depthwise 3x3 convolution, padding 1; weights [C, 1, 3, 3].</summary>
    private static Map Depthwise3x3(Map x, double[] w, int stride)
    {
        var y = new Map(x.C, OutSize(x.H, stride), OutSize(x.W, stride));
        for (int ch = 0; ch < x.C; ch++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double sum = 0;
                    for (int ky = 0; ky < 3; ky++)
                    {
                        int iy = oy * stride - 1 + ky;
                        if (iy < 0 || iy >= x.H) continue;
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int ix = ox * stride - 1 + kx;
                            if (ix < 0 || ix >= x.W) continue;
                            sum += w[(ch * 3 + ky) * 3 + kx] * x[ch, iy, ix];
                        }
                    }
                    y[ch, oy, ox] = sum;
                }
        return y;
    }

    /// <summary>
    /// Grouped pointwise convolution; weights [outC, inC/groups, 1, 1]. Output channel o belongs to group
    /// o / (outC/groups) and sees only that group's slice of input channels.
    /// </summary>
    private static Map GroupConv1x1(Map x, double[] w, int outC, int groups)
    {
        int inPerGroup = x.C / groups;
        int outPerGroup = outC / groups;
        int plane = x.H * x.W;
        var y = new Map(outC, x.H, x.W);
        var sums = new double[plane];
        for (int o = 0; o < outC; o++)
        {
            int firstIn = (o / outPerGroup) * inPerGroup;
            Array.Clear(sums);
            for (int i = 0; i < inPerGroup; i++)
            {
                double wi = w[o * inPerGroup + i];
                int src = (firstIn + i) * plane;
                for (int p = 0; p < plane; p++) sums[p] += wi * x.Data[src + p];
            }
            Array.Copy(sums, 0, y.Data, o * plane, plane);
        }
        return y;
    }

    /// <summary>Inference batch norm with running statistics, in place.</summary>
    private static void BatchNorm(Map x, Func<string, double[]> W, string prefix)
    {
        var gamma = W($"{prefix}.weight");
        var beta = W($"{prefix}.bias");
        var mean = W($"{prefix}.running_mean");
        var variance = W($"{prefix}.running_var");
        int plane = x.H * x.W;
        for (int ch = 0; ch < x.C; ch++)
        {
            double inv = 1.0 / Math.Sqrt(variance[ch] + BatchNormEpsilon);
            for (int p = 0; p < plane; p++)
            {
                ref double v = ref x.Data[ch * plane + p];
                v = (v - mean[ch]) * inv * gamma[ch] + beta[ch];
            }
        }
    }

    private static void Relu(Map x)
    {
        for (int i = 0; i < x.Data.Length; i++)
            if (x.Data[i] < 0) x.Data[i] = 0; // NaN stays NaN, as in PyTorch
    }

    /// <summary>
    /// View the C channels as a (rows, C/rows) matrix, transpose it, flatten: channel i·(C/rows) + j moves to
    /// j·rows + i. The paper's shuffle is rows = groups. megvii's ShuffleNetV1 channel_shuffle,
    /// x.reshape(N, C/g, g, H, W).permute(0, 2, 1, 3, 4).reshape(N, C, H, W), is rows = C/g: its result's channel
    /// a·(C/g) + b is the view's element [b, a], channel b·g + a of x.
    /// </summary>
    private static Map TransposeChannels(Map x, int rows)
    {
        int columns = x.C / rows;
        int plane = x.H * x.W;
        var y = new Map(x.C, x.H, x.W);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                Array.Copy(x.Data, (i * columns + j) * plane, y.Data, (j * rows + i) * plane, plane);
        return y;
    }

    /// <summary>3x3 max pool, stride 2, padding 1; padded cells are skipped, never compared.</summary>
    private static Map MaxPool3x3Stride2(Map x)
    {
        var y = new Map(x.C, OutSize(x.H, 2), OutSize(x.W, 2));
        for (int ch = 0; ch < x.C; ch++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double best = double.NegativeInfinity;
                    for (int ky = 0; ky < 3; ky++)
                    {
                        int iy = oy * 2 - 1 + ky;
                        if (iy < 0 || iy >= x.H) continue;
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int ix = ox * 2 - 1 + kx;
                            if (ix < 0 || ix >= x.W) continue;
                            best = Math.Max(best, x[ch, iy, ix]);
                        }
                    }
                    y[ch, oy, ox] = best;
                }
        return y;
    }

    /// <summary>3x3 average pool, stride 2, padding 1, always dividing by 9 (padded zeros count).</summary>
    private static Map AvgPool3x3Stride2(Map x)
    {
        var y = new Map(x.C, OutSize(x.H, 2), OutSize(x.W, 2));
        for (int ch = 0; ch < x.C; ch++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double sum = 0;
                    for (int ky = 0; ky < 3; ky++)
                    {
                        int iy = oy * 2 - 1 + ky;
                        if (iy < 0 || iy >= x.H) continue;
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int ix = ox * 2 - 1 + kx;
                            if (ix < 0 || ix >= x.W) continue;
                            sum += x[ch, iy, ix];
                        }
                    }
                    y[ch, oy, ox] = sum / 9.0;
                }
        return y;
    }

    /// <summary>Channel concatenation, <paramref name="first"/>'s channels first.</summary>
    private static Map Concat(Map first, Map second)
    {
        if (first.H != second.H || first.W != second.W)
            throw new InvalidOperationException($"concat of {first.H}x{first.W} and {second.H}x{second.W} maps");
        var y = new Map(first.C + second.C, first.H, first.W);
        Array.Copy(first.Data, 0, y.Data, 0, first.Data.Length);
        Array.Copy(second.Data, 0, y.Data, first.Data.Length, second.Data.Length);
        return y;
    }
}
