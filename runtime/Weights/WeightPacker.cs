using System;
using System.Collections.Generic;
using System.ComponentModel;

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
    /// exact shape, nothing unexpected. <c>*.num_batches_tracked</c> (training bookkeeping PyTorch saves) is ignored.
    /// </summary>
    public static void Validate(TensorSet tensors, IReadOnlyList<TensorShape> layout, string modelName)
    {
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var shape in layout)
        {
            expected.Add(shape.Name);
            if (!tensors.TryGet(shape.Name, out var tensor))
                throw new WeightFormatException(shape.Name, $"{modelName}: tensor '{shape.Name}' is missing; expected shape {shape.ShapeText}.");
            if (!SameShape(tensor.Shape, shape.Dimensions))
                throw new WeightFormatException(shape.Name, $"{modelName}: tensor '{shape.Name}' has shape {tensor.ShapeText}; expected {shape.ShapeText}.");
        }
        foreach (var tensor in tensors)
        {
            if (expected.Contains(tensor.Name) || tensor.Name.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
            throw new WeightFormatException(tensor.Name,
                $"{modelName}: tensor '{tensor.Name}' {tensor.ShapeText} is not part of this model; the model expects {layout.Count} tensors named as in the README (e.g. '{layout[0].Name}').");
        }
    }

    /// <summary>
    /// A 3x3 convolution (stem: every input plane; depthwise: one) with batch norm folded in. Layout per output
    /// channel: <c>inputPlanes × 9</c> taps (plane-major, row-major taps), then the bias.
    /// </summary>
    public static void Window3x3(TensorSet tensors, string conv, string batchNorm, int outChannels, int inputPlanes, Span<float> packed)
    {
        var w = tensors[conv + ".weight"].Data;
        var (scale, shift) = FoldBatchNorm(tensors, batchNorm, outChannels);
        int stride = inputPlanes * 9 + 1;
        for (int c = 0; c < outChannels; c++)
        {
            for (int i = 0; i < inputPlanes * 9; i++) packed[c * stride + i] = (float)(w[c * inputPlanes * 9 + i] * scale[c]);
            packed[c * stride + inputPlanes * 9] = (float)shift[c];
        }
    }

    /// <summary>
    /// A 1x1 group convolution with batch norm folded in. Output channels of each group are taken in blocks of
    /// <paramref name="blockRows"/> (the last block of a group may be shorter); a block of r rows starting at output
    /// channel o sits at <c>o × (1 + inPerGroup)</c> and holds r biases, then for each input channel its r weights.
    /// </summary>
    public static void Pointwise(TensorSet tensors, string conv, string batchNorm, int inChannels, int outChannels, int groups, int blockRows, Span<float> packed)
    {
        var w = tensors[conv + ".weight"].Data;
        var (scale, shift) = FoldBatchNorm(tensors, batchNorm, outChannels);
        int inPerGroup = inChannels / groups;
        int outPerGroup = outChannels / groups;
        for (int k = 0; k < groups; k++)
        {
            for (int j0 = 0; j0 < outPerGroup; j0 += blockRows)
            {
                int rows = Math.Min(blockRows, outPerGroup - j0);
                int o0 = k * outPerGroup + j0;
                int at = o0 * (1 + inPerGroup);
                for (int r = 0; r < rows; r++) packed[at + r] = (float)shift[o0 + r];
                for (int ci = 0; ci < inPerGroup; ci++)
                {
                    for (int r = 0; r < rows; r++)
                        packed[at + rows + ci * rows + r] = (float)(w[(o0 + r) * inPerGroup + ci] * scale[o0 + r]);
                }
            }
        }
    }

    /// <summary>The classifier as PyTorch stores it: weights row-major [classes, features], then the biases.</summary>
    public static void Linear(TensorSet tensors, string name, int inFeatures, int outFeatures, Span<float> packed)
    {
        tensors[name + ".weight"].Data.AsSpan(0, inFeatures * outFeatures).CopyTo(packed);
        tensors[name + ".bias"].Data.AsSpan(0, outFeatures).CopyTo(packed.Slice(inFeatures * outFeatures));
    }

    // In double: a small running variance makes the scale large, and float folding would cost precision twice.
    private static (double[] Scale, double[] Shift) FoldBatchNorm(TensorSet tensors, string name, int channels)
    {
        var gamma = tensors[name + ".weight"].Data;
        var beta = tensors[name + ".bias"].Data;
        var mean = tensors[name + ".running_mean"].Data;
        var variance = tensors[name + ".running_var"].Data;
        var scale = new double[channels];
        var shift = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            if (!(variance[c] >= 0))
                throw new WeightFormatException(name + ".running_var", $"Tensor '{name}.running_var' holds {variance[c]} at channel {c}; a variance must be zero or positive.");
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
