using static ShuffleNetGen.Tests.Reference.ReferenceOps;

namespace ShuffleNetGen.Tests.Reference;

// The ground truth for the generator's ShuffleNet v2 models. Like ReferenceShuffleNet (v1) it shares no code with the
// generator and is written plainly from the network's definition: NCHW loops, double-precision activations and
// accumulators, batch norm applied as its own step with the running statistics (never folded), no fusion. The
// operators are ReferenceOps (shared with the v1 reference); this file is the network below.
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
    /// <summary>The architecture a generated v2 model declares (<see cref="ModelDescription.Version"/> 2).</summary>
    /// <exception cref="ArgumentException"><paramref name="d"/> describes another family.</exception>
    public static ReferenceV2Config Of(ModelDescription d)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (d.Version != 2) throw new ArgumentException($"{d.Name} is a ShuffleNet v{d.Version}, not a v2", nameof(d));
        return new(d.StemChannels, d.StageChannels.ToArray(), d.StageRepeats.ToArray(), d.FinalChannels, d.InputChannels, d.InputHeight, d.InputWidth, d.Classes);
    }

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
            foreach (var part in BatchNormParts) list.Add(($"{prefix}.{part}", new[] { channels }));
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
    /// <paramref name="observePointwiseInput"/>, if given, sees the input of every 1x1 convolution (<c>branch1.2</c>,
    /// <c>branch2.0</c>, <c>branch2.5</c>, <c>conv5.0</c>) before it runs, as v1's reference does for the conformance
    /// runner's int8 calibration.
    /// </summary>
    public static float[] Forward(ReferenceV2Config c, Func<string, float[]> weight, float[] input, Action<string, double[]>? observePointwiseInput = null)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(weight);
        var x = Image(input, c.InputChannels, c.InputHeight, c.InputWidth);
        var W = CheckedWeights(weight, WeightShapes(c));

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
                    observePointwiseInput?.Invoke($"{p}.branch1.2", b1.Data);
                    b1 = Conv1x1(b1, W($"{p}.branch1.2.weight"), half);
                    BatchNorm(b1, W, $"{p}.branch1.3");
                    Relu(b1);
                    var b2 = Branch2(x, W, p, half, stride: 2, observePointwiseInput);
                    joined = Concat(b1, b2);
                }
                else
                {
                    var (first, second) = SplitHalves(x);
                    joined = Concat(first, Branch2(second, W, p, half, stride: 1, observePointwiseInput));
                }
                x = ShuffleTwoGroups(joined);
            }
        }

        observePointwiseInput?.Invoke("conv5.0", x.Data);
        x = Conv1x1(x, W("conv5.0.weight"), c.FinalChannels);
        BatchNorm(x, W, "conv5.1");
        Relu(x);

        // Global average pool: the mean over H and W, then the classifier.
        return Linear(GlobalAveragePool(x), W("fc.weight"), W("fc.bias"), c.Classes);
    }

    /// <summary>1x1 conv, BN, ReLU; 3x3 depthwise (stride <paramref name="stride"/>), BN; 1x1 conv, BN, ReLU.</summary>
    private static Map Branch2(Map x, Func<string, double[]> W, string p, int half, int stride, Action<string, double[]>? observePointwiseInput)
    {
        observePointwiseInput?.Invoke($"{p}.branch2.0", x.Data);
        var b = Conv1x1(x, W($"{p}.branch2.0.weight"), half);
        BatchNorm(b, W, $"{p}.branch2.1");
        Relu(b);
        b = Depthwise3x3(b, W($"{p}.branch2.3.weight"), stride);
        BatchNorm(b, W, $"{p}.branch2.4");
        observePointwiseInput?.Invoke($"{p}.branch2.5", b.Data);
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

    /// <summary>
    /// The channel shuffle with 2 groups: the C channels viewed as (2, C/2), transposed and flattened, so output channel
    /// 2i is input channel i and output channel 2i + 1 is input channel C/2 + i.
    /// </summary>
    private static Map ShuffleTwoGroups(Map x)
    {
        if (x.C % 2 != 0) throw new InvalidOperationException($"a 2-group shuffle of {x.C} channels");
        return TransposeChannels(x, rows: 2);
    }
}
