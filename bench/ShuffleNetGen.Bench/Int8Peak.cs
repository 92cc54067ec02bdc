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
    /// <summary>Every family this core runs, named as <c>SHUFFLENETGEN_INT8_FAMILY</c> names it, with its instructions and int8 GMAC/s.</summary>
    public static IEnumerable<(string Family, double Gmacs)> Measure()
    {
        // VPDPBUSD: u8 × s8, four products summed into each int32 lane, one instruction.
        if (AvxVnni.IsSupported)
        {
            yield return ("vnni256: AvxVnni VPDPBUSD ymm", FmaPeak.Best(32, VnniChains256));
            yield return ("vnni128: AvxVnni VPDPBUSD xmm", FmaPeak.Best(16, VnniChains128));
        }
        // Without VNNI: VPMADDUBSW (u8 × s8 pairs to saturated int16), VPMADDWD by ones (pairs to int32), VPADDD.
        if (Avx512BW.IsSupported) yield return ("madd512: Avx512BW VPMADDUBSW+VPMADDWD+VPADDD zmm", FmaPeak.Best(64, MaddChains512));
        if (Avx2.IsSupported) yield return ("madd256: Avx2 VPMADDUBSW+VPMADDWD+VPADDD ymm", FmaPeak.Best(32, MaddChains256));
        if (Ssse3.IsSupported) yield return ("madd128: Ssse3 PMADDUBSW+PMADDWD+PADDD xmm", FmaPeak.Best(16, MaddChains128));
        // ARM64 SDOT: s8 × s8, four products into each int32 lane; without it, widening multiplies and pairwise adds.
        if (Dp.IsSupported) yield return ("sdot: Dp SDOT", FmaPeak.Best(16, SdotChains));
        if (AdvSimd.Arm64.IsSupported) yield return ("advsimd: AdvSimd SMULL+SMULL2+SADDLP+SADDLP+ADDP", FmaPeak.Best(16, WideningChains));
        // What runs without hardware intrinsics: four 32-bit multiplies and the shifts that take the bytes apart.
        if (Vector128.IsHardwareAccelerated) yield return ("portable: Vector128 shifts and 32-bit multiplies", FmaPeak.Best(16, PortableChains));
    }

    private static float VnniChains256(long iterations) => Chains<Vector256<int>, Vnni256>(iterations);

    private static float VnniChains128(long iterations) => Chains<Vector128<int>, Vnni128>(iterations);

    private static float MaddChains512(long iterations) => Chains<Vector512<int>, Madd512>(iterations);

    private static float MaddChains256(long iterations) => Chains<Vector256<int>, Madd256>(iterations);

    private static float SdotChains(long iterations) => Chains<Vector128<int>, Sdot>(iterations);

    private static float MaddChains128(long iterations) => Chains<Vector128<int>, Madd128>(iterations);

    private static float WideningChains(long iterations) => Chains<Vector128<int>, Widening>(iterations);

    private static float PortableChains(long iterations) => Chains<Vector128<int>, PortableShifts>(iterations);

    // Generic over a struct, as FmaPeak is: one specialized copy per family, with its step inlined.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains<TAcc, TStep>(long iterations) where TAcc : struct where TStep : struct, IDotStep<TAcc>
    {
        TAcc c0 = TStep.Start, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = TStep.Step(c0); c1 = TStep.Step(c1); c2 = TStep.Step(c2); c3 = TStep.Step(c3);
            c4 = TStep.Step(c4); c5 = TStep.Step(c5); c6 = TStep.Step(c6); c7 = TStep.Step(c7);
            c8 = TStep.Step(c8); c9 = TStep.Step(c9); c10 = TStep.Step(c10); c11 = TStep.Step(c11);
        }
        var all = TStep.Add(TStep.Add(TStep.Add(c0, c1), TStep.Add(c2, c3)), TStep.Add(TStep.Add(c4, c5), TStep.Add(c6, c7)));
        return TStep.Sum(TStep.Add(all, TStep.Add(TStep.Add(c8, c9), TStep.Add(c10, c11))));
    }

    /// <summary>One int8 dot-product step of a family, on an int32 accumulator.</summary>
    private interface IDotStep<TAcc>
    {
        static abstract TAcc Start { get; }
        static abstract TAcc Step(TAcc acc);
        static abstract TAcc Add(TAcc a, TAcc b);
        static abstract float Sum(TAcc acc);
    }

    private struct Vnni256 : IDotStep<Vector256<int>>
    {
        public static Vector256<int> Start => Vector256<int>.Zero;
        public static Vector256<int> Step(Vector256<int> acc) => AvxVnni.MultiplyWideningAndAdd(acc, Vector256.Create((byte)3), Vector256.Create((sbyte)-2));
        public static Vector256<int> Add(Vector256<int> a, Vector256<int> b) => a + b;
        public static float Sum(Vector256<int> acc) => Vector256.Sum(acc);
    }

    private struct Vnni128 : IDotStep<Vector128<int>>
    {
        public static Vector128<int> Start => Vector128<int>.Zero;
        public static Vector128<int> Step(Vector128<int> acc) => AvxVnni.MultiplyWideningAndAdd(acc, Vector128.Create((byte)3), Vector128.Create((sbyte)-2));
        public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        public static float Sum(Vector128<int> acc) => Vector128.Sum(acc);
    }

    // The bytes multiplied come from the accumulator itself, so the JIT cannot hoist the two multiplies out of the loop
    // as invariant; each chain is then multiply, multiply, add, which twelve chains cover on current cores.
    private struct Madd512 : IDotStep<Vector512<int>>
    {
        public static Vector512<int> Start => Vector512.Create(1);
        public static Vector512<int> Step(Vector512<int> acc) =>
            acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(acc.AsByte(), Vector512.Create((sbyte)1)), Vector512.Create((short)1));
        public static Vector512<int> Add(Vector512<int> a, Vector512<int> b) => a + b;
        public static float Sum(Vector512<int> acc) => Vector512.Sum(acc);
    }

    private struct Madd256 : IDotStep<Vector256<int>>
    {
        public static Vector256<int> Start => Vector256.Create(1);
        public static Vector256<int> Step(Vector256<int> acc) =>
            acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(acc.AsByte(), Vector256.Create((sbyte)1)), Vector256.Create((short)1));
        public static Vector256<int> Add(Vector256<int> a, Vector256<int> b) => a + b;
        public static float Sum(Vector256<int> acc) => Vector256.Sum(acc);
    }

    private struct Madd128 : IDotStep<Vector128<int>>
    {
        public static Vector128<int> Start => Vector128.Create(1);
        public static Vector128<int> Step(Vector128<int> acc) =>
            acc + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(acc.AsByte(), Vector128.Create((sbyte)1)), Vector128.Create((short)1));
        public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        public static float Sum(Vector128<int> acc) => Vector128.Sum(acc);
    }

    /// <summary>Int8Simd's ARM64 fallback without SDOT, step for step; the bytes come from the accumulator, as in the madd chains.</summary>
    private struct Widening : IDotStep<Vector128<int>>
    {
        public static Vector128<int> Start => Vector128.Create(1);
        public static Vector128<int> Step(Vector128<int> acc)
        {
            var xs = acc.AsSByte();
            var ws = Vector128.Create((sbyte)1);
            var low = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningLower(xs.GetLower(), ws.GetLower()));
            var high = AdvSimd.AddPairwiseWidening(AdvSimd.MultiplyWideningUpper(xs, ws));
            return acc + AdvSimd.Arm64.AddPairwise(low, high);
        }
        public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        public static float Sum(Vector128<int> acc) => Vector128.Sum(acc);
    }

    /// <summary>Int8Simd's portable dot product, step for step (it is internal to the runtime).</summary>
    private struct PortableShifts : IDotStep<Vector128<int>>
    {
        public static Vector128<int> Start => Vector128.Create(1);
        public static Vector128<int> Step(Vector128<int> acc)
        {
            var w = Vector128.Create(0x01FF02FE);
            var mask = Vector128.Create(0xFF);
            var sum = (acc & mask) * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w, 24), 24);
            sum += (Vector128.ShiftRightLogical(acc, 8) & mask) * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w, 16), 24);
            sum += (Vector128.ShiftRightLogical(acc, 16) & mask) * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w, 8), 24);
            return acc + sum + Vector128.ShiftRightLogical(acc, 24) * Vector128.ShiftRightArithmetic(w, 24);
        }
        public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        public static float Sum(Vector128<int> acc) => Vector128.Sum(acc);
    }

    private struct Sdot : IDotStep<Vector128<int>>
    {
        public static Vector128<int> Start => Vector128<int>.Zero;
        public static Vector128<int> Step(Vector128<int> acc) => Dp.DotProduct(acc, Vector128.Create((sbyte)3), Vector128.Create((sbyte)-2));
        public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        public static float Sum(Vector128<int> acc) => Vector128.Sum(acc);
    }
}
