namespace ShuffleNetGen.Tests.Reference;

// The ground truth for the generator's ShuffleNet v2 models. Like ReferenceShuffleNet (v1) it shares no code with the
// generator and is written plainly from the network's definition: NCHW loops, double-precision activations and
// accumulators, batch norm applied as its own step with the running statistics (never folded), no fusion.
//
// The definition (Ma et al., 2018, as torchvision.models.ShuffleNetV2 builds it):
//   stem   conv1: 3x3 conv stride 2 pad 1 (no bias), BN, ReLU; then 3x3 max pool stride 2 pad 1.
//   stage  the first unit has stride 2, the others stride 1; every unit outputs the stage width w, two halves of w/2.
//     stride 1: split the input channels in halves; the first half passes untouched; the second half goes through
//               branch2 = 1x1 conv, BN, ReLU; 3x3 depthwise pad 1, BN (no ReLU); 1x1 conv, BN, ReLU.
//               y = concat(first half, branch2 output).
//     stride 2: no split. branch1 = 3x3 depthwise stride 2, BN; 1x1 conv, BN, ReLU (input width -> w/2).
//               branch2 as above with its depthwise at stride 2 and its first 1x1 reading all input channels.
//               y = concat(branch1 output, branch2 output).
//     then a channel shuffle with 2 groups: output channel 2i is y's channel i, 2i+1 is y's channel C/2 + i.
//   head   conv5: 1x1 conv, BN, ReLU to the final width; mean over H and W; fc (with bias).
//   BN epsilon 1e-5. Tensor names are torchvision's state_dict names (stage2.., conv5, fc); stage S of a network with
//   more than three stages is named stage{S+1} as torchvision's naming extends (stage5 for the fourth).

/// <summary>
/// A ShuffleNet v2 architecture: 1 to 4 stages of any even widths, any input channels and size. The fixtures' json
/// uses the same keys in snake case (tools/make_v2_fixtures.py).
/// </summary>
public sealed record ReferenceV2Config(
    int StemChannels,
    int[] StageChannels,
    int[] StageRepeats,
    int FinalChannels,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    int Classes)
{
    /// <summary>torchvision's stage repeats for every width multiplier.</summary>
    public static IReadOnlyList<int> TorchvisionRepeats { get; } = new[] { 4, 8, 4 };

    /// <summary>torchvision's widths (stem, stage2, stage3, stage4, conv5) per width multiplier.</summary>
    public static IReadOnlyDictionary<double, int[]> ScaleWidths { get; } = new Dictionary<double, int[]>
    {
        [0.5] = new[] { 24, 48, 96, 192, 1024 },
        [1.0] = new[] { 24, 116, 232, 464, 1024 },
        [1.5] = new[] { 24, 176, 352, 704, 1024 },
        [2.0] = new[] { 24, 244, 488, 976, 2048 },
    };

    /// <summary>torchvision's shufflenet_v2_x{scale} at the given input size and class count.</summary>
    public static ReferenceV2Config ForScale(double scale, int inputHeight = 224, int inputWidth = 224, int classes = 1000)
    {
        if (!ScaleWidths.TryGetValue(scale, out var w)) throw new ArgumentException($"torchvision has no ShuffleNetV2 x{scale}", nameof(scale));
        return new(w[0], new[] { w[1], w[2], w[3] }, TorchvisionRepeats.ToArray(), w[4], 3, inputHeight, inputWidth, classes);
    }

    public override string ToString() =>
        $"stem {StemChannels}, stages [{string.Join(", ", StageChannels)}] x [{string.Join(", ", StageRepeats)}], final {FinalChannels}, " +
        $"input {InputChannels}x{InputHeight}x{InputWidth}, {Classes} classes";
}

/// <summary>Scalar ShuffleNet v2 forward pass over torchvision-named weights.</summary>
public static class ReferenceShuffleNetV2
{
    public const double BatchNormEpsilon = 1e-5;

    private static readonly string[] s_batchNormParts = { "weight", "bias", "running_mean", "running_var" };

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
        public int Plane => H * W;
        public double[] Data { get; }

        public double this[int c, int y, int x]
        {
            get => Data[(c * H + y) * W + x];
            set => Data[(c * H + y) * W + x] = value;
        }
    }

    /// <summary>The name of stage <paramref name="index"/> (0-based): torchvision counts from stage2.</summary>
    public static string StageName(int index) => $"stage{index + 2}";

    /// <summary>
    /// Every tensor of the network in torchvision's state_dict order with its shape. With
    /// <paramref name="includeBatchCounters"/>, also each batch norm's <c>num_batches_tracked</c> (an int64 scalar, shape
    /// []) where torch's state_dict has it; the forward pass never reads those.
    /// </summary>
    public static IReadOnlyList<(string Name, int[] Shape)> WeightShapes(ReferenceV2Config c, bool includeBatchCounters = false)
    {
        Check(c);
        var list = new List<(string, int[])>();
        void Conv(string prefix, params int[] shape) => list.Add(($"{prefix}.weight", shape));
        void BatchNorm(string prefix, int channels)
        {
            foreach (var part in s_batchNormParts) list.Add(($"{prefix}.{part}", new[] { channels }));
            if (includeBatchCounters) list.Add(($"{prefix}.num_batches_tracked", Array.Empty<int>()));
        }

        Conv("conv1.0", c.StemChannels, c.InputChannels, 3, 3);
        BatchNorm("conv1.1", c.StemChannels);
        int inC = c.StemChannels;
        for (int s = 0; s < c.StageChannels.Length; s++)
        {
            int half = c.StageChannels[s] / 2;
            for (int u = 0; u < c.StageRepeats[s]; u++)
            {
                string p = $"{StageName(s)}.{u}";
                if (u == 0)
                {
                    Conv($"{p}.branch1.0", inC, 1, 3, 3);
                    BatchNorm($"{p}.branch1.1", inC);
                    Conv($"{p}.branch1.2", half, inC, 1, 1);
                    BatchNorm($"{p}.branch1.3", half);
                }
                Conv($"{p}.branch2.0", half, u == 0 ? inC : half, 1, 1);
                BatchNorm($"{p}.branch2.1", half);
                Conv($"{p}.branch2.3", half, 1, 3, 3);
                BatchNorm($"{p}.branch2.4", half);
                Conv($"{p}.branch2.5", half, half, 1, 1);
                BatchNorm($"{p}.branch2.6", half);
                inC = c.StageChannels[s];
            }
        }
        Conv("conv5.0", c.FinalChannels, inC, 1, 1);
        BatchNorm("conv5.1", c.FinalChannels);
        list.Add(("fc.weight", new[] { c.Classes, c.FinalChannels }));
        list.Add(("fc.bias", new[] { c.Classes }));
        return list;
    }

    /// <summary>
    /// Multiply-adds of one image: every convolution (output positions × input channels per group × kernel area) and
    /// the classifier (in × out). Pools, batch norms, ReLUs, the mean and the fc bias are not counted, as torchvision's
    /// published figures count (forward hooks on Conv2d and Linear).
    /// </summary>
    public static long MultiplyAdds(ReferenceV2Config c)
    {
        Check(c);
        long total = 0;
        int h = OutSize(c.InputHeight, 2), w = OutSize(c.InputWidth, 2);
        total += (long)h * w * c.StemChannels * c.InputChannels * 9;
        h = OutSize(h, 2);
        w = OutSize(w, 2);
        long inC = c.StemChannels;
        for (int s = 0; s < c.StageChannels.Length; s++)
        {
            long half = c.StageChannels[s] / 2;
            for (int u = 0; u < c.StageRepeats[s]; u++)
            {
                if (u == 0)
                {
                    long inPlane = (long)h * w;
                    h = OutSize(h, 2);
                    w = OutSize(w, 2);
                    long plane = (long)h * w;
                    total += plane * inC * 9 + plane * inC * half;                       // branch1: depthwise s2, 1x1
                    total += inPlane * inC * half + plane * half * 9 + plane * half * half; // branch2: 1x1, depthwise s2, 1x1
                }
                else
                {
                    long plane = (long)h * w;
                    total += plane * half * half * 2 + plane * half * 9;                // branch2 on the second half
                }
            }
            inC = c.StageChannels[s];
        }
        total += (long)h * w * inC * c.FinalChannels;
        total += (long)c.FinalChannels * c.Classes;
        return total;
    }

    /// <summary>
    /// Runs the network on one C×H×W image. <paramref name="weight"/> returns the raw row-major tensor for a
    /// torchvision name (see <see cref="WeightShapes"/>); <c>num_batches_tracked</c> is never asked for.
    /// </summary>
    public static float[] Forward(ReferenceV2Config c, Func<string, float[]> weight, float[] input)
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

        // Stem.
        x = Conv3x3(x, W("conv1.0.weight"), c.StemChannels, stride: 2);
        BatchNorm(x, W, "conv1.1");
        Relu(x);
        x = MaxPool3x3Stride2(x);

        for (int s = 0; s < c.StageChannels.Length; s++)
        {
            int half = c.StageChannels[s] / 2;
            for (int u = 0; u < c.StageRepeats[s]; u++)
            {
                string p = $"{StageName(s)}.{u}";
                Map joined;
                if (u == 0)
                {
                    var b1 = Depthwise3x3(x, W($"{p}.branch1.0.weight"), stride: 2);
                    BatchNorm(b1, W, $"{p}.branch1.1");
                    b1 = Conv1x1(b1, W($"{p}.branch1.2.weight"), half);
                    BatchNorm(b1, W, $"{p}.branch1.3");
                    Relu(b1);
                    var b2 = Branch2(x, W, p, half, stride: 2);
                    joined = Concat(b1, b2);
                }
                else
                {
                    var (first, second) = SplitHalves(x);
                    joined = Concat(first, Branch2(second, W, p, half, stride: 1));
                }
                x = ShuffleTwoGroups(joined);
            }
        }

        x = Conv1x1(x, W("conv5.0.weight"), c.FinalChannels);
        BatchNorm(x, W, "conv5.1");
        Relu(x);

        // Global average pool: the mean over H and W, then the classifier.
        var pooled = new double[x.C];
        for (int ch = 0; ch < x.C; ch++)
        {
            double sum = 0;
            for (int i = 0; i < x.Plane; i++) sum += x.Data[ch * x.Plane + i];
            pooled[ch] = sum / x.Plane;
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

    /// <summary>1x1 conv, BN, ReLU; 3x3 depthwise (stride <paramref name="stride"/>), BN; 1x1 conv, BN, ReLU.</summary>
    private static Map Branch2(Map x, Func<string, double[]> W, string p, int half, int stride)
    {
        var b = Conv1x1(x, W($"{p}.branch2.0.weight"), half);
        BatchNorm(b, W, $"{p}.branch2.1");
        Relu(b);
        b = Depthwise3x3(b, W($"{p}.branch2.3.weight"), stride);
        BatchNorm(b, W, $"{p}.branch2.4");
        b = Conv1x1(b, W($"{p}.branch2.5.weight"), half);
        BatchNorm(b, W, $"{p}.branch2.6");
        Relu(b);
        return b;
    }

    private static void Check(ReferenceV2Config c)
    {
        ArgumentNullException.ThrowIfNull(c);
        Require(c.StageChannels.Length is >= 1 and <= 4, $"1 to 4 stages, got {c.StageChannels.Length}");
        Require(c.StageChannels.Length == c.StageRepeats.Length, "StageChannels and StageRepeats differ in length");
        for (int s = 0; s < c.StageChannels.Length; s++)
        {
            Require(c.StageChannels[s] > 0 && c.StageChannels[s] % 2 == 0, $"stage {s}: width {c.StageChannels[s]} is not positive and even");
            Require(c.StageRepeats[s] >= 1, $"stage {s}: {c.StageRepeats[s]} units; a stage has at least its stride-2 unit");
        }
        Require(c.StemChannels > 0 && c.FinalChannels > 0 && c.InputChannels > 0 && c.Classes > 0, "widths and classes must be positive");
        Require(c.InputHeight > 0 && c.InputWidth > 0, "the input must have at least one pixel");
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

    /// <summary>Depthwise 3x3 convolution, padding 1 with zeros; weights [C, 1, 3, 3].</summary>
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

    /// <summary>Dense pointwise convolution, no bias; weights [outC, inC, 1, 1].</summary>
    private static Map Conv1x1(Map x, double[] w, int outC)
    {
        var y = new Map(outC, x.H, x.W);
        int plane = x.Plane;
        for (int o = 0; o < outC; o++)
        {
            int dst = o * plane;
            for (int i = 0; i < x.C; i++)
            {
                double wi = w[o * x.C + i];
                int src = i * plane;
                for (int p = 0; p < plane; p++) y.Data[dst + p] += wi * x.Data[src + p];
            }
        }
        return y;
    }

    /// <summary>Inference batch norm with running statistics, in place: (x - mean) / sqrt(var + eps) * gamma + beta.</summary>
    private static void BatchNorm(Map x, Func<string, double[]> W, string prefix)
    {
        var gamma = W($"{prefix}.weight");
        var beta = W($"{prefix}.bias");
        var mean = W($"{prefix}.running_mean");
        var variance = W($"{prefix}.running_var");
        for (int ch = 0; ch < x.C; ch++)
        {
            double inv = 1.0 / Math.Sqrt(variance[ch] + BatchNormEpsilon);
            for (int p = 0; p < x.Plane; p++)
            {
                ref double v = ref x.Data[ch * x.Plane + p];
                v = (v - mean[ch]) * inv * gamma[ch] + beta[ch];
            }
        }
    }

    private static void Relu(Map x)
    {
        for (int i = 0; i < x.Data.Length; i++)
            if (x.Data[i] < 0) x.Data[i] = 0; // NaN stays NaN, as in PyTorch
    }

    /// <summary>Channels [0, C/2) and [C/2, C).</summary>
    private static (Map First, Map Second) SplitHalves(Map x)
    {
        int half = x.C / 2;
        var first = new Map(half, x.H, x.W);
        var second = new Map(x.C - half, x.H, x.W);
        Array.Copy(x.Data, 0, first.Data, 0, first.Data.Length);
        Array.Copy(x.Data, first.Data.Length, second.Data, 0, second.Data.Length);
        return (first, second);
    }

    /// <summary>Output channel 2i is input channel i, output channel 2i + 1 is input channel C/2 + i.</summary>
    private static Map ShuffleTwoGroups(Map x)
    {
        if (x.C % 2 != 0) throw new InvalidOperationException($"a 2-group shuffle of {x.C} channels");
        int half = x.C / 2;
        var y = new Map(x.C, x.H, x.W);
        for (int i = 0; i < half; i++)
        {
            Array.Copy(x.Data, i * x.Plane, y.Data, 2 * i * x.Plane, x.Plane);
            Array.Copy(x.Data, (half + i) * x.Plane, y.Data, (2 * i + 1) * x.Plane, x.Plane);
        }
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
