using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ShuffleNetGen.Kernels;

/// <summary>
/// Four channels' float outputs packed into one 32-bit slot per pixel, as an int8 convolution's quantize step packs
/// them (<see cref="Int8Simd.Quantize(Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float})"/>, then
/// the zero point, lowest channel in the lowest byte), for an int8 convolution that packs the next one's input in its
/// epilogue instead of that step reading its float output back.
/// </summary>
/// <remarks>
/// <para>
/// On x64 two saturating packs narrow four vectors to bytes (channel-major within each 128-bit lane), one byte shuffle
/// per lane puts each pixel's four channels together, and the zero point goes on all of them at once: a handful of
/// instructions where the shifts and ors of the portable path take 10. Every path gives the same bytes.
/// </para>
/// <para>
/// The lower clamp is done on the bytes, not on each float vector: the quantize step's <c>max(x, -zeroPoint)</c> is
/// one instruction per vector, in the epilogue of every packing convolution, where a residual int8 convolution with
/// few input channels spends about as long as in its dot products. Only the upper clamp stays in float, as
/// <c>min(high, x)</c>: it keeps the conversion in int32 range, and with <c>high</c> first a NaN stays NaN, converts
/// to int32's minimum and ends at byte 0, as the step's <c>max</c> (which returns <c>low</c> for NaN) makes it. Below
/// the float clamp every value is a whole number at most <c>127 - zeroPoint</c> (<c>-zeroPoint</c> is one too, so
/// rounding and clamping commute); the packs saturate it to -128..127, the byte add of the zero point cannot wrap (the
/// sum lies in -128 + zeroPoint..127), and a signed max with 0 is the lower clamp: a value the step clamps to
/// <c>-zeroPoint</c> is at most <c>-zeroPoint</c> here, so it ends at or below 0.
/// </para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Int8Slots
{
    /// <summary>After the packs, byte 4c + p of a lane is channel c of pixel p; a slot wants it at 4p + c.</summary>
    private static Vector128<byte> Transpose => Vector128.Create((byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);

    /// <summary>
    /// The slots of <paramref name="c0"/> … <paramref name="c3"/> (channels in byte order), each quantized with
    /// <paramref name="inverseScale"/>, clamped to <paramref name="low"/> … <paramref name="high"/> (<c>-zeroPoint</c>,
    /// <c>127 - zeroPoint</c>) and shifted by <paramref name="zeroPoint"/>, one byte per lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Pack(Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        Vector512<float> inverseScale, Vector512<float> low, Vector512<float> high, Vector512<byte> zeroPoint)
    {
        var q0 = Int8Simd.Quantize(c0, inverseScale, low, high);
        var q1 = Int8Simd.Quantize(c1, inverseScale, low, high);
        var q2 = Int8Simd.Quantize(c2, inverseScale, low, high);
        var q3 = Int8Simd.Quantize(c3, inverseScale, low, high);
        if (Avx512BW.IsSupported)
        {
            var bytes = Avx512BW.PackSignedSaturate(Avx512BW.PackSignedSaturate(q0, q1), Avx512BW.PackSignedSaturate(q2, q3)).AsByte();
            return (Avx512BW.Shuffle(bytes, Vector512.Create(Vector256.Create(Transpose, Transpose), Vector256.Create(Transpose, Transpose))) + zeroPoint).AsInt32();
        }
        var m = Vector512.Create(0xFF);
        return (((q0 & m) | Vector512.ShiftLeft(q1 & m, 8) | Vector512.ShiftLeft(q2 & m, 16) | Vector512.ShiftLeft(q3, 24)).AsByte() + zeroPoint).AsInt32();
    }

    /// <inheritdoc cref="Pack(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{byte})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pack(Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3,
        Vector256<float> inverseScale, Vector256<float> low, Vector256<float> high, Vector256<byte> zeroPoint)
    {
        if (Avx2.IsSupported)
        {
            var r0 = Avx.ConvertToVector256Int32(Avx.Min(high, c0 * inverseScale));
            var r1 = Avx.ConvertToVector256Int32(Avx.Min(high, c1 * inverseScale));
            var r2 = Avx.ConvertToVector256Int32(Avx.Min(high, c2 * inverseScale));
            var r3 = Avx.ConvertToVector256Int32(Avx.Min(high, c3 * inverseScale));
            var bytes = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(r0, r1), Avx2.PackSignedSaturate(r2, r3));
            var shifted = Avx2.Add(Avx2.Shuffle(bytes, Vector256.Create(Transpose, Transpose).AsSByte()), zeroPoint.AsSByte());
            return Avx2.Max(shifted, Vector256<sbyte>.Zero).AsInt32();
        }
        var q0 = Int8Simd.Quantize(c0, inverseScale, low, high);
        var q1 = Int8Simd.Quantize(c1, inverseScale, low, high);
        var q2 = Int8Simd.Quantize(c2, inverseScale, low, high);
        var q3 = Int8Simd.Quantize(c3, inverseScale, low, high);
        var m = Vector256.Create(0xFF);
        return (((q0 & m) | Vector256.ShiftLeft(q1 & m, 8) | Vector256.ShiftLeft(q2 & m, 16) | Vector256.ShiftLeft(q3, 24)).AsByte() + zeroPoint).AsInt32();
    }

    /// <inheritdoc cref="Pack(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{byte})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Pack(Vector128<float> c0, Vector128<float> c1, Vector128<float> c2, Vector128<float> c3,
        Vector128<float> inverseScale, Vector128<float> low, Vector128<float> high, Vector128<byte> zeroPoint)
    {
        if (Sse41.IsSupported)
        {
            var r0 = Sse2.ConvertToVector128Int32(Sse.Min(high, c0 * inverseScale));
            var r1 = Sse2.ConvertToVector128Int32(Sse.Min(high, c1 * inverseScale));
            var r2 = Sse2.ConvertToVector128Int32(Sse.Min(high, c2 * inverseScale));
            var r3 = Sse2.ConvertToVector128Int32(Sse.Min(high, c3 * inverseScale));
            var bytes = Sse2.PackSignedSaturate(Sse2.PackSignedSaturate(r0, r1), Sse2.PackSignedSaturate(r2, r3));
            var shifted = Sse2.Add(Ssse3.Shuffle(bytes, Transpose.AsSByte()), zeroPoint.AsSByte());
            return Sse41.Max(shifted, Vector128<sbyte>.Zero).AsInt32();
        }
        var q0 = Int8Simd.Quantize(c0, inverseScale, low, high);
        var q1 = Int8Simd.Quantize(c1, inverseScale, low, high);
        var q2 = Int8Simd.Quantize(c2, inverseScale, low, high);
        var q3 = Int8Simd.Quantize(c3, inverseScale, low, high);
        if (Ssse3.IsSupported)
        {
            var bytes = Sse2.PackSignedSaturate(Sse2.PackSignedSaturate(q0, q1), Sse2.PackSignedSaturate(q2, q3)).AsByte();
            return Sse2.Add(Ssse3.Shuffle(bytes, Transpose), zeroPoint).AsInt32();
        }
        var m = Vector128.Create(0xFF);
        return (((q0 & m) | Vector128.ShiftLeft(q1 & m, 8) | Vector128.ShiftLeft(q2 & m, 16) | Vector128.ShiftLeft(q3, 24)).AsByte() + zeroPoint).AsInt32();
    }

    /// <summary>One pixel's slot, as <see cref="Pack(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{byte})"/> packs each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Pack(float c0, float c1, float c2, float c3, float inverseScale, float low, float high, byte zeroPoint)
    {
        int Byte(float c) => (Int8Simd.Quantize(c, inverseScale, low, high) + zeroPoint) & 0xFF;
        return Byte(c0) | Byte(c1) << 8 | Byte(c2) << 16 | Byte(c3) << 24;
    }
}
