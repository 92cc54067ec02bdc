namespace ShuffleNetGen.Tests.Reference;

// The primitives of the scalar references (ReferenceShuffleNet for v1, ReferenceShuffleNetV2 for v2), written once.
// Like the references, they share no code with the generator and are written plainly from the operators'
// definitions: NCHW loops over C×H×W maps, double-precision activations and accumulators, batch norm applied as its own
// step with the running statistics (never folded into a convolution), no fusion. Each reference keeps its network's
// definition (its units, its channel shuffle, its tensor names) in its own file. A mistake here would be in both
// references, but each is checked against its own framework (ReferenceVsPyTorchTests, ReferenceV2VsTorchvisionTests).

/// <summary>The operators both ShuffleNet references are built from.</summary>
internal static class ReferenceOps
{
    /// <summary>torch.nn.BatchNorm2d's default, which both networks use.</summary>
    public const double BatchNormEpsilon = 1e-5;

    /// <summary>A batch norm's tensors after its name prefix, in PyTorch's state_dict order.</summary>
    public static IReadOnlyList<string> BatchNormParts { get; } = new[] { "weight", "bias", "running_mean", "running_var" };

    private static readonly double[] s_ones = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };

    /// <summary>One activation: C×H×W values, row-major.</summary>
    public sealed class Map
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

    public static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }

    /// <summary>The input image as a map, after checking it has C×H×W values.</summary>
    public static Map Image(float[] input, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length != channels * height * width)
            throw new ArgumentException($"input has {input.Length} values, expected {channels}x{height}x{width}", nameof(input));
        var x = new Map(channels, height, width);
        for (int i = 0; i < input.Length; i++) x.Data[i] = input[i];
        return x;
    }

    /// <summary>
    /// The weights as doubles: <paramref name="weight"/> asked for each name, its answer checked against the shape
    /// <paramref name="shapes"/> gives that name.
    /// </summary>
    public static Func<string, double[]> CheckedWeights(Func<string, float[]> weight, IEnumerable<(string Name, int[] Shape)> shapes)
    {
        var shapeOf = shapes.ToDictionary(s => s.Name, s => s.Shape);
        return name =>
        {
            var data = weight(name) ?? throw new ArgumentException($"weight '{name}' is missing");
            long expected = shapeOf[name].Aggregate(1L, (a, d) => a * d);
            if (data.Length != expected)
                throw new ArgumentException($"weight '{name}' has {data.Length} values, expected [{string.Join(", ", shapeOf[name])}] = {expected}");
            return Array.ConvertAll(data, v => (double)v);
        };
    }

    /// <summary>Output size of a 3x3 window with padding 1.</summary>
    public static int OutSize(int size, int stride) => (size - 1) / stride + 1;

    /// <summary>
    /// <paramref name="sum"/> plus the 3x3 window of channel <paramref name="ch"/> at output position
    /// (<paramref name="oy"/>, <paramref name="ox"/>), padding 1 with zeros, weighted by the 9 values of
    /// <paramref name="w"/> from <paramref name="offset"/> (row-major [3, 3]); taps are added in row-major order, padded
    /// ones skipped.
    /// </summary>
    private static double WindowSum(Map x, int ch, int oy, int ox, int stride, double[] w, int offset, double sum)
    {
        for (int ky = 0; ky < 3; ky++)
        {
            int iy = oy * stride - 1 + ky;
            if (iy < 0 || iy >= x.H) continue;
            for (int kx = 0; kx < 3; kx++)
            {
                int ix = ox * stride - 1 + kx;
                if (ix < 0 || ix >= x.W) continue;
                sum += w[offset + ky * 3 + kx] * x[ch, iy, ix];
            }
        }
        return sum;
    }

    /// <summary>Full 3x3 convolution, padding 1 with zeros; weights [outC, inC, 3, 3].</summary>
    public static Map Conv3x3(Map x, double[] w, int outC, int stride)
    {
        var y = new Map(outC, OutSize(x.H, stride), OutSize(x.W, stride));
        for (int o = 0; o < outC; o++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double sum = 0;
                    for (int i = 0; i < x.C; i++) sum = WindowSum(x, i, oy, ox, stride, w, (o * x.C + i) * 9, sum);
                    y[o, oy, ox] = sum;
                }
        return y;
    }

    /// <summary>Depthwise 3x3 convolution, padding 1 with zeros; weights [C, 1, 3, 3].</summary>
    public static Map Depthwise3x3(Map x, double[] w, int stride)
    {
        var y = new Map(x.C, OutSize(x.H, stride), OutSize(x.W, stride));
        for (int ch = 0; ch < x.C; ch++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                    y[ch, oy, ox] = WindowSum(x, ch, oy, ox, stride, w, ch * 9, 0);
        return y;
    }

    /// <summary>
    /// Grouped pointwise convolution, no bias; weights [outC, inC/groups, 1, 1]. Output channel o belongs to group
    /// o / (outC/groups) and sees only that group's slice of input channels.
    /// </summary>
    public static Map GroupConv1x1(Map x, double[] w, int outC, int groups)
    {
        int inPerGroup = x.C / groups;
        int outPerGroup = outC / groups;
        int plane = x.Plane;
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

    /// <summary>Dense pointwise convolution, no bias; weights [outC, inC, 1, 1]: one group.</summary>
    public static Map Conv1x1(Map x, double[] w, int outC) => GroupConv1x1(x, w, outC, groups: 1);

    /// <summary>
    /// Inference batch norm with running statistics, in place: (x - mean) / sqrt(var + eps) * gamma + beta, the tensors
    /// named <paramref name="prefix"/>.<see cref="BatchNormParts"/>.
    /// </summary>
    public static void BatchNorm(Map x, Func<string, double[]> W, string prefix)
    {
        var gamma = W($"{prefix}.weight");
        var beta = W($"{prefix}.bias");
        var mean = W($"{prefix}.running_mean");
        var variance = W($"{prefix}.running_var");
        int plane = x.Plane;
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

    public static void Relu(Map x)
    {
        for (int i = 0; i < x.Data.Length; i++)
            if (x.Data[i] < 0) x.Data[i] = 0; // NaN stays NaN, as in PyTorch
    }

    /// <summary>
    /// View the C channels as a (rows, C/rows) matrix, transpose it, flatten: channel i·(C/rows) + j moves to
    /// j·rows + i. A channel shuffle with g groups is rows = g (output channel j·g + i is group i's channel j).
    /// </summary>
    public static Map TransposeChannels(Map x, int rows)
    {
        int columns = x.C / rows;
        int plane = x.Plane;
        var y = new Map(x.C, x.H, x.W);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                Array.Copy(x.Data, (i * columns + j) * plane, y.Data, (j * rows + i) * plane, plane);
        return y;
    }

    /// <summary>3x3 max pool, stride 2, padding 1; padded cells are skipped, never compared.</summary>
    public static Map MaxPool3x3Stride2(Map x)
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

    /// <summary>
    /// 3x3 average pool, stride 2, padding 1, always dividing by 9 (padded zeros count): the window's sum with every
    /// weight 1 (exact), over 9.
    /// </summary>
    public static Map AvgPool3x3Stride2(Map x)
    {
        var y = new Map(x.C, OutSize(x.H, 2), OutSize(x.W, 2));
        for (int ch = 0; ch < x.C; ch++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                    y[ch, oy, ox] = WindowSum(x, ch, oy, ox, 2, s_ones, 0, 0) / 9.0;
        return y;
    }

    /// <summary>Channel concatenation, <paramref name="first"/>'s channels first.</summary>
    public static Map Concat(Map first, Map second)
    {
        if (first.H != second.H || first.W != second.W)
            throw new InvalidOperationException($"concat of {first.H}x{first.W} and {second.H}x{second.W} maps");
        var y = new Map(first.C + second.C, first.H, first.W);
        Array.Copy(first.Data, 0, y.Data, 0, first.Data.Length);
        Array.Copy(second.Data, 0, y.Data, first.Data.Length, second.Data.Length);
        return y;
    }

    /// <summary>Channels [0, C/2) and [C/2, C): the inverse of <see cref="Concat"/>.</summary>
    public static (Map First, Map Second) SplitHalves(Map x)
    {
        int half = x.C / 2;
        var first = new Map(half, x.H, x.W);
        var second = new Map(x.C - half, x.H, x.W);
        Array.Copy(x.Data, 0, first.Data, 0, first.Data.Length);
        Array.Copy(x.Data, first.Data.Length, second.Data, 0, second.Data.Length);
        return (first, second);
    }

    /// <summary>Global average pool: each channel's mean over H and W.</summary>
    public static double[] GlobalAveragePool(Map x)
    {
        var pooled = new double[x.C];
        for (int ch = 0; ch < x.C; ch++)
        {
            double sum = 0;
            for (int i = 0; i < x.Plane; i++) sum += x.Data[ch * x.Plane + i];
            pooled[ch] = sum / x.Plane;
        }
        return pooled;
    }

    /// <summary>Fully connected layer with bias, weights [outputs, inputs]; the outputs rounded to float once, at the end.</summary>
    public static float[] Linear(double[] x, double[] w, double[] bias, int outputs)
    {
        var y = new float[outputs];
        for (int k = 0; k < outputs; k++)
        {
            double sum = bias[k];
            for (int i = 0; i < x.Length; i++) sum += w[k * x.Length + i] * x[i];
            y[k] = (float)sum;
        }
        return y;
    }
}
