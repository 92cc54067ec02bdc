using ShuffleNetGen;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Weights;

namespace Conformance;

/// <summary>
/// Calibration tensors for the int8 cases, computed so that every architecture gets the same bits: the ranges of the
/// 1x1 convolutions' inputs from a plain double-precision forward pass (scalar loops, one rounding per operation, no
/// vectors and no fused multiply-adds, so x64 and ARM64 compute identical doubles), turned into scales and zero points
/// by <see cref="ActivationQuantization.FromRange"/>. <see cref="Int8Calibration.Calibrate"/> is not used here: its float
/// pass uses <c>Vector&lt;float&gt;</c>, whose width (and so the order of additions) differs between the two.
/// </summary>
/// <remarks>
/// The network is the scalar reference's (tests/ShuffleNetGen.Tests/Reference/ReferenceShuffleNet.cs), written again in
/// the same plain way because that one exposes only the logits. If the two disagreed on the network the int8 logits
/// would stop following the reference's, which Program.cs checks.
/// </remarks>
internal static class Int8Ranges
{
    private const double Epsilon = 1e-5;

    /// <summary><paramref name="floatWeights"/> plus <c>{conv}.input_scale</c> and <c>{conv}.input_zero_point</c> for every 1x1 convolution, from the images' min/max.</summary>
    public static TensorSet Calibrate(ModelDescription d, TensorSet floatWeights, IEnumerable<float[]> images)
    {
        var min = new Dictionary<string, double>(StringComparer.Ordinal);
        var max = new Dictionary<string, double>(StringComparer.Ordinal);
        void Observe(string conv, double[] values)
        {
            double lo = min.GetValueOrDefault(conv, double.PositiveInfinity), hi = max.GetValueOrDefault(conv, double.NegativeInfinity);
            foreach (double v in values)
            {
                if (!double.IsFinite(v)) throw new InvalidOperationException($"{conv}: activation {v}");
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
            min[conv] = lo;
            max[conv] = hi;
        }
        foreach (var image in images) Forward(d, n => floatWeights[n].Data, image, Observe);

        var convolutions = Int8Calibration.PointwiseConvolutions(d);
        if (!convolutions.OrderBy(n => n, StringComparer.Ordinal).SequenceEqual(min.Keys.OrderBy(n => n, StringComparer.Ordinal)))
            throw new InvalidOperationException($"the range pass observed [{string.Join(", ", min.Keys)}], the model quantizes [{string.Join(", ", convolutions)}]");
        var result = new TensorSet();
        foreach (var t in floatWeights) result.Add(t);
        foreach (var conv in convolutions)
        {
            var (scale, zeroPoint) = ActivationQuantization.FromRange((float)min[conv], (float)max[conv]);
            result.Add(conv + Int8Calibration.InputScaleSuffix, new[] { 1 }, new[] { scale });
            result.Add(conv + Int8Calibration.InputZeroPointSuffix, new[] { 1 }, new[] { (float)zeroPoint });
        }
        return result;
    }

    /// <summary>One C×H×W activation.</summary>
    private sealed record Map(int C, int H, int W, double[] Data)
    {
        public Map(int c, int h, int w) : this(c, h, w, new double[c * h * w]) { }
        public int Plane => H * W;
    }

    /// <summary>The forward pass up to the last unit, reporting each 1x1 convolution's input.</summary>
    private static void Forward(ModelDescription d, Func<string, float[]> weight, float[] image, Action<string, double[]> observe)
    {
        var x = new Map(d.InputChannels, d.InputHeight, d.InputWidth, Array.ConvertAll(image, v => (double)v));
        x = Conv3x3(x, weight("conv1.weight"), d.StemChannels, d.StemStride);
        BatchNorm(x, weight, "bn1");
        Relu(x);
        if (d.StemMaxPool) x = Pool(x, max: true);

        int unit = 0;
        for (int s = 0; s < d.StageChannels.Count; s++)
        {
            int outC = d.StageChannels[s];
            for (int r = 0; r < d.StageRepeats[s]; r++, unit++)
            {
                string p = $"units.{unit}";
                int stride = r == 0 ? 2 : 1;
                int bottleneck = outC / 4;
                int branchOut = stride == 2 ? outC - x.C : outC;
                observe(p + ".conv1", x.Data);
                var b = GroupConv1x1(x, weight(p + ".conv1.weight"), bottleneck, unit == 0 ? 1 : d.Groups);
                BatchNorm(b, weight, p + ".bn1");
                Relu(b);
                if (d.Groups > 1) b = Shuffle(b, d.ShuffleOrder == ShuffleOrder.Official ? b.C / d.Groups : d.Groups);
                b = Depthwise3x3(b, weight(p + ".dw.weight"), stride);
                BatchNorm(b, weight, p + ".bn2");
                observe(p + ".conv3", b.Data);
                b = GroupConv1x1(b, weight(p + ".conv3.weight"), branchOut, d.Groups);
                BatchNorm(b, weight, p + ".bn3");
                if (stride == 1)
                {
                    for (int i = 0; i < b.Data.Length; i++) b.Data[i] += x.Data[i];
                    x = b;
                }
                else
                {
                    var pooled = Pool(x, max: false);
                    x = new Map(pooled.C + b.C, b.H, b.W, pooled.Data.Concat(b.Data).ToArray());
                }
                Relu(x);
            }
        }
    }

    private static int OutSize(int size, int stride) => (size - 1) / stride + 1;

    private static Map Conv3x3(Map x, float[] w, int outC, int stride)
    {
        var y = new Map(outC, OutSize(x.H, stride), OutSize(x.W, stride));
        for (int o = 0; o < outC; o++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double sum = 0;
                    for (int i = 0; i < x.C; i++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++)
                            {
                                int iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx;
                                if (iy >= 0 && iy < x.H && ix >= 0 && ix < x.W)
                                    sum += w[((o * x.C + i) * 3 + ky) * 3 + kx] * x.Data[(i * x.H + iy) * x.W + ix];
                            }
                    y.Data[(o * y.H + oy) * y.W + ox] = sum;
                }
        return y;
    }

    private static Map Depthwise3x3(Map x, float[] w, int stride)
    {
        var y = new Map(x.C, OutSize(x.H, stride), OutSize(x.W, stride));
        for (int c = 0; c < x.C; c++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double sum = 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx;
                            if (iy >= 0 && iy < x.H && ix >= 0 && ix < x.W)
                                sum += w[(c * 3 + ky) * 3 + kx] * x.Data[(c * x.H + iy) * x.W + ix];
                        }
                    y.Data[(c * y.H + oy) * y.W + ox] = sum;
                }
        return y;
    }

    private static Map GroupConv1x1(Map x, float[] w, int outC, int groups)
    {
        int inPerGroup = x.C / groups, outPerGroup = outC / groups, plane = x.Plane;
        var y = new Map(outC, x.H, x.W);
        for (int o = 0; o < outC; o++)
        {
            int first = o / outPerGroup * inPerGroup;
            for (int i = 0; i < inPerGroup; i++)
            {
                double wi = w[o * inPerGroup + i];
                for (int q = 0; q < plane; q++) y.Data[o * plane + q] += wi * x.Data[(first + i) * plane + q];
            }
        }
        return y;
    }

    private static void BatchNorm(Map x, Func<string, float[]> weight, string prefix)
    {
        float[] gamma = weight(prefix + ".weight"), beta = weight(prefix + ".bias"), mean = weight(prefix + ".running_mean"), variance = weight(prefix + ".running_var");
        for (int c = 0; c < x.C; c++)
        {
            double inv = 1.0 / Math.Sqrt(variance[c] + Epsilon);
            for (int q = 0; q < x.Plane; q++)
            {
                ref double v = ref x.Data[c * x.Plane + q];
                v = (v - mean[c]) * inv * gamma[c] + beta[c];
            }
        }
    }

    private static void Relu(Map x)
    {
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = Math.Max(x.Data[i], 0);
    }

    /// <summary>Channel i·(C/rows) + j moves to j·rows + i (rows = groups: the paper's shuffle; C/groups: megvii's).</summary>
    private static Map Shuffle(Map x, int rows)
    {
        int columns = x.C / rows;
        var y = new Map(x.C, x.H, x.W);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                Array.Copy(x.Data, (i * columns + j) * x.Plane, y.Data, (j * rows + i) * x.Plane, x.Plane);
        return y;
    }

    /// <summary>3x3, stride 2, padding 1: max over the cells inside, or the average over 9 (padding counts as zero).</summary>
    private static Map Pool(Map x, bool max)
    {
        var y = new Map(x.C, OutSize(x.H, 2), OutSize(x.W, 2));
        for (int c = 0; c < x.C; c++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                            if (iy < 0 || iy >= x.H || ix < 0 || ix >= x.W) continue;
                            double v = x.Data[(c * x.H + iy) * x.W + ix];
                            acc = max ? Math.Max(acc, v) : acc + v;
                        }
                    y.Data[(c * y.H + oy) * y.W + ox] = max ? acc : acc / 9.0;
                }
        return y;
    }
}
