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

    private const int Chains = 12;

    private static double Best(int lanes, Func<long, float> run)
    {
        run(1000); // compile
        long iterations = 1 << 16;
        while (Time(run, iterations) < 0.05) iterations *= 2;
        double best = 0;
        for (int trial = 0; trial < 7; trial++)
            best = Math.Max(best, iterations * Chains * lanes / Time(run, iterations) / 1e9);
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

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long iterations)
    {
        var a = Vector512.Create(0.999999f);
        var b = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Simd.MulAdd(c0, a, b); c1 = Simd.MulAdd(c1, a, b); c2 = Simd.MulAdd(c2, a, b); c3 = Simd.MulAdd(c3, a, b);
            c4 = Simd.MulAdd(c4, a, b); c5 = Simd.MulAdd(c5, a, b); c6 = Simd.MulAdd(c6, a, b); c7 = Simd.MulAdd(c7, a, b);
            c8 = Simd.MulAdd(c8, a, b); c9 = Simd.MulAdd(c9, a, b); c10 = Simd.MulAdd(c10, a, b); c11 = Simd.MulAdd(c11, a, b);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long iterations)
    {
        var a = Vector256.Create(0.999999f);
        var b = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Simd.MulAdd(c0, a, b); c1 = Simd.MulAdd(c1, a, b); c2 = Simd.MulAdd(c2, a, b); c3 = Simd.MulAdd(c3, a, b);
            c4 = Simd.MulAdd(c4, a, b); c5 = Simd.MulAdd(c5, a, b); c6 = Simd.MulAdd(c6, a, b); c7 = Simd.MulAdd(c7, a, b);
            c8 = Simd.MulAdd(c8, a, b); c9 = Simd.MulAdd(c9, a, b); c10 = Simd.MulAdd(c10, a, b); c11 = Simd.MulAdd(c11, a, b);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains128(long iterations)
    {
        var a = Vector128.Create(0.999999f);
        var b = Vector128.Create(1e-7f);
        Vector128<float> c0 = Vector128.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Simd.MulAdd(c0, a, b); c1 = Simd.MulAdd(c1, a, b); c2 = Simd.MulAdd(c2, a, b); c3 = Simd.MulAdd(c3, a, b);
            c4 = Simd.MulAdd(c4, a, b); c5 = Simd.MulAdd(c5, a, b); c6 = Simd.MulAdd(c6, a, b); c7 = Simd.MulAdd(c7, a, b);
            c8 = Simd.MulAdd(c8, a, b); c9 = Simd.MulAdd(c9, a, b); c10 = Simd.MulAdd(c10, a, b); c11 = Simd.MulAdd(c11, a, b);
        }
        return Vector128.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
