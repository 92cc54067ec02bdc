using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace ShuffleNetGen.Bench;

/// <summary>
/// This core's int8 multiply-add peak per instruction family an int8 kernel could use, measured like
/// <see cref="FmaPeak"/> (twelve independent chains, best of several 50 ms runs) so the two compare in one run. It says
/// how far past the float roof int8 can go here: the figure that matters is the ratio to the fp32 FMA peak, not the
/// MACs per instruction on paper (a core may split wide integer instructions or run fewer of them per cycle).
/// </summary>
internal static class Int8Peak
{
    /// <summary>Every family this core runs, with its int8 GMAC/s.</summary>
    public static IEnumerable<(string Family, double Gmacs)> Measure()
    {
        // VPDPBUSD: u8 × s8, four products summed into each int32 lane, one instruction.
        if (AvxVnni.IsSupported)
        {
            yield return ("AvxVnni VPDPBUSD ymm", FmaPeak.Best(32, VnniChains256));
            yield return ("AvxVnni VPDPBUSD xmm", FmaPeak.Best(16, VnniChains128));
        }
        // Without VNNI: VPMADDUBSW (u8 × s8 pairs to saturated int16), VPMADDWD by ones (pairs to int32), VPADDD.
        if (Avx512BW.IsSupported) yield return ("Avx512BW VPMADDUBSW+VPMADDWD+VPADDD zmm", FmaPeak.Best(64, MaddChains512));
        if (Avx2.IsSupported) yield return ("Avx2 VPMADDUBSW+VPMADDWD+VPADDD ymm", FmaPeak.Best(32, MaddChains256));
        // ARM64 SDOT: s8 × s8, four products into each int32 lane.
        if (Dp.IsSupported) yield return ("Dp SDOT", FmaPeak.Best(16, SdotChains));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float VnniChains256(long iterations)
    {
        var a = Vector256.Create((byte)3);
        var b = Vector256.Create((sbyte)-2);
        Vector256<int> c0 = Vector256<int>.Zero, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = AvxVnni.MultiplyWideningAndAdd(c0, a, b); c1 = AvxVnni.MultiplyWideningAndAdd(c1, a, b);
            c2 = AvxVnni.MultiplyWideningAndAdd(c2, a, b); c3 = AvxVnni.MultiplyWideningAndAdd(c3, a, b);
            c4 = AvxVnni.MultiplyWideningAndAdd(c4, a, b); c5 = AvxVnni.MultiplyWideningAndAdd(c5, a, b);
            c6 = AvxVnni.MultiplyWideningAndAdd(c6, a, b); c7 = AvxVnni.MultiplyWideningAndAdd(c7, a, b);
            c8 = AvxVnni.MultiplyWideningAndAdd(c8, a, b); c9 = AvxVnni.MultiplyWideningAndAdd(c9, a, b);
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, a, b); c11 = AvxVnni.MultiplyWideningAndAdd(c11, a, b);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float VnniChains128(long iterations)
    {
        var a = Vector128.Create((byte)3);
        var b = Vector128.Create((sbyte)-2);
        Vector128<int> c0 = Vector128<int>.Zero, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = AvxVnni.MultiplyWideningAndAdd(c0, a, b); c1 = AvxVnni.MultiplyWideningAndAdd(c1, a, b);
            c2 = AvxVnni.MultiplyWideningAndAdd(c2, a, b); c3 = AvxVnni.MultiplyWideningAndAdd(c3, a, b);
            c4 = AvxVnni.MultiplyWideningAndAdd(c4, a, b); c5 = AvxVnni.MultiplyWideningAndAdd(c5, a, b);
            c6 = AvxVnni.MultiplyWideningAndAdd(c6, a, b); c7 = AvxVnni.MultiplyWideningAndAdd(c7, a, b);
            c8 = AvxVnni.MultiplyWideningAndAdd(c8, a, b); c9 = AvxVnni.MultiplyWideningAndAdd(c9, a, b);
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, a, b); c11 = AvxVnni.MultiplyWideningAndAdd(c11, a, b);
        }
        return Vector128.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    // The bytes multiplied come from the accumulator itself, so the JIT cannot hoist the two multiplies out of the loop
    // as invariant; each chain is then multiply, multiply, add, which twelve chains cover on current cores.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Madd512(Vector512<int> acc, Vector512<sbyte> b, Vector512<short> ones) =>
        acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(acc.AsByte(), b), ones);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float MaddChains512(long iterations)
    {
        var b = Vector512.Create((sbyte)1);
        var ones = Vector512.Create((short)1);
        Vector512<int> c0 = Vector512.Create(1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Madd512(c0, b, ones); c1 = Madd512(c1, b, ones); c2 = Madd512(c2, b, ones); c3 = Madd512(c3, b, ones);
            c4 = Madd512(c4, b, ones); c5 = Madd512(c5, b, ones); c6 = Madd512(c6, b, ones); c7 = Madd512(c7, b, ones);
            c8 = Madd512(c8, b, ones); c9 = Madd512(c9, b, ones); c10 = Madd512(c10, b, ones); c11 = Madd512(c11, b, ones);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Madd256(Vector256<int> acc, Vector256<sbyte> b, Vector256<short> ones) =>
        acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(acc.AsByte(), b), ones);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float MaddChains256(long iterations)
    {
        var b = Vector256.Create((sbyte)1);
        var ones = Vector256.Create((short)1);
        Vector256<int> c0 = Vector256.Create(1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Madd256(c0, b, ones); c1 = Madd256(c1, b, ones); c2 = Madd256(c2, b, ones); c3 = Madd256(c3, b, ones);
            c4 = Madd256(c4, b, ones); c5 = Madd256(c5, b, ones); c6 = Madd256(c6, b, ones); c7 = Madd256(c7, b, ones);
            c8 = Madd256(c8, b, ones); c9 = Madd256(c9, b, ones); c10 = Madd256(c10, b, ones); c11 = Madd256(c11, b, ones);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float SdotChains(long iterations)
    {
        var a = Vector128.Create((sbyte)3);
        var b = Vector128.Create((sbyte)-2);
        Vector128<int> c0 = Vector128<int>.Zero, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Dp.DotProduct(c0, a, b); c1 = Dp.DotProduct(c1, a, b); c2 = Dp.DotProduct(c2, a, b); c3 = Dp.DotProduct(c3, a, b);
            c4 = Dp.DotProduct(c4, a, b); c5 = Dp.DotProduct(c5, a, b); c6 = Dp.DotProduct(c6, a, b); c7 = Dp.DotProduct(c7, a, b);
            c8 = Dp.DotProduct(c8, a, b); c9 = Dp.DotProduct(c9, a, b); c10 = Dp.DotProduct(c10, a, b); c11 = Dp.DotProduct(c11, a, b);
        }
        return Vector128.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
