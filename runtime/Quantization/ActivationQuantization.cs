using System;

namespace ShuffleNetGen.Quantization;

/// <summary>
/// The one rule that turns an observed activation range into an 8-bit quantization, shared by calibration and by the
/// int8 kernels. Activations are affine: <c>x ≈ scale · (q − zeroPoint)</c>, with <c>q</c> in
/// <c>0..<see cref="MaxQuantized"/></c>.
/// </summary>
/// <remarks>
/// Activations use 7 bits, not 8. On x64 the u8×s8 <c>pmaddubsw</c> path adds two products into a saturating int16:
/// 2·255·127 overflows it, 2·127·127 does not. ARM's SDOT multiplies s8×s8, which cannot hold 128..255 at all. With
/// 7-bit activations every path computes the same exact integers, so results do not depend on the CPU (PyTorch's
/// fbgemm backend calls this <c>reduce_range</c>).
/// </remarks>
public static class ActivationQuantization
{
    /// <summary>The largest quantized activation: 7 bits, so that every int8 dot-product path is exact (see the remarks on the class).</summary>
    public const int MaxQuantized = 127;

    /// <summary>
    /// The scale and zero point covering <c>[min, max]</c>, widened to include 0 so that zero (ReLU's output, the
    /// convolutions' padding) is exactly representable as <c>ZeroPoint</c>.
    /// </summary>
    /// <param name="min">Smallest observed value.</param>
    /// <param name="max">Largest observed value.</param>
    /// <returns>
    /// <c>Scale = (hi − lo) / 127</c> (computed in double, then rounded to float) with <c>lo = min(min, 0)</c> and
    /// <c>hi = max(max, 0)</c>, and <c>ZeroPoint = round(−lo / Scale)</c> (ties to even) clamped to <c>0..127</c>.
    /// An empty range (only zeros, or <paramref name="min"/> above <paramref name="max"/> as a running min/max starts
    /// out) or a range too narrow for a float scale gives <c>(1, 0)</c>.
    /// </returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="min"/> or <paramref name="max"/> is NaN, or the widened range has an infinite bound.
    /// </exception>
    public static (float Scale, int ZeroPoint) FromRange(float min, float max)
    {
        if (float.IsNaN(min)) throw new ArgumentException("The range's minimum is NaN; an activation that is NaN cannot be quantized.", nameof(min));
        if (float.IsNaN(max)) throw new ArgumentException("The range's maximum is NaN; an activation that is NaN cannot be quantized.", nameof(max));
        float lo = Math.Min(min, 0f);
        float hi = Math.Max(max, 0f);
        // An infinite range has no scale. It gave (1, 0) once, which quantized every activation as if nothing were
        // wrong (an ONNX range past float's limit, issue 23); every caller must see it.
        if (float.IsNegativeInfinity(lo)) throw new ArgumentException("The range's minimum is -Infinity; an infinite range has no scale.", nameof(min));
        if (float.IsPositiveInfinity(hi)) throw new ArgumentException("The range's maximum is +Infinity; an infinite range has no scale.", nameof(max));
        if (hi == lo) return (1f, 0);
        // In double: hi − lo can exceed float range, and one rounding (to float at the end) instead of two.
        float scale = (float)(((double)hi - lo) / MaxQuantized);
        // A range of a few subnormals gives a scale of 0, which the kernels would divide by.
        if (!(scale > 0f) || !float.IsFinite(scale)) return (1f, 0);
        double zero = Math.Round(-(double)lo / scale, MidpointRounding.ToEven);
        return (scale, (int)Math.Clamp(zero, 0, MaxQuantized));
    }

    /// <summary>
    /// Quantizes one value: <c>clamp(round(x / scale) + zeroPoint, 0, 127)</c>, spelled as the float operations the
    /// generated int8 kernels execute, in the same order and at the same precision (a multiply by the rounded
    /// reciprocal, not a division; clamping before rounding), so that this and the kernels agree bit for bit.
    /// </summary>
    /// <param name="x">The value; NaN gives 0, the lowest value, as −∞ does.</param>
    /// <param name="scale">A scale from <see cref="FromRange"/>: positive and finite.</param>
    /// <param name="zeroPoint">A zero point from <see cref="FromRange"/>: 0..127.</param>
    /// <returns>The quantized value, in <c>0..<see cref="MaxQuantized"/></c>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is not positive and finite, or <paramref name="zeroPoint"/> is outside 0..127.</exception>
    public static int Quantize(float x, float scale, int zeroPoint)
    {
        if (!(scale > 0f) || !float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "The scale must be positive and finite.");
        if (zeroPoint < 0 || zeroPoint > MaxQuantized) throw new ArgumentOutOfRangeException(nameof(zeroPoint), zeroPoint, $"The zero point must be in 0..{MaxQuantized}.");
        float inverse = 1f / scale;
        float t = x * inverse;
        // Clamping in the shifted domain keeps the float small enough for the conversion to int in every kernel lane;
        // compared as x64's max and min do, so a NaN ends at the lowest value, as every kernel path puts it.
        t = t > -zeroPoint ? t : -zeroPoint;
        t = t < MaxQuantized - zeroPoint ? t : MaxQuantized - zeroPoint;
        return (int)MathF.Round(t) + zeroPoint; // MathF.Round rounds ties to even, as cvtps2dq and frintn do
    }
}
