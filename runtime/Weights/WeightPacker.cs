using System;
using System.Collections.Generic;
using System.ComponentModel;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Weights;

/// <summary>
/// Folds batch norm into the preceding convolution and lays weights out in the order the generated kernels read them.
/// The layouts here are a contract with the generator's kernel emitters; each method says which.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class WeightPacker
{
    /// <summary>Batch norm epsilon of PyTorch's BatchNorm2d default and of the official ShuffleNet code.</summary>
    public const double BatchNormEpsilon = 1e-5;

    /// <summary>
    /// Checks a tensor set against the model's layout before anything is read: every expected tensor present with its
    /// exact shape, nothing unexpected, and every value finite. <c>*.num_batches_tracked</c> (training bookkeeping
    /// PyTorch saves) is ignored. Every loader binds through here, so this is where the NaN policy lives.
    /// </summary>
    /// <exception cref="WeightFormatException">A tensor is missing, unexpected or mis-shaped, or holds NaN or an infinity.</exception>
    public static void Validate(TensorSet tensors, IReadOnlyList<TensorShape> layout, string modelName)
    {
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        var found = new List<(string, int[])>(tensors.Count);
        foreach (var t in tensors) found.Add((t.Name, t.Shape));
        ValidateShapes(found, layout, modelName);
        foreach (var shape in layout)
        {
            var tensor = tensors[shape.Name];
            // An I8 tensor outside an int8 weight file would be bound as if its integers were float weights.
            if (tensor.DType != TensorDType.F32)
                throw new WeightFormatException(shape.Name,
                    $"{modelName}: tensor {Quote(shape.Name)} is {tensor.DType}; float weights are F32, and I8 tensors belong to an int8 weight file, whose metadata names its format (docs/int8.md).");
            RequireFinite(tensor, modelName);
        }
    }

    /// <summary>
    /// A generated model's check of the tensors it binds: an int8 weight file (<see cref="Int8WeightFile"/>) against the
    /// model's int8 layout, any other set as <see cref="Validate(TensorSet, IReadOnlyList{TensorShape}, string)"/>.
    /// </summary>
    /// <exception cref="WeightFormatException">A tensor is missing, unexpected, mis-shaped, of the wrong dtype or holds a value the model cannot use.</exception>
    public static void Validate(TensorSet tensors, ModelDescription model)
    {
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        if (model is null) throw new ArgumentNullException(nameof(model));
        if (Int8WeightFile.IsInFormat(tensors)) Int8WeightFile.Validate(tensors, model);
        else Validate(tensors, model.WeightLayout, model.Name);
    }

    /// <summary>
    /// The name and shape half of <see cref="Validate(TensorSet, IReadOnlyList{TensorShape}, string)"/>, on names and shapes alone so that a loader can run it on a
    /// file's header before allocating any data. Names in <paramref name="found"/> are distinct.
    /// </summary>
    internal static void ValidateShapes(IReadOnlyList<(string Name, int[] Shape)> found, IReadOnlyList<TensorShape> layout, string modelName)
    {
        if (layout is null) throw new ArgumentNullException(nameof(layout));
        var byName = new Dictionary<string, int[]>(found.Count, StringComparer.Ordinal);
        foreach (var (name, shape) in found) byName[name] = shape;
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var shape in layout)
        {
            expected.Add(shape.Name);
            if (!byName.TryGetValue(shape.Name, out var dims))
                throw new WeightFormatException(shape.Name, $"{modelName}: tensor {Quote(shape.Name)} is missing; expected shape {shape.ShapeText}.{CalibrationHint(shape.Name)}");
            if (!SameShape(dims, shape.Dimensions))
                throw new WeightFormatException(shape.Name, $"{modelName}: tensor {Quote(shape.Name)} has shape {NamedTensor.FormatShape(dims)}; expected {shape.ShapeText}.");
        }
        foreach (var (name, dims) in found)
        {
            if (expected.Contains(name) || IsBatchCounter(name)) continue;
            string example = layout.Count > 0 ? $" (e.g. {Quote(layout[0].Name)})" : "";
            throw new WeightFormatException(name,
                $"{modelName}: tensor {Quote(name)} {NamedTensor.FormatShape(dims)} is not part of this model; the model expects {layout.Count} tensors named as in the README{example}.");
        }
    }

    /// <summary>An int8 model's activation scales come from calibration, not training: a missing one means float weights were given as they are.</summary>
    private static string CalibrationHint(string name) =>
        name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal) || name.EndsWith(Int8Calibration.InputZeroPointSuffix, StringComparison.Ordinal)
            ? " This is an int8 model: calibrate float weights first with ShuffleNetGen.Quantization.Int8Calibration.Calibrate(Model.Description, weights, images), which adds the activation scales (docs/int8.md)."
            : "";

    /// <summary>PyTorch's <c>*.num_batches_tracked</c>: training bookkeeping a state_dict carries, never a weight.</summary>
    internal static bool IsBatchCounter(string name) => name.EndsWith(".num_batches_tracked", StringComparison.Ordinal);

    internal static void RequireFinite(NamedTensor tensor, string modelName)
    {
        var data = tensor.Data;
        for (int i = 0; i < data.Length; i++)
        {
            if (float.IsFinite(data[i])) continue;
            throw new WeightFormatException(tensor.Name,
                $"{modelName}: tensor {Quote(tensor.Name)} holds {Text(data[i])} at flat index {i}{Position(tensor.Shape, i)}; weights must be finite.");
        }
    }

    /// <summary>" (element [a, b, …])" for tensors of rank 2 or more, where the flat index alone is hard to place.</summary>
    private static string Position(int[] shape, int index)
    {
        if (shape.Length < 2) return "";
        var at = new int[shape.Length];
        for (int k = shape.Length - 1; k >= 0; k--)
        {
            at[k] = index % shape[k];
            index /= shape[k];
        }
        return " (element " + NamedTensor.FormatShape(at) + ")";
    }

    internal static string Text(double value) =>
        double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Infinity" : double.IsNegativeInfinity(value) ? "-Infinity"
        : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    private static string Quote(string name) => TensorNameText.Quote(name);

    /// <summary>
    /// A 3x3 convolution (stem: every input plane; depthwise: one) with batch norm folded in. Layout per output
    /// channel: <c>inputPlanes × 9</c> taps (plane-major, row-major taps), then the bias. From an int8 weight file the
    /// folded weights and bias are read as they are (<see cref="FoldWindow3x3"/> wrote them).
    /// </summary>
    public static void Window3x3(TensorSet tensors, string conv, string batchNorm, int outChannels, int inputPlanes, Span<float> packed)
    {
        int taps = checked(inputPlanes * 9);
        int stride = checked(taps + 1);
        Require(packed.Length == checked(outChannels * stride), conv);
        var (w, bias) = Int8WeightFile.IsInFormat(tensors)
            ? (tensors[conv + ".weight"].Data, tensors[conv + ".bias"].Data)
            : FoldWindow3x3(tensors, conv, batchNorm, outChannels, inputPlanes);
        Require(w.Length == checked(outChannels * taps) && bias.Length == outChannels, conv);
        for (int c = 0; c < outChannels; c++)
        {
            w.AsSpan(c * taps, taps).CopyTo(packed.Slice(c * stride, taps));
            packed[c * stride + taps] = bias[c];
        }
    }

    /// <summary>A 3x3 convolution's weights with batch norm folded in (in double, then rounded to float), and its bias.</summary>
    internal static (float[] Weights, float[] Bias) FoldWindow3x3(TensorSet tensors, string conv, string batchNorm, int outChannels, int inputPlanes)
    {
        var w = tensors[conv + ".weight"].Data;
        int taps = checked(inputPlanes * 9);
        Require(w.Length == checked(outChannels * taps), conv);
        var (scale, shift) = FoldBatchNorm(tensors, batchNorm, outChannels);
        var weights = new float[w.Length];
        var bias = new float[outChannels];
        for (int c = 0; c < outChannels; c++)
        {
            for (int i = 0; i < taps; i++) weights[c * taps + i] = Folded(w[c * taps + i] * scale[c], conv, batchNorm, c);
            bias[c] = Folded(shift[c], conv, batchNorm, c);
        }
        return (weights, bias);
    }

    /// <summary>
    /// A 1x1 group convolution with batch norm folded in. Output channels of each group are taken in blocks of
    /// <paramref name="blockRows"/> (the last block of a group may be shorter); a block of r rows starting at output
    /// channel o sits at <c>o × (1 + inPerGroup)</c> and holds r biases, then for each input channel its r weights.
    /// </summary>
    public static void Pointwise(TensorSet tensors, string conv, string batchNorm, int inChannels, int outChannels, int groups, int blockRows, Span<float> packed)
    {
        var w = tensors[conv + ".weight"].Data;
        if (groups <= 0 || blockRows <= 0 || inChannels % groups != 0 || outChannels % groups != 0) Require(false, conv);
        int inPerGroup = inChannels / groups;
        int outPerGroup = outChannels / groups;
        Require(w.Length == checked(outChannels * inPerGroup) && packed.Length == checked(outChannels * (1 + inPerGroup)), conv);
        var (scale, shift) = FoldBatchNorm(tensors, batchNorm, outChannels);
        for (int k = 0; k < groups; k++)
        {
            for (int j0 = 0; j0 < outPerGroup; j0 += blockRows)
            {
                int rows = Math.Min(blockRows, outPerGroup - j0);
                int o0 = k * outPerGroup + j0;
                int at = o0 * (1 + inPerGroup);
                for (int r = 0; r < rows; r++) packed[at + r] = Folded(shift[o0 + r], conv, batchNorm, o0 + r);
                for (int ci = 0; ci < inPerGroup; ci++)
                {
                    for (int r = 0; r < rows; r++)
                        packed[at + rows + ci * rows + r] = Folded(w[(o0 + r) * inPerGroup + ci] * scale[o0 + r], conv, batchNorm, o0 + r);
                }
            }
        }
    }

    /// <summary>
    /// What an int8 model's quantize step reads for the input of 1x1 convolution <paramref name="conv"/>: the inverse of
    /// its <c>input_scale</c> (one float division, as <c>ActivationQuantization.Quantize</c> does) and its
    /// <c>input_zero_point</c>.
    /// </summary>
    public static void Quantize(TensorSet tensors, string conv, Span<float> packed)
    {
        Require(packed.Length == 2, conv);
        var (scale, zeroPoint) = ActivationParameters(tensors, conv);
        packed[0] = 1f / scale;
        packed[1] = zeroPoint;
    }

    /// <summary>
    /// An int8 1x1 group convolution. Its weights come quantized from <see cref="QuantizePointwise"/>, or from an int8
    /// weight file that holds exactly what that method computes. The output is <c>sum × m + b</c> with
    /// <c>m = input_scale × s</c> (s the channel's weight scale) and <c>b</c> the folded bias less the zero point's
    /// share (<c>m × zeroPoint × Σq</c>), both computed in double from the float values and rounded once.
    /// Blocks as <see cref="Pointwise"/>'s, with four input channels per slot: a block of r rows starting at output
    /// channel o sits at <c>o × (2 + slots)</c> and holds r scales m, r biases b, then per slot of four input channels
    /// the r rows' four weights as bytes of one 32-bit slot (lowest channel in the lowest byte; missing channels zero).
    /// </summary>
    public static void Int8Pointwise(TensorSet tensors, string conv, string batchNorm, int inChannels, int outChannels, int groups, int blockRows, Span<float> packed)
    {
        if (groups <= 0 || blockRows <= 0 || inChannels % groups != 0 || outChannels % groups != 0) Require(false, conv);
        int inPerGroup = inChannels / groups;
        int outPerGroup = outChannels / groups;
        int slots = (inPerGroup + 3) / 4;
        Require(packed.Length == checked(outChannels * (2 + slots)), conv);
        var (inputScale, zeroPoint) = ActivationParameters(tensors, conv);
        var (q, weightScales, biases) = Int8WeightFile.IsInFormat(tensors)
            ? (tensors[conv + ".weight"].Data, tensors[conv + Int8WeightFile.WeightScaleSuffix].Data, tensors[conv + ".bias"].Data)
            : QuantizePointwise(tensors, conv, batchNorm, outChannels, inPerGroup);
        Require(q.Length == checked(outChannels * inPerGroup) && weightScales.Length == outChannels && biases.Length == outChannels, conv);
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(packed);
        for (int k = 0; k < groups; k++)
        {
            for (int j0 = 0; j0 < outPerGroup; j0 += blockRows)
            {
                int rows = Math.Min(blockRows, outPerGroup - j0);
                int o0 = k * outPerGroup + j0;
                int at = o0 * (2 + slots);
                for (int r = 0; r < rows; r++)
                {
                    int o = o0 + r;
                    var row = q.AsSpan(o * inPerGroup, inPerGroup);
                    double weightScale = weightScales[o];
                    float multiplier = InputScaled(inputScale * weightScale, conv, inputScale, weightScale, o);
                    long sum = 0;
                    foreach (float v in row) sum += (int)v;
                    packed[at + r] = multiplier;
                    packed[at + rows + r] = InputScaled(biases[o] - (double)multiplier * zeroPoint * sum, conv, inputScale, weightScale, o);
                    for (int slot = 0; slot < slots; slot++)
                    {
                        int word = 0;
                        for (int b = 0; b < 4 && 4 * slot + b < inPerGroup; b++) word |= ((int)row[4 * slot + b] & 0xFF) << (8 * b);
                        words[at + 2 * rows + slot * rows + r] = word;
                    }
                }
            }
        }
    }

    /// <summary>
    /// A 1x1 convolution's int8 weights, as an int8 weight file stores them. Batch norm is folded into the float
    /// weights in double, which are then quantized symmetrically per output channel: <c>q = round(w / s)</c>, ties to
    /// even, <c>s = max|w| / 127</c>, so q is in -127..127 and never -128. The weight scale s and the folded bias are
    /// then rounded to float: the packer derives the multiplier and bias from those floats, so a file holding them
    /// gives the same packed weights bit for bit.
    /// </summary>
    /// <returns>q (row-major [out, inPerGroup], whole numbers), the weight scale and the folded bias per output channel.</returns>
    internal static (float[] Q, float[] WeightScale, float[] Bias) QuantizePointwise(TensorSet tensors, string conv, string batchNorm, int outChannels, int inPerGroup)
    {
        var w = tensors[conv + ".weight"].Data;
        Require(w.Length == checked(outChannels * inPerGroup), conv);
        var (scale, shift) = FoldBatchNorm(tensors, batchNorm, outChannels);
        var q = new float[w.Length];
        var weightScales = new float[outChannels];
        var biases = new float[outChannels];
        for (int o = 0; o < outChannels; o++)
        {
            var row = w.AsSpan(o * inPerGroup, inPerGroup);
            // The float model folds the same weights (Folded below); only what it would refuse is the batch norm's fault.
            Folded(Largest(row, scale[o]), conv, batchNorm, o);
            weightScales[o] = QuantizeChannel(row, scale[o], q.AsSpan(o * inPerGroup, inPerGroup));
            biases[o] = Folded(shift[o], conv, batchNorm, o);
        }
        return (q, weightScales, biases);
    }

    /// <summary>
    /// The classifier's int8 weights, as an int8 weight file stores them: each class's row quantized on a scale of its
    /// own (symmetric, largest magnitude to 127), the scale rounded to float.
    /// </summary>
    internal static (float[] Q, float[] WeightScale) QuantizeLinear(TensorSet tensors, string name, int inFeatures, int outFeatures)
    {
        var w = tensors[name + ".weight"].Data;
        Require(inFeatures > 0 && w.Length == checked(inFeatures * outFeatures), name);
        var q = new float[w.Length];
        var weightScales = new float[outFeatures];
        for (int o = 0; o < outFeatures; o++)
            weightScales[o] = QuantizeChannel(w.AsSpan(o * inFeatures, inFeatures), 1, q.AsSpan(o * inFeatures, inFeatures));
        return (q, weightScales);
    }

    private static double Largest(ReadOnlySpan<float> weights, double batchNormScale)
    {
        double largest = 0;
        foreach (float v in weights) largest = Math.Max(largest, Math.Abs(v * batchNormScale));
        return largest;
    }

    /// <summary>
    /// One output channel's folded weights to int8 in <paramref name="q"/>; returns the channel's weight scale as a
    /// float. A channel whose scale would round to float zero (weights below 127 × float's smallest subnormal) is all
    /// zero with scale 1, as an all-zero channel: no float multiplier could carry it.
    /// </summary>
    private static float QuantizeChannel(ReadOnlySpan<float> weights, double batchNormScale, Span<float> q)
    {
        double largest = Largest(weights, batchNormScale);
        double weightScale = largest / 127;
        if (largest == 0 || (float)weightScale == 0)
        {
            q.Clear();
            return 1;
        }
        for (int i = 0; i < weights.Length; i++)
            q[i] = (float)Math.Clamp(Math.Round(weights[i] * batchNormScale / weightScale, MidpointRounding.ToEven), -127, 127);
        return (float)weightScale;
    }

    /// <summary>A convolution's calibrated input scale and zero point, checked: a bad value would quantize every activation wrongly.</summary>
    private static (float Scale, int ZeroPoint) ActivationParameters(TensorSet tensors, string conv)
    {
        string scaleName = conv + Int8Calibration.InputScaleSuffix;
        string zeroName = conv + Int8Calibration.InputZeroPointSuffix;
        var scale = tensors[scaleName].Data;
        var zero = tensors[zeroName].Data;
        if (scale.Length != 1 || !(scale[0] > 0) || !float.IsFinite(1f / scale[0]))
            throw new WeightFormatException(scaleName, $"Tensor {Quote(scaleName)} must hold one positive float whose inverse is finite (an activation scale from calibration); it holds {(scale.Length == 1 ? Text(scale[0]) : scale.Length + " values")}.");
        if (zero.Length != 1 || !(zero[0] >= 0 && zero[0] <= 127) || zero[0] != MathF.Floor(zero[0]))
            throw new WeightFormatException(zeroName, $"Tensor {Quote(zeroName)} must hold one whole number from 0 to 127 (the 7-bit zero point of the activations); it holds {(zero.Length == 1 ? Text(zero[0]) : zero.Length + " values")}.");
        return (scale[0], (int)zero[0]);
    }

    /// <summary>The classifier as PyTorch stores it: weights row-major [classes, features], then the biases.</summary>
    public static void Linear(TensorSet tensors, string name, int inFeatures, int outFeatures, Span<float> packed)
    {
        var w = tensors[name + ".weight"].Data;
        var b = tensors[name + ".bias"].Data;
        int weights = checked(inFeatures * outFeatures);
        Require(w.Length == weights && b.Length == outFeatures && packed.Length == checked(weights + outFeatures), name);
        w.CopyTo(packed);
        b.CopyTo(packed.Slice(weights));
    }

    /// <summary>
    /// The int8 classifier: each class's weights to int8 on a scale of its own (<see cref="QuantizeLinear"/>, or as an
    /// int8 weight file holds them), four to a 32-bit slot, <paramref name="rowSlots"/> slots per class (zero past the
    /// features); then the classes' scales, then their biases.
    /// </summary>
    public static void Int8Linear(TensorSet tensors, string name, int inFeatures, int outFeatures, int rowSlots, Span<float> packed)
    {
        var b = tensors[name + ".bias"].Data;
        Require(inFeatures > 0 && rowSlots >= (inFeatures + 3) / 4 && b.Length == outFeatures
            && packed.Length == checked(outFeatures * (rowSlots + 2)), name);
        var (q, weightScales) = Int8WeightFile.IsInFormat(tensors)
            ? (tensors[name + ".weight"].Data, tensors[name + Int8WeightFile.WeightScaleSuffix].Data)
            : QuantizeLinear(tensors, name, inFeatures, outFeatures);
        Require(q.Length == checked(inFeatures * outFeatures) && weightScales.Length == outFeatures, name);
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(packed);
        int scales = outFeatures * rowSlots;
        for (int o = 0; o < outFeatures; o++)
        {
            var row = words.Slice(o * rowSlots, rowSlots);
            row.Clear();
            for (int i = 0; i < inFeatures; i++) row[i >> 2] |= ((int)q[o * inFeatures + i] & 0xFF) << (8 * (i & 3));
            packed[scales + o] = weightScales[o];
            packed[scales + outFeatures + o] = b[o];
        }
    }

    /// <summary>
    /// Finite inputs can still fold to a float infinity (a huge gamma over a zero variance); the kernels would then
    /// compute NaN for every image, so this is a bad weight file, not a result.
    /// </summary>
    private static float Folded(double value, string conv, string batchNorm, int channel)
    {
        float f = (float)value;
        if (!float.IsFinite(f)) ThrowFoldOverflow(value, conv, batchNorm, channel);
        return f;
    }

    /// <summary>
    /// An int8 convolution's multiplier or zero-point term, beyond float range although the folded weights are within
    /// it (checked first): the input scale is the cause, and the message names it, not the batch norm.
    /// </summary>
    private static float InputScaled(double value, string conv, float inputScale, double weightScale, int channel)
    {
        float f = (float)value;
        if (float.IsFinite(f)) return f;
        string name = conv + Int8Calibration.InputScaleSuffix;
        throw new WeightFormatException(name,
            $"Tensor {Quote(name)} is {Text(inputScale)}; times output channel {channel}'s weight scale {Text(weightScale)} (largest folded weight / 127) it gives {Text(value)}, beyond float range, so the int8 convolution has no multiplier. "
            + "The input scale is far too large for these weights; calibrate again (Int8Calibration.Calibrate) or check the file's scales.");
    }

    private static void ThrowFoldOverflow(double value, string conv, string batchNorm, int channel) =>
        throw new WeightFormatException(batchNorm + ".weight",
            $"Folding batch norm {Quote(batchNorm)} into {Quote(conv)} gives {Text(value)} at output channel {channel}, beyond float range; the batch-norm scale (weight / sqrt(running_var + eps)) is too large.");

    // The sizes come from generated code; a mismatch means generator and runtime disagree on a layout, and packing
    // on would write garbage or out of range.
    private static void Require(bool layoutMatches, string tensor)
    {
        if (!layoutMatches) throw new ArgumentException($"The packing arguments for {Quote(tensor)} do not match its tensors or the packed span; the generated code and the runtime disagree on the layout.");
    }

    // In double: a small running variance makes the scale large, and float folding would cost precision twice.
    // Calibration's float forward folds through here too, so its weights equal the generated model's.
    internal static (double[] Scale, double[] Shift) FoldBatchNorm(TensorSet tensors, string name, int channels)
    {
        var gamma = tensors[name + ".weight"].Data;
        var beta = tensors[name + ".bias"].Data;
        var mean = tensors[name + ".running_mean"].Data;
        var variance = tensors[name + ".running_var"].Data;
        Require(gamma.Length == channels && beta.Length == channels && mean.Length == channels && variance.Length == channels, name);
        var scale = new double[channels];
        var shift = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            // NaN is already rejected by Validate; the comparison is written so that it would be caught here too.
            if (!(variance[c] >= 0))
                throw new WeightFormatException(name + ".running_var", $"Tensor {Quote(name + ".running_var")} holds {Text(variance[c])} at channel {c}; a variance must be zero or positive.");
            scale[c] = gamma[c] / Math.Sqrt(variance[c] + BatchNormEpsilon);
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        return (scale, shift);
    }

    private static bool SameShape(int[] a, int[] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
        return true;
    }
}
