using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.InteropServices;
using ShuffleNetGen.Weights;

namespace ShuffleNetGen.Quantization;

/// <summary>Receives the input of a 1x1 convolution during <see cref="FloatForward"/>: C×H×W floats, row-major.</summary>
internal delegate void ActivationObserver(string convolution, ReadOnlySpan<float> values);

/// <summary>
/// A plain float32 ShuffleNet v1 forward pass over canonical weights, for calibration: it must see the activations the
/// generated float model computes, and it must run on a <see cref="ModelDescription"/> alone, without the generated
/// class (the int8 model being calibrated does not exist yet). NCHW arrays, one per tensor; batch norm is folded in
/// double exactly as the weight packer folds it, so the weights it multiplies by are the generated model's.
/// </summary>
internal static class FloatForward
{
    /// <summary>Folds and checks the weights once, for running many images.</summary>
    /// <exception cref="ArgumentException">The description is not a buildable ShuffleNet.</exception>
    /// <exception cref="WeightFormatException">A tensor is missing or has the wrong shape, or a variance is negative.</exception>
    public static Network Prepare(ModelDescription model, TensorSet weights) => new(model, weights);

    /// <summary>One image through <see cref="Prepare"/>'s network.</summary>
    public static float[] Run(ModelDescription model, TensorSet weights, ReadOnlySpan<float> image, ActivationObserver? observer = null) =>
        Prepare(model, weights).Run(image, observer);

    /// <summary>The 1x1 convolutions in forward order: two per unit.</summary>
    public static string[] PointwiseConvolutions(ModelDescription model)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        int units = 0;
        foreach (int r in model.StageRepeats) units = checked(units + r);
        var names = new string[checked(units * 2)];
        for (int u = 0; u < units; u++)
        {
            names[2 * u] = Conv1(u);
            names[2 * u + 1] = Conv3(u);
        }
        return names;
    }

    private static string Conv1(int unit) => "units." + unit + ".conv1";

    private static string Conv3(int unit) => "units." + unit + ".conv3";

    /// <summary>A convolution with batch norm folded in: weights [out, in per group (× 9 taps)], one bias per output channel.</summary>
    private sealed class Folded
    {
        public Folded(float[] weights, float[] bias)
        {
            Weights = weights;
            Bias = bias;
        }

        public float[] Weights { get; }
        public float[] Bias { get; }
    }

    private sealed class Unit
    {
        public int Index;
        public int Stride;
        public int InChannels;
        public int OutChannels;
        public int Bottleneck;
        public int BranchChannels;
        public int FirstGroups;
        public Folded Conv1 = null!;
        public Folded Depthwise = null!;
        public Folded Conv3 = null!;
        public string Conv1Name = "";
        public string Conv3Name = "";
    }

    internal sealed class Network
    {
        private readonly ModelDescription _model;
        private readonly int _groups;
        private readonly bool _officialShuffle;
        private readonly Folded _stem;
        private readonly List<Unit> _units = new();
        private readonly float[] _fcWeights;
        private readonly float[] _fcBias;
        private readonly int _features;

        public Network(ModelDescription model, TensorSet weights)
        {
            if (model is null) throw new ArgumentNullException(nameof(model));
            if (weights is null) throw new ArgumentNullException(nameof(weights));
            _model = model;
            _groups = model.Groups;
            _officialShuffle = model.ShuffleOrder == ShuffleOrder.Official;
            Require(model.Groups >= 1, $"{model.Groups} groups");
            Require(model.InputChannels >= 1 && model.InputHeight >= 1 && model.InputWidth >= 1, $"an input of {model.InputChannels}x{model.InputHeight}x{model.InputWidth}");
            Require(model.Classes >= 1, $"{model.Classes} classes");
            Require(model.StemChannels >= 1, $"{model.StemChannels} stem channels");
            Require(model.StemStride is 1 or 2, $"a stem stride of {model.StemStride}");
            Require(model.StageChannels is not null && model.StageRepeats is not null && model.StageChannels.Count == model.StageRepeats.Count,
                "stage widths and repeats of different lengths");

            _stem = Fold(weights, "conv1", "bn1", new[] { model.StemChannels, model.InputChannels, 3, 3 });
            int inChannels = model.StemChannels;
            for (int s = 0; s < model.StageChannels!.Count; s++)
            {
                int outChannels = model.StageChannels[s];
                Require(model.StageRepeats![s] >= 0, $"stage {s} repeated {model.StageRepeats[s]} times");
                for (int r = 0; r < model.StageRepeats[s]; r++)
                {
                    var u = new Unit
                    {
                        Index = _units.Count,
                        Stride = r == 0 ? 2 : 1,
                        InChannels = inChannels,
                        OutChannels = outChannels,
                        Bottleneck = outChannels / 4,
                        BranchChannels = r == 0 ? outChannels - inChannels : outChannels,
                        // The first unit reads the narrow stem output, which is too few channels to split into groups.
                        FirstGroups = _units.Count == 0 ? 1 : _groups,
                    };
                    string at = $"unit {u.Index} ({inChannels} -> {outChannels} channels, {_groups} groups)";
                    Require(outChannels % 4 == 0 && u.Bottleneck > 0 && u.Bottleneck % _groups == 0, $"{at}: a bottleneck of {outChannels} / 4");
                    Require(inChannels % u.FirstGroups == 0, $"{at}: an input width not divisible by the groups");
                    Require(u.BranchChannels > 0 && u.BranchChannels % _groups == 0, $"{at}: a branch width of {u.BranchChannels}");
                    string p = "units." + u.Index;
                    u.Conv1Name = Conv1(u.Index);
                    u.Conv3Name = Conv3(u.Index);
                    u.Conv1 = Fold(weights, u.Conv1Name, p + ".bn1", new[] { u.Bottleneck, inChannels / u.FirstGroups, 1, 1 });
                    u.Depthwise = Fold(weights, p + ".dw", p + ".bn2", new[] { u.Bottleneck, 1, 3, 3 });
                    u.Conv3 = Fold(weights, u.Conv3Name, p + ".bn3", new[] { u.BranchChannels, u.Bottleneck / _groups, 1, 1 });
                    _units.Add(u);
                    inChannels = outChannels;
                }
            }
            _features = inChannels;
            _fcWeights = Tensor(weights, "fc.weight", new[] { model.Classes, inChannels });
            _fcBias = Tensor(weights, "fc.bias", new[] { model.Classes });
        }

        public int InputLength => _model.InputChannels * _model.InputHeight * _model.InputWidth;

        /// <summary>Logits for one C×H×W image; <paramref name="observer"/> sees every 1x1 convolution's input.</summary>
        public float[] Run(ReadOnlySpan<float> image, ActivationObserver? observer)
        {
            if (image.Length != InputLength)
                throw new ArgumentException($"The image has {image.Length} values; {_model.Name} expects {_model.InputChannels}x{_model.InputHeight}x{_model.InputWidth} = {InputLength}.", nameof(image));
            int h = _model.InputHeight, w = _model.InputWidth;
            var x = Stem(image, _model.InputChannels, h, w, _stem, _model.StemChannels, _model.StemStride, out h, out w);
            Relu(x);
            if (_model.StemMaxPool) x = MaxPool3x3Stride2(x, _model.StemChannels, h, w, out h, out w);

            foreach (var u in _units)
            {
                int plane = h * w;
                observer?.Invoke(u.Conv1Name, x);
                var squeezed = new float[u.Bottleneck * plane];
                Pointwise(x, plane, u.Conv1, u.Bottleneck, u.FirstGroups, squeezed, 0);
                Relu(squeezed);
                int shuffleRows = _groups == 1 ? 1 : _officialShuffle ? u.Bottleneck / _groups : _groups;
                var spatial = Depthwise3x3(squeezed, u.Bottleneck, shuffleRows, h, w, u.Depthwise, u.Stride, out int oh, out int ow);
                observer?.Invoke(u.Conv3Name, spatial);
                int outPlane = oh * ow;
                var output = new float[u.OutChannels * outPlane];
                if (u.Stride == 1)
                {
                    Pointwise(spatial, outPlane, u.Conv3, u.BranchChannels, _groups, output, 0);
                    for (int i = 0; i < output.Length; i++) output[i] += x[i];
                }
                else
                {
                    // Shortcut channels first, as the concat orders them.
                    AveragePool3x3Stride2(x, u.InChannels, h, w, output);
                    Pointwise(spatial, outPlane, u.Conv3, u.BranchChannels, _groups, output, u.InChannels);
                }
                Relu(output);
                x = output;
                h = oh;
                w = ow;
            }

            int pixels = h * w;
            var pooled = new float[_features];
            for (int c = 0; c < _features; c++)
            {
                double sum = 0;
                for (int i = 0; i < pixels; i++) sum += x[c * pixels + i];
                pooled[c] = (float)(sum / pixels);
            }
            var logits = new float[_model.Classes];
            for (int k = 0; k < logits.Length; k++)
            {
                double sum = _fcBias[k];
                for (int c = 0; c < _features; c++) sum += (double)_fcWeights[k * _features + c] * pooled[c];
                logits[k] = (float)sum;
            }
            return logits;
        }
    }

    private static void Require(bool condition, string what)
    {
        if (!condition) throw new ArgumentException($"The model description is not a ShuffleNet v1 this forward pass can run: {what}.");
    }

    private static float[] Tensor(TensorSet weights, string name, int[] shape)
    {
        var t = weights[name];
        bool same = t.Shape.Length == shape.Length;
        for (int i = 0; same && i < shape.Length; i++) same = t.Shape[i] == shape[i];
        if (!same)
            throw new WeightFormatException(name, $"Tensor {TensorNameText.Quote(name)} has shape {t.ShapeText}; the model expects [{string.Join(", ", shape)}].");
        return t.Data;
    }

    // The weight packer's folding, so the float weights equal the generated model's and the two forward passes differ
    // only in summation order. The shapes are checked here first, against the architecture, for messages that name them.
    private static Folded Fold(TensorSet weights, string conv, string batchNorm, int[] shape)
    {
        int outChannels = shape[0];
        var w = Tensor(weights, conv + ".weight", shape);
        foreach (var field in new[] { ".weight", ".bias", ".running_mean", ".running_var" })
            Tensor(weights, batchNorm + field, new[] { outChannels });
        var (scale, shift) = WeightPacker.FoldBatchNorm(weights, batchNorm, outChannels);
        int perOutput = w.Length / outChannels;
        var folded = new float[w.Length];
        var bias = new float[outChannels];
        for (int o = 0; o < outChannels; o++)
        {
            bias[o] = (float)shift[o];
            for (int i = 0; i < perOutput; i++) folded[o * perOutput + i] = (float)(w[o * perOutput + i] * scale[o]);
        }
        return new Folded(folded, bias);
    }

    private static int OutSize(int size, int stride) => (size - 1) / stride + 1;

    /// <summary>
    /// The output positions whose 3x3 window (padding 1) puts tap <paramref name="k"/> inside the input:
    /// <c>0 ≤ o·stride − 1 + k &lt; size</c>. Hoisting the bounds out of the inner loop is what keeps it a plain loop.
    /// </summary>
    private static (int First, int End) TapRange(int k, int stride, int size, int outSize)
    {
        int first = k == 0 ? 1 : 0;
        // Division truncates toward zero, so a negative numerator (a 1-wide map, k = 2) must not reach it.
        int end = size - k < 0 ? 0 : Math.Min(outSize, (size - k) / stride + 1);
        return (first, end);
    }

    /// <summary>
    /// The stem's full 3x3 convolution, padding 1, as a 1x1 convolution over the image's unfolded windows (im2col):
    /// row <c>c·9 + ky·3 + kx</c> of the unfolded matrix holds tap (ky, kx) of plane c for every output pixel, which is
    /// the order of the weights' [out, in, 3, 3] layout. The strided, bounds-checked gather is paid once per tap instead
    /// of once per tap and output channel, and the multiply-adds run in <see cref="Pointwise"/>'s vector loop.
    /// </summary>
    private static float[] Stem(ReadOnlySpan<float> x, int inChannels, int h, int w, Folded conv, int outChannels, int stride, out int oh, out int ow)
    {
        oh = OutSize(h, stride);
        ow = OutSize(w, stride);
        int inPlane = h * w, outPlane = oh * ow;
        var columns = new float[inChannels * 9 * outPlane]; // padding taps stay 0
        for (int c = 0; c < inChannels; c++)
        {
            var src = x.Slice(c * inPlane, inPlane);
            for (int ky = 0; ky < 3; ky++)
            {
                var (firstRow, endRow) = TapRange(ky, stride, h, oh);
                for (int kx = 0; kx < 3; kx++)
                {
                    var (firstColumn, endColumn) = TapRange(kx, stride, w, ow);
                    var dst = columns.AsSpan((c * 9 + ky * 3 + kx) * outPlane, outPlane);
                    for (int oy = firstRow; oy < endRow; oy++)
                    {
                        var row = src.Slice((oy * stride - 1 + ky) * w, w);
                        var outRow = dst.Slice(oy * ow, ow);
                        for (int ox = firstColumn; ox < endColumn; ox++) outRow[ox] = row[ox * stride - 1 + kx];
                    }
                }
            }
        }
        var y = new float[outChannels * outPlane];
        Pointwise(columns, outPlane, conv, outChannels, 1, y, 0);
        return y;
    }

    /// <summary>
    /// Depthwise 3x3 convolution, padding 1, plus the folded bias; weights [C, 1, 3, 3]. It reads its input through the
    /// channel shuffle before it: view the channels as a (<paramref name="shuffleRows"/>, C/rows) matrix and transpose,
    /// so channel <c>i·(C/rows) + j</c> moves to <c>j·rows + i</c>. The paper's shuffle has rows = groups, megvii's
    /// official code rows = C/groups, and rows = 1 is no shuffle. The shuffle moves data and computes nothing, so
    /// reading through it is cheaper than copying the bottleneck into a shuffled array first.
    /// </summary>
    private static float[] Depthwise3x3(float[] x, int channels, int shuffleRows, int h, int w, Folded conv, int stride, out int oh, out int ow)
    {
        int shuffleColumns = channels / shuffleRows;
        oh = OutSize(h, stride);
        ow = OutSize(w, stride);
        int inPlane = h * w, outPlane = oh * ow;
        var y = new float[channels * outPlane];
        for (int c = 0; c < channels; c++)
        {
            var dst = y.AsSpan(c * outPlane, outPlane);
            dst.Fill(conv.Bias[c]);
            int source = c % shuffleRows * shuffleColumns + c / shuffleRows;
            var src = x.AsSpan(source * inPlane, inPlane);
            for (int ky = 0; ky < 3; ky++)
            {
                var (firstRow, endRow) = TapRange(ky, stride, h, oh);
                for (int kx = 0; kx < 3; kx++)
                {
                    float tap = conv.Weights[c * 9 + ky * 3 + kx];
                    var (firstColumn, endColumn) = TapRange(kx, stride, w, ow);
                    int count = endColumn - firstColumn;
                    if (count <= 0) continue;
                    for (int oy = firstRow; oy < endRow; oy++)
                    {
                        var row = src.Slice((oy * stride - 1 + ky) * w, w);
                        var outRow = dst.Slice(oy * ow + firstColumn, count);
                        if (stride == 1)
                        {
                            // Contiguous on both sides: the tap's contribution to a row is one vector multiply-add.
                            MultiplyAdd(outRow, row.Slice(firstColumn - 1 + kx, count), tap);
                        }
                        else
                        {
                            for (int i = 0; i < count; i++) outRow[i] += tap * row[(firstColumn + i) * stride - 1 + kx];
                        }
                    }
                }
            }
        }
        return y;
    }

    /// <summary>
    /// A 1x1 group convolution plus the folded bias, written to output channels from <paramref name="firstOutput"/> on.
    /// Four output channels at a time, accumulated in registers over a vector of pixels: each input vector loaded feeds
    /// four multiply-adds and no partial sum goes through memory, which is what makes the 1x1 convolutions (nearly all
    /// of the network's work) fast enough to calibrate on a 224x224 model.
    /// </summary>
    private static void Pointwise(float[] x, int plane, Folded conv, int outChannels, int groups, float[] y, int firstOutput)
    {
        int inPerGroup = conv.Weights.Length / outChannels;
        int outPerGroup = outChannels / groups;
        for (int group = 0; group < groups; group++)
        {
            int end = (group + 1) * outPerGroup;
            int firstInput = group * inPerGroup;
            int o = group * outPerGroup;
            for (; o + 4 <= end; o += 4) PointwiseRows4(x, plane, conv, inPerGroup, firstInput, o, y, firstOutput);
            for (; o < end; o++) PointwiseRow(x, plane, conv, inPerGroup, firstInput, o, y, firstOutput);
        }
    }

    private static void PointwiseRows4(float[] x, int plane, Folded conv, int inPerGroup, int firstInput, int o, float[] y, int firstOutput)
    {
        var w = conv.Weights;
        int w0 = o * inPerGroup, w1 = w0 + inPerGroup, w2 = w1 + inPerGroup, w3 = w2 + inPerGroup;
        int y0 = (firstOutput + o) * plane, y1 = y0 + plane, y2 = y1 + plane, y3 = y2 + plane;
        int x0 = firstInput * plane;
        int p = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int lanes = Vector<float>.Count;
            var b0 = new Vector<float>(conv.Bias[o]);
            var b1 = new Vector<float>(conv.Bias[o + 1]);
            var b2 = new Vector<float>(conv.Bias[o + 2]);
            var b3 = new Vector<float>(conv.Bias[o + 3]);
            for (; p + lanes <= plane; p += lanes)
            {
                Vector<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                for (int i = 0, at = x0 + p; i < inPerGroup; i++, at += plane)
                {
                    var v = new Vector<float>(x, at);
                    a0 += v * new Vector<float>(w[w0 + i]);
                    a1 += v * new Vector<float>(w[w1 + i]);
                    a2 += v * new Vector<float>(w[w2 + i]);
                    a3 += v * new Vector<float>(w[w3 + i]);
                }
                a0.CopyTo(y, y0 + p);
                a1.CopyTo(y, y1 + p);
                a2.CopyTo(y, y2 + p);
                a3.CopyTo(y, y3 + p);
            }
        }
        for (; p < plane; p++)
        {
            float a0 = conv.Bias[o], a1 = conv.Bias[o + 1], a2 = conv.Bias[o + 2], a3 = conv.Bias[o + 3];
            for (int i = 0, at = x0 + p; i < inPerGroup; i++, at += plane)
            {
                float v = x[at];
                a0 += v * w[w0 + i];
                a1 += v * w[w1 + i];
                a2 += v * w[w2 + i];
                a3 += v * w[w3 + i];
            }
            y[y0 + p] = a0;
            y[y1 + p] = a1;
            y[y2 + p] = a2;
            y[y3 + p] = a3;
        }
    }

    /// <summary>One output channel: the remainder of a group whose width is not a multiple of four.</summary>
    private static void PointwiseRow(float[] x, int plane, Folded conv, int inPerGroup, int firstInput, int o, float[] y, int firstOutput)
    {
        var dst = y.AsSpan((firstOutput + o) * plane, plane);
        dst.Fill(conv.Bias[o]);
        for (int i = 0; i < inPerGroup; i++)
            MultiplyAdd(dst, x.AsSpan((firstInput + i) * plane, plane), conv.Weights[o * inPerGroup + i]);
    }

    private static void MultiplyAdd(Span<float> dst, ReadOnlySpan<float> src, float weight)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var d = MemoryMarshal.Cast<float, Vector<float>>(dst);
            var s = MemoryMarshal.Cast<float, Vector<float>>(src);
            var w = new Vector<float>(weight);
            for (int k = 0; k < d.Length; k++) d[k] += s[k] * w;
            i = d.Length * Vector<float>.Count;
        }
        for (; i < dst.Length; i++) dst[i] += src[i] * weight;
    }

    private static void Relu(float[] x)
    {
        for (int i = 0; i < x.Length; i++)
            if (x[i] < 0) x[i] = 0; // NaN passes through, so a bad weight shows up as NaN instead of as a plausible range
    }

    private static float[] MaxPool3x3Stride2(float[] x, int channels, int h, int w, out int oh, out int ow)
    {
        oh = OutSize(h, 2);
        ow = OutSize(w, 2);
        var y = new float[channels * oh * ow];
        for (int c = 0; c < channels; c++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    // Padded cells never win: only cells inside the map are compared.
                    float best = float.NegativeInfinity;
                    for (int iy = Math.Max(0, oy * 2 - 1); iy <= Math.Min(h - 1, oy * 2 + 1); iy++)
                        for (int ix = Math.Max(0, ox * 2 - 1); ix <= Math.Min(w - 1, ox * 2 + 1); ix++)
                            best = Math.Max(best, x[(c * h + iy) * w + ix]);
                    y[(c * oh + oy) * ow + ox] = best;
                }
        return y;
    }

    /// <summary>3x3 average pool, stride 2, padding 1, into the first channels of <paramref name="y"/>.</summary>
    private static void AveragePool3x3Stride2(float[] x, int channels, int h, int w, float[] y)
    {
        int oh = OutSize(h, 2), ow = OutSize(w, 2);
        for (int c = 0; c < channels; c++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    float sum = 0;
                    for (int iy = Math.Max(0, oy * 2 - 1); iy <= Math.Min(h - 1, oy * 2 + 1); iy++)
                        for (int ix = Math.Max(0, ox * 2 - 1); ix <= Math.Min(w - 1, ox * 2 + 1); ix++)
                            sum += x[(c * h + iy) * w + ix];
                    // Padded zeros count (count_include_pad): border windows are divided by 9 too, as in PyTorch's default.
                    y[(c * oh + oy) * ow + ox] = sum / 9f;
                }
    }
}
