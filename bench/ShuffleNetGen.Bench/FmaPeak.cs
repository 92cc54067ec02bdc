using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ShuffleNetGen.Kernels;

namespace ShuffleNetGen.Bench;

/// <summary>
/// This core's multiply-add peak, measured rather than computed from a clock and a pipe count that a VM may not
/// report truthfully: twelve independent FMA chains (more than latency × pipes on current x64 and ARM64 cores, so
/// throughput-bound), best of several 50 ms runs.
/// </summary>
internal static class FmaPeak
{
    public static double Gmacs512() => Best(lanes: 16, Chains512);

    public static double Gmacs256() => Best(lanes: 8, Chains256);

    public static double Gmacs128() => Best(lanes: 4, Chains128);

    /// <summary>The peak of the widest accelerated vector, which is what the generated code uses.</summary>
    public static (string Width, double Gmacs) Widest() =>
        Vector512.IsHardwareAccelerated ? ("Vector512", Gmacs512())
        : Vector256.IsHardwareAccelerated ? ("Vector256", Gmacs256())
        : ("Vector128", Gmacs128());

    private const int ChainCount = 12;

    /// <summary>GMAC/s of <paramref name="run"/>, whose loop does <see cref="ChainCount"/> operations of <paramref name="lanes"/> multiply-adds each per iteration.</summary>
    internal static double Best(int lanes, Func<long, float> run)
    {
        run(1000); // compile
        long iterations = 1 << 16;
        while (Time(run, iterations) < 0.05) iterations *= 2;
        double best = 0;
        for (int trial = 0; trial < 7; trial++)
            best = Math.Max(best, iterations * ChainCount * lanes / Time(run, iterations) / 1e9);
        return best;
    }

    private static double Time(Func<long, float> run, long iterations)
    {
        long start = Stopwatch.GetTimestamp();
        float sink = run(iterations);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (float.IsNaN(sink)) Console.Write(""); // keeps the result alive
        return seconds;
    }

    private static float Chains512(long iterations) => Chains<Vector512<float>, Ops512>(iterations);

    private static float Chains256(long iterations) => Chains<Vector256<float>, Ops256>(iterations);

    private static float Chains128(long iterations) => Chains<Vector128<float>, Ops128>(iterations);

    // Generic over a struct, so the JIT compiles one specialized copy per width with the operations inlined.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains<TVector, TOps>(long iterations) where TVector : struct where TOps : struct, IVectorOps<TVector>
    {
        var a = TOps.Splat(0.999999f);
        var b = TOps.Splat(1e-7f);
        TVector c0 = TOps.Splat(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = TOps.MulAdd(c0, a, b); c1 = TOps.MulAdd(c1, a, b); c2 = TOps.MulAdd(c2, a, b); c3 = TOps.MulAdd(c3, a, b);
            c4 = TOps.MulAdd(c4, a, b); c5 = TOps.MulAdd(c5, a, b); c6 = TOps.MulAdd(c6, a, b); c7 = TOps.MulAdd(c7, a, b);
            c8 = TOps.MulAdd(c8, a, b); c9 = TOps.MulAdd(c9, a, b); c10 = TOps.MulAdd(c10, a, b); c11 = TOps.MulAdd(c11, a, b);
        }
        var all = TOps.Add(TOps.Add(TOps.Add(c0, c1), TOps.Add(c2, c3)), TOps.Add(TOps.Add(c4, c5), TOps.Add(c6, c7)));
        return TOps.Sum(TOps.Add(all, TOps.Add(TOps.Add(c8, c9), TOps.Add(c10, c11))));
    }

    private interface IVectorOps<TVector>
    {
        static abstract TVector Splat(float value);
        static abstract TVector MulAdd(TVector a, TVector b, TVector addend);
        static abstract TVector Add(TVector a, TVector b);
        static abstract float Sum(TVector v);
    }

    private struct Ops512 : IVectorOps<Vector512<float>>
    {
        public static Vector512<float> Splat(float value) => Vector512.Create(value);
        public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend) => Simd.MulAdd(a, b, addend);
        public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
        public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    }

    private struct Ops256 : IVectorOps<Vector256<float>>
    {
        public static Vector256<float> Splat(float value) => Vector256.Create(value);
        public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) => Simd.MulAdd(a, b, addend);
        public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
        public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    }

    private struct Ops128 : IVectorOps<Vector128<float>>
    {
        public static Vector128<float> Splat(float value) => Vector128.Create(value);
        public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> addend) => Simd.MulAdd(a, b, addend);
        public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
        public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    }
}
