using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace ShuffleNetGen.Kernels;

/// <summary>
/// The integer steps of generated int8 kernels, one method per vector width, each choosing the instruction the core
/// has. Every choice computes exactly the same integers and floats (see docs/int8.md), so a model gives the same bits
/// on every path: activations are 0..127 and weights -127..127, so no path saturates, and the float steps are single
/// IEEE operations (a fused multiply-add where one is used at all).
/// </summary>
/// <remarks>
/// A 32-bit lane holds one pixel's four consecutive input channels, one byte each (activations as unsigned bytes,
/// weights as signed). <c>DotAdd</c> adds the four products of a lane to its 32-bit accumulator.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Int8Simd
{
    /// <summary>The largest quantized activation: 7 bits, so that two u8×s8 products never saturate <c>pmaddubsw</c>'s int16 and an activation is also a valid s8 for SDOT.</summary>
    public const int MaxActivation = 127;

    /// <summary><paramref name="acc"/> + the four byte products of each lane of <paramref name="x"/> (activations) and <paramref name="w"/> (weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> DotAdd(Vector512<int> acc, Vector512<int> x, Vector512<int> w)
    {
        // .NET has no 512-bit VNNI API; AVX-512BW's pair of multiply-adds does the same 64 products per instruction pair.
        if (Avx512BW.IsSupported && !Int8Family.PortableOnly)
            return acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x.AsByte(), w.AsSByte()), Vector512.Create((short)1));
        return acc + PortableDot(x, w);
    }

    /// <inheritdoc cref="DotAdd(Vector512{int}, Vector512{int}, Vector512{int})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotAdd(Vector256<int> acc, Vector256<int> x, Vector256<int> w)
    {
#if NET10_0_OR_GREATER // AvxVnni is a preview API before .NET 9; the net8.0 build takes the Avx2 pair
        if (AvxVnni.IsSupported && Int8Family.Vnni) return AvxVnni.MultiplyWideningAndAdd(acc, x.AsByte(), w.AsSByte());
#endif
        if (Avx2.IsSupported && !Int8Family.PortableOnly)
            return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x.AsByte(), w.AsSByte()), Vector256.Create((short)1));
        return acc + PortableDot(x, w);
    }

    /// <inheritdoc cref="DotAdd(Vector512{int}, Vector512{int}, Vector512{int})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> DotAdd(Vector128<int> acc, Vector128<int> x, Vector128<int> w)
    {
#if NET10_0_OR_GREATER
        if (AvxVnni.IsSupported && Int8Family.Vnni) return AvxVnni.MultiplyWideningAndAdd(acc, x.AsByte(), w.AsSByte());
#endif
        if (Ssse3.IsSupported && !Int8Family.PortableOnly)
            return acc + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(x.AsByte(), w.AsSByte()), Vector128.Create((short)1));
        if (Dp.IsSupported && Int8Family.SdotAllowed) return Dp.DotProduct(acc, x.AsSByte(), w.AsSByte());
        if (AdvSimd.Arm64.IsSupported && !Int8Family.PortableOnly)
        {
            // Without SDOT: widening multiplies give 8 int16 products per half, pairwise widening adds make channel
            // pairs, and ADDP joins the pairs of each pixel.
            var xs = x.AsSByte();
            var ws = w.AsSByte();
            var low = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningLower(xs.GetLower(), ws.GetLower()));
            var high = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningUpper(xs, ws));
            return acc + AdvSimd.Arm64.AddPairwise(low, high);
        }
        return acc + PortableDot(x, w);
    }

    /// <summary>One pixel: <paramref name="acc"/> + the four byte products of <paramref name="x"/> and <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DotAdd(int acc, int x, int w) =>
        acc + (x & 0xFF) * (sbyte)w + ((x >> 8) & 0xFF) * (sbyte)(w >> 8) + ((x >> 16) & 0xFF) * (sbyte)(w >> 16) + ((x >> 24) & 0xFF) * (sbyte)(w >> 24);

    /// <summary>Each byte lane taken apart with shifts: any vector hardware, four multiplies where the others use one.</summary>
    internal static Vector512<int> PortableDot(Vector512<int> x, Vector512<int> w)
    {
        var mask = Vector512.Create(0xFF);
        var sum = (x & mask) * Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(w, 24), 24);
        sum += (Vector512.ShiftRightLogical(x, 8) & mask) * Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(w, 16), 24);
        sum += (Vector512.ShiftRightLogical(x, 16) & mask) * Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(w, 8), 24);
        return sum + Vector512.ShiftRightLogical(x, 24) * Vector512.ShiftRightArithmetic(w, 24);
    }

    internal static Vector256<int> PortableDot(Vector256<int> x, Vector256<int> w)
    {
        var mask = Vector256.Create(0xFF);
        var sum = (x & mask) * Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(w, 24), 24);
        sum += (Vector256.ShiftRightLogical(x, 8) & mask) * Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(w, 16), 24);
        sum += (Vector256.ShiftRightLogical(x, 16) & mask) * Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(w, 8), 24);
        return sum + Vector256.ShiftRightLogical(x, 24) * Vector256.ShiftRightArithmetic(w, 24);
    }

    internal static Vector128<int> PortableDot(Vector128<int> x, Vector128<int> w)
    {
        var mask = Vector128.Create(0xFF);
        var sum = (x & mask) * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w, 24), 24);
        sum += (Vector128.ShiftRightLogical(x, 8) & mask) * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w, 16), 24);
        sum += (Vector128.ShiftRightLogical(x, 16) & mask) * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w, 8), 24);
        return sum + Vector128.ShiftRightLogical(x, 24) * Vector128.ShiftRightArithmetic(w, 24);
    }

    /// <summary>
    /// The dot-product instruction <see cref="DotAdd(Vector512{int}, Vector512{int}, Vector512{int})"/> uses here, for
    /// <c>KernelPaths</c>, then the <see cref="Int8Family"/> that chose it and why.
    /// </summary>
    public static string DotPath512 => (Avx512BW.IsSupported && !Int8Family.PortableOnly ? "Avx512BW vpmaddubsw+vpmaddwd" : "portable shifts") + "; " + Int8Family.Description;

    /// <summary>The dot-product instruction of the 256-bit <c>DotAdd</c> here, and the family.</summary>
    public static string DotPath256 =>
        (Int8Family.Vnni ? "AvxVnni vpdpbusd" : Avx2.IsSupported && !Int8Family.PortableOnly ? "Avx2 vpmaddubsw+vpmaddwd" : "portable shifts") + "; " + Int8Family.Description;

    /// <summary>The dot-product instruction of the 128-bit <c>DotAdd</c> here, and the family.</summary>
    public static string DotPath128 => DotInstruction128 + "; " + Int8Family.Description;

    /// <summary>The 128-bit instruction alone (also what the ARM64 four-row tiles' SDOT by element runs under).</summary>
    internal static string DotInstruction128 =>
        Int8Family.Vnni ? "AvxVnni vpdpbusd" : Int8Family.PortableOnly ? "portable shifts" : Ssse3.IsSupported ? "Ssse3 pmaddubsw+pmaddwd"
        : Dp.IsSupported && Int8Family.SdotAllowed ? "Dp sdot" : AdvSimd.Arm64.IsSupported ? "AdvSimd smull+saddlp+addp" : "portable shifts";

    /// <summary>
    /// The output of a convolution from its integer sums: <c>acc × scale + bias</c> with one rounding (fused), the
    /// same on every path. <c>acc</c> converts to float exactly below 2^24 and rounds to nearest above.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Dequantize(Vector512<int> acc, Vector512<float> scale, Vector512<float> bias)
    {
        var sums = Vector512.ConvertToSingle(acc);
        if (Avx512F.IsSupported) return Avx512F.FusedMultiplyAdd(sums, scale, bias);
        return Vector512.Create(Dequantize(acc.GetLower(), scale.GetLower(), bias.GetLower()), Dequantize(acc.GetUpper(), scale.GetUpper(), bias.GetUpper()));
    }

    /// <inheritdoc cref="Dequantize(Vector512{int}, Vector512{float}, Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Dequantize(Vector256<int> acc, Vector256<float> scale, Vector256<float> bias)
    {
        var sums = Vector256.ConvertToSingle(acc);
        if (Fma.IsSupported) return Fma.MultiplyAdd(sums, scale, bias);
        return Vector256.Create(Dequantize(acc.GetLower(), scale.GetLower(), bias.GetLower()), Dequantize(acc.GetUpper(), scale.GetUpper(), bias.GetUpper()));
    }

    /// <inheritdoc cref="Dequantize(Vector512{int}, Vector512{float}, Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Dequantize(Vector128<int> acc, Vector128<float> scale, Vector128<float> bias)
    {
        var sums = Vector128.ConvertToSingle(acc);
        if (Fma.IsSupported) return Fma.MultiplyAdd(sums, scale, bias);
        if (AdvSimd.IsSupported) return AdvSimd.FusedMultiplyAdd(bias, sums, scale);
        // No fused instruction: MathF.FusedMultiplyAdd rounds once in software, so the bits still match.
        return Vector128.Create(
            MathF.FusedMultiplyAdd(sums.GetElement(0), scale.GetElement(0), bias.GetElement(0)),
            MathF.FusedMultiplyAdd(sums.GetElement(1), scale.GetElement(1), bias.GetElement(1)),
            MathF.FusedMultiplyAdd(sums.GetElement(2), scale.GetElement(2), bias.GetElement(2)),
            MathF.FusedMultiplyAdd(sums.GetElement(3), scale.GetElement(3), bias.GetElement(3)));
    }

    /// <inheritdoc cref="Dequantize(Vector512{int}, Vector512{float}, Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dequantize(int acc, float scale, float bias) => MathF.FusedMultiplyAdd(acc, scale, bias);

    /// <summary>
    /// Byte 0 of lane p of <paramref name="c0"/> … <paramref name="c3"/> as bytes 0 … 3 of lane p: four channels'
    /// quantized values (two's complement bytes before the zero point is added) as one slot per pixel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> PackLowBytes(Vector512<int> c0, Vector512<int> c1, Vector512<int> c2, Vector512<int> c3)
    {
        if (Avx512Vbmi.IsSupported)
        {
            // VPERMT2B thrice: bytes 0 and 1 of each slot from c0/c1, bytes 2 and 3 from c2/c3, then the two halves.
            var pairs = Vector512.Create((byte)0, 64, 0, 0, 4, 68, 0, 0, 8, 72, 0, 0, 12, 76, 0, 0, 16, 80, 0, 0, 20, 84, 0, 0, 24, 88, 0, 0, 28, 92, 0, 0,
                32, 96, 0, 0, 36, 100, 0, 0, 40, 104, 0, 0, 44, 108, 0, 0, 48, 112, 0, 0, 52, 116, 0, 0, 56, 120, 0, 0, 60, 124, 0, 0);
            var low = Avx512Vbmi.PermuteVar64x8x2(c0.AsByte(), pairs, c1.AsByte());
            var high = Avx512Vbmi.PermuteVar64x8x2(c2.AsByte(), pairs, c3.AsByte());
            var joined = Vector512.Create((byte)0, 1, 64, 65, 4, 5, 68, 69, 8, 9, 72, 73, 12, 13, 76, 77, 16, 17, 80, 81, 20, 21, 84, 85, 24, 25, 88, 89, 28, 29, 92, 93,
                32, 33, 96, 97, 36, 37, 100, 101, 40, 41, 104, 105, 44, 45, 108, 109, 48, 49, 112, 113, 52, 53, 116, 117, 56, 57, 120, 121, 60, 61, 124, 125);
            return Avx512Vbmi.PermuteVar64x8x2(low, joined, high).AsInt32();
        }
        var mask = Vector512.Create(0xFF);
        return (c0 & mask) | Vector512.ShiftLeft(c1 & mask, 8) | Vector512.ShiftLeft(c2 & mask, 16) | Vector512.ShiftLeft(c3, 24);
    }

    /// <summary>
    /// The classifier's features to 7-bit activations on a scale of their own (per image): each feature becomes
    /// <c>round(clamp(x × (127 / largest), 0, 127))</c> in float, ties to even, four to a 32-bit slot (lowest feature in
    /// the lowest byte), and the slots from the features' end to <paramref name="slotCount"/> are zero. Returns the
    /// scale, <c>largest / 127</c>: 0 when no feature reaches <see cref="SmallestFeatureRange"/> (the logits are then
    /// the biases), NaN when a feature is NaN or infinite (so are the logits, as in float).
    /// </summary>
    public static float QuantizeFeatures(ref float features, int count, ref int slots, int slotCount)
    {
        float largest = 0;
        bool finite = true;
        for (int i = 0; i < count; i++)
        {
            float v = Unsafe.Add(ref features, i);
            finite &= float.IsFinite(v);
            largest = v > largest ? v : largest;
        }
        for (int s = count / 4; s < slotCount; s++) Unsafe.Add(ref slots, s) = 0;
        if (!finite)
        {
            for (int s = 0; s < count / 4; s++) Unsafe.Add(ref slots, s) = 0;
            return float.NaN;
        }
        if (largest < SmallestFeatureRange)
        {
            for (int s = 0; s < count / 4; s++) Unsafe.Add(ref slots, s) = 0;
            return 0;
        }
        float inverse = MaxActivation / largest;
        var inverseV = Vector128.Create(inverse);
        var low = Vector128<float>.Zero;
        var high = Vector128.Create((float)MaxActivation);
        // Byte 0 of each int lane, in order: the four activations of one slot.
        var lowBytes = Vector128.Create((byte)0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
        int whole = count / 4;
        for (int s = 0; s < whole; s++)
        {
            var q = Quantize(Vector128.LoadUnsafe(ref features, (nuint)(4 * s)), inverseV, low, high);
            Unsafe.Add(ref slots, s) = Vector128.Shuffle(q.AsByte(), lowBytes).AsInt32().ToScalar();
        }
        for (int i = 4 * whole; i < count; i++)
            Unsafe.Add(ref slots, whole) |= Quantize(Unsafe.Add(ref features, i), inverse, 0, MaxActivation) << (8 * (i & 3));
        return largest / MaxActivation;
    }

    /// <summary>
    /// Features whose largest value is below this (2^-100) quantize to zero with scale 0: 127 over anything smaller
    /// could overflow float, and such features are nothing next to the classifier's biases.
    /// </summary>
    public const float SmallestFeatureRange = 7.888609E-31f;

    /// <summary>
    /// Activations to quantized values, without the zero point: <c>round(clamp(x × inverseScale, low, high))</c>, ties
    /// to even, where <c>low = -zeroPoint</c> and <c>high = 127 - zeroPoint</c> (whole numbers, so clamping before
    /// rounding equals clamping after). The caller adds the zero point.
    /// </summary>
    /// <remarks>
    /// The clamp is x64's: <c>max(t, low)</c> is <c>t &gt; low ? t : low</c> and <c>min(t, high)</c> is
    /// <c>t &lt; high ? t : high</c>, so a NaN quantizes to <c>low</c> (byte 0 with the zero point, as −∞ does) on every
    /// path. IEEE 754-2019's maximum (<c>Vector128.Max</c>, ARM64's FMAX, <c>MathF.Max</c>) would carry the NaN to the
    /// conversion, which gives 0 there and int32's minimum on x64: an image with NaN pixels would then get other int8
    /// logits on ARM64 than on x64.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Quantize(Vector512<float> x, Vector512<float> inverseScale, Vector512<float> low, Vector512<float> high)
    {
        // vmaxps/vminps directly: Vector512.Max/Min order NaN and signed zeros as IEEE 754-2019 asks, at extra
        // instructions per call, and neither can reach a whole number the rounding below sees differently.
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512Int32(Avx512F.Min(Avx512F.Max(x * inverseScale, low), high));
        var t = x * inverseScale;
        t = Vector512.ConditionalSelect(Vector512.GreaterThan(t, low), t, low);
        t = Vector512.ConditionalSelect(Vector512.LessThan(t, high), t, high);
        var one = Vector256<float>.One;
        return Vector512.Create(Quantize(t.GetLower(), one, Vector256.Create(float.MinValue), Vector256.Create(float.MaxValue)),
            Quantize(t.GetUpper(), one, Vector256.Create(float.MinValue), Vector256.Create(float.MaxValue)));
    }

    /// <inheritdoc cref="Quantize(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Quantize(Vector256<float> x, Vector256<float> inverseScale, Vector256<float> low, Vector256<float> high)
    {
        // vcvtps2dq rounds by MXCSR, which .NET leaves at round-to-nearest-even.
        if (Avx.IsSupported) return Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(x * inverseScale, low), high));
        var t = x * inverseScale;
        t = Vector256.ConditionalSelect(Vector256.GreaterThan(t, low), t, low);
        t = Vector256.ConditionalSelect(Vector256.LessThan(t, high), t, high);
        return Vector256.Create(RoundToInt(t.GetLower()), RoundToInt(t.GetUpper()));
    }

    /// <inheritdoc cref="Quantize(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Quantize(Vector128<float> x, Vector128<float> inverseScale, Vector128<float> low, Vector128<float> high)
    {
        if (Sse2.IsSupported) return Sse2.ConvertToVector128Int32(Sse.Min(Sse.Max(x * inverseScale, low), high));
        // FMAXNM returns the number where one operand is a quiet NaN (the product has quieted any signalling one).
        if (AdvSimd.IsSupported) return AdvSimd.ConvertToInt32RoundToEven(AdvSimd.Min(AdvSimd.MaxNumber(x * inverseScale, low), high));
        var t = x * inverseScale;
        t = Vector128.ConditionalSelect(Vector128.GreaterThan(t, low), t, low);
        return RoundToInt(Vector128.ConditionalSelect(Vector128.LessThan(t, high), t, high));
    }

    /// <inheritdoc cref="Quantize(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Quantize(float x, float inverseScale, float low, float high)
    {
        float t = x * inverseScale;
        t = t > low ? t : low;
        return (int)MathF.Round(t < high ? t : high, MidpointRounding.ToEven);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> RoundToInt(Vector128<float> t)
    {
        if (Sse2.IsSupported) return Sse2.ConvertToVector128Int32(t);
        if (AdvSimd.IsSupported) return AdvSimd.ConvertToInt32RoundToEven(t);
        return Vector128.Create(
            (int)MathF.Round(t.GetElement(0), MidpointRounding.ToEven), (int)MathF.Round(t.GetElement(1), MidpointRounding.ToEven),
            (int)MathF.Round(t.GetElement(2), MidpointRounding.ToEven), (int)MathF.Round(t.GetElement(3), MidpointRounding.ToEven));
    }
}
