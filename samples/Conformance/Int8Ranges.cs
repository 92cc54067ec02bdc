using ShuffleNetGen;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests;
using ShuffleNetGen.Tests.Reference;
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
/// The pass is the scalar reference's (tests/ShuffleNetGen.Tests/Reference/ReferenceShuffleNet.cs, or
/// ReferenceShuffleNetV2.cs for a v2 model), which reports each 1x1 convolution's input to the observer given here.
/// </remarks>
internal static class Int8Ranges
{
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
        foreach (var image in images) ReferenceCases.ReferenceLogits(d, n => floatWeights[n].Data, image, Observe);

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
}
