using System.Runtime.Intrinsics;
using ShuffleNetGen.Kernels;
using ShuffleNetGen.Quantization;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// <see cref="Int8Slots.Pack(Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{byte})"/>
/// and its other widths against the quantize step's own arithmetic (<see cref="Int8Simd.Quantize(Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float})"/>
/// plus the zero point, one byte per channel), lane by lane, on the values where a shortcut in the packing would show:
/// NaN, infinities, signed zeros, values beyond int32, halves where rounding ties, and the clamps' edges. A packing
/// convolution's epilogue must give the bytes the separate quantize step gives, whatever its floats are.
/// </summary>
public class Int8SlotsTests
{
    private static float[] Values(float inverseScale)
    {
        var values = new List<float>
        {
            float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, float.MaxValue, -float.MaxValue,
            float.Epsilon, -float.Epsilon, 2147483648f, -2147483648f, 3e9f, -3e9f, 1e20f, -1e20f,
        };
        // Every whole and half step the clamps can meet, in units of the scale, so rounding ties and the edges
        // -zeroPoint and 127 - zeroPoint are hit exactly (or as closely as the scale's rounding allows).
        for (int k = -300; k <= 300; k++)
        {
            values.Add(k / 2f / inverseScale);
            values.Add(MathF.BitIncrement(k / 2f / inverseScale));
            values.Add(MathF.BitDecrement(k / 2f / inverseScale));
        }
        var random = new Random(27);
        for (int i = 0; i < 400; i++) values.Add((float)((random.NextDouble() * 2 - 1) * 300 / inverseScale));
        while (values.Count % 64 != 0) values.Add((float)(random.NextDouble() * 1e12 - 5e11));
        return values.ToArray();
    }

    public static readonly TheoryData<float, int> Parameters = new()
    {
        { 1f, 0 }, { 1f, 127 }, { 1f, 64 }, { 0.5f, 1 }, { 0.037f, 37 }, { 1000f, 100 }, { 3e30f, 5 }, { 7.5f, 126 },
    };

    /// <summary>Every width of the packing this process accelerates gives the step's bytes for every value (Vector128 is the step's reference width).</summary>
    [Theory]
    [MemberData(nameof(Parameters))]
    public void PackGivesTheQuantizeStepsBytesAtEveryWidth(float inverseScale, int zeroPoint)
    {
        var x = Values(inverseScale);
        float z = zeroPoint;
        for (int at = 0; at < x.Length; at += 64)
        {
            // Four channels of 16 pixels: channel c of pixel p is x[at + 16c + p].
            var expected = new byte[64];
            for (int p = 0; p < 16; p++)
            {
                for (int c = 0; c < 4; c++)
                {
                    var q = Int8Simd.Quantize(Vector128.Create(x[at + 16 * c + p]), Vector128.Create(inverseScale), Vector128.Create(-z),
                        Vector128.Create(Int8Simd.MaxActivation - z));
                    expected[4 * p + c] = (byte)(q.ToScalar() + zeroPoint);
                }
            }
            // Software Vector512 too (where it is not accelerated): its clamp orders a NaN as x64's MAXPS does.
            Vector512<float> Plane512(int c) => Vector512.Create(x.AsSpan(at + 16 * c, 16));
            var got512 = Int8Slots.Pack(Plane512(0), Plane512(1), Plane512(2), Plane512(3), Vector512.Create(inverseScale), Vector512.Create(-z),
                Vector512.Create(Int8Simd.MaxActivation - z), Vector512.Create((byte)zeroPoint));
            Check(expected, got512.AsByte(), 0, 16, "Vector512");
            for (int half = 0; half < 2; half++)
            {
                Vector256<float> Plane256(int c) => Vector256.Create(x.AsSpan(at + 16 * c + 8 * half, 8));
                var got256 = Int8Slots.Pack(Plane256(0), Plane256(1), Plane256(2), Plane256(3), Vector256.Create(inverseScale), Vector256.Create(-z),
                    Vector256.Create(Int8Simd.MaxActivation - z), Vector256.Create((byte)zeroPoint));
                Check(expected.AsSpan(32 * half), got256.AsByte(), 8 * half, 8, "Vector256");
            }
            for (int quarter = 0; quarter < 4; quarter++)
            {
                Vector128<float> Plane128(int c) => Vector128.Create(x.AsSpan(at + 16 * c + 4 * quarter, 4));
                var got128 = Int8Slots.Pack(Plane128(0), Plane128(1), Plane128(2), Plane128(3), Vector128.Create(inverseScale), Vector128.Create(-z),
                    Vector128.Create(Int8Simd.MaxActivation - z), Vector128.Create((byte)zeroPoint));
                Check(expected.AsSpan(16 * quarter), got128.AsByte(), 4 * quarter, 4, "Vector128");
            }

            void Check(ReadOnlySpan<byte> want, object vector, int firstPixel, int pixels, string width)
            {
                for (int p = 0; p < pixels; p++)
                {
                    for (int c = 0; c < 4; c++)
                    {
                        byte got = vector switch
                        {
                            Vector512<byte> v => v.GetElement(4 * p + c),
                            Vector256<byte> v => v.GetElement(4 * p + c),
                            Vector128<byte> v => v.GetElement(4 * p + c),
                            _ => throw new ArgumentException(width),
                        };
                        if (got != want[4 * p + c])
                            Assert.Fail($"{width}: x = {x[at + 16 * c + firstPixel + p]:R} (channel {c}) × {inverseScale:R}, zero point {zeroPoint}: packed {got}, the quantize step gives {want[4 * p + c]}");
                    }
                }
            }
        }
    }

    /// <summary>
    /// A NaN activation quantizes to the lowest value (byte 0 once the zero point is on, as −∞) on every path: scalar,
    /// each vector width (accelerated or not), the packing and the calibration's own quantize. The tests above compare
    /// paths within this process; this pins the value itself, which the ARM64 conformance run checks too, so an image
    /// with NaN pixels gets the same int8 logits on x64 and ARM64.
    /// </summary>
    [Theory]
    [MemberData(nameof(Parameters))]
    public void NaNQuantizesToTheLowestValueOnEveryPath(float inverseScale, int zeroPoint)
    {
        float z = zeroPoint, high = Int8Simd.MaxActivation - z;
        foreach (float nan in new[] { float.NaN, -float.NaN, BitConverter.Int32BitsToSingle(0x7F800001) })
        {
            Assert.Equal(-zeroPoint, Int8Simd.Quantize(nan, inverseScale, -z, high));
            Assert.Equal(Vector128.Create(-zeroPoint), Int8Simd.Quantize(Vector128.Create(nan), Vector128.Create(inverseScale), Vector128.Create(-z), Vector128.Create(high)));
            Assert.Equal(Vector256.Create(-zeroPoint), Int8Simd.Quantize(Vector256.Create(nan), Vector256.Create(inverseScale), Vector256.Create(-z), Vector256.Create(high)));
            Assert.Equal(Vector512.Create(-zeroPoint), Int8Simd.Quantize(Vector512.Create(nan), Vector512.Create(inverseScale), Vector512.Create(-z), Vector512.Create(high)));
            Assert.Equal(0, Int8Slots.Pack(nan, nan, nan, nan, inverseScale, -z, high, (byte)zeroPoint));
            Assert.Equal(Vector128<int>.Zero, Int8Slots.Pack(Vector128.Create(nan), Vector128.Create(nan), Vector128.Create(nan), Vector128.Create(nan),
                Vector128.Create(inverseScale), Vector128.Create(-z), Vector128.Create(high), Vector128.Create((byte)zeroPoint)));
            if (inverseScale < 1e30f) Assert.Equal(0, ActivationQuantization.Quantize(nan, 1f / inverseScale, zeroPoint));
        }
    }

    /// <summary>
    /// The reference above is the step's vector arithmetic; for finite values it must also be the documented formula,
    /// <c>round(clamp(x × inverse, -z, 127 - z)) + z</c> with ties to even, computed here in double.
    /// </summary>
    [Theory]
    [MemberData(nameof(Parameters))]
    public void QuantizeStepFollowsTheFormulaForFiniteValues(float inverseScale, int zeroPoint)
    {
        float z = zeroPoint;
        foreach (float x in Values(inverseScale))
        {
            if (!float.IsFinite(x)) continue;
            double t = Math.Clamp((double)(x * inverseScale), -zeroPoint, 127 - zeroPoint);
            int want = (int)Math.Round(t, MidpointRounding.ToEven) + zeroPoint;
            var q = Int8Simd.Quantize(Vector128.Create(x), Vector128.Create(inverseScale), Vector128.Create(-z), Vector128.Create(Int8Simd.MaxActivation - z));
            Assert.Equal(want, q.ToScalar() + zeroPoint);
        }
    }
}
