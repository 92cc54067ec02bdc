using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The reductions the head kernels (global pool, classifier) are made of: a row of sums, four rows side by side on
/// ARM64, and one long sum with a Vector512 main loop.
/// </summary>
internal static class HeadSums
{
    public const int Lanes = 4;

    /// <summary>Elements per iteration of the Vector512 sum (two accumulators of sixteen).</summary>
    public const int WideBlock = 32;

    /// <summary>
    /// Rows <c>0 .. count − 1</c> (channels or classes, loop variable <paramref name="index"/>): on ARM64 four at a time
    /// by <paramref name="neonFour"/> and the remainder by <paramref name="portable"/>; elsewhere all by the latter.
    /// </summary>
    public static void EmitRows(SourceWriter w, string index, int count, bool neon, System.Action neonFour, System.Action<int, int> portable)
    {
        int neonRows = neon ? count / Lanes * Lanes : 0;
        if (neonRows == 0)
        {
            portable(0, count);
            return;
        }
        using (w.Open($"if ({RuntimeChecks.AdvSimdArm64})"))
        {
            using (Loop.Open(w, index, 0, neonRows, Lanes))
                neonFour();
            portable(neonRows, count);
        }
        using (w.Open("else"))
            portable(0, count);
    }

    /// <summary>The path a sum over <paramref name="count"/> elements takes, as a C# expression.</summary>
    public static string PathExpression(int count, bool wide, bool neon, string neonLabel)
    {
        var paths = new List<(string?, string)>();
        if (wide && count >= WideBlock) paths.Add((RuntimeChecks.Vector512Accelerated, "Vector512"));
        if (neon) paths.Add((RuntimeChecks.AdvSimdArm64, "Vector128, " + neonLabel));
        paths.Add((null, count >= Lanes ? "Vector128" : "scalar"));
        return KernelSyntax.ChoosePath(paths);
    }

    /// <summary>
    /// ARM64: accumulates four rows side by side (row r at <c>rowStride·(first + r)</c>, times <paramref name="b"/>
    /// when given, which then loads once for all four), then two FADDP levels fold the four accumulators into one
    /// vector of four sums. Replaces four across-vector reductions and four scalar stores. Leaves <c>sums</c>.
    /// </summary>
    public static void EmitNeonFourSums(SourceWriter w, string a, int rowStride, string first, string? b, int count)
    {
        int vectorEnd = count / Lanes * Lanes;
        for (int r = 0; r < Lanes; r++)
        {
            w.Line($"ref float row{r} = ref Unsafe.Add(ref {a}, ({Loop.Sum(first, r.ToString())}) * {rowStride});");
            w.Line($"var sum{r} = Vector128<float>.Zero;");
        }
        using (Loop.Open(w, "i", 0, vectorEnd, 4))
        {
            if (b is not null) w.Line($"var x = Vector128.LoadUnsafe(ref {b}, (nuint)i);");
            for (int r = 0; r < Lanes; r++)
            {
                w.Line(b is null
                    ? $"sum{r} = AdvSimd.Add(sum{r}, Vector128.LoadUnsafe(ref row{r}, (nuint)i));"
                    : $"sum{r} = AdvSimd.FusedMultiplyAdd(sum{r}, Vector128.LoadUnsafe(ref row{r}, (nuint)i), x);");
            }
        }
        w.Line("var sums = AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(sum0, sum1), AdvSimd.Arm64.AddPairwise(sum2, sum3));");
        if (vectorEnd < count)
        {
            using (Loop.Open(w, "i", vectorEnd, count))
            {
                string Element(int r) => b is null ? $"Unsafe.Add(ref row{r}, i)" : $"Unsafe.Add(ref row{r}, i) * Unsafe.Add(ref {b}, i)";
                w.Line($"sums += Vector128.Create({Element(0)}, {Element(1)}, {Element(2)}, {Element(3)});");
            }
        }
    }

    /// <summary>Sum of <paramref name="a"/>[i] (times <paramref name="b"/>[i] when given) over <paramref name="count"/> elements.</summary>
    public static void EmitSum(SourceWriter w, string a, string? b, int count, bool wideAllowed)
    {
        w.Line("float sum = 0f;");
        int wide = wideAllowed ? count / WideBlock : 0;
        if (wide > 0)
        {
            // AVX-512: two 16-lane accumulators (two FMA pipes), then the portable loop below finishes the rest.
            using (w.Open($"if ({RuntimeChecks.Vector512Accelerated})"))
            {
                w.Line("var t0 = Vector512<float>.Zero;");
                w.Line("var t1 = Vector512<float>.Zero;");
                using (Loop.Open(w, "i", 0, wide * WideBlock, WideBlock))
                {
                    for (int h = 0; h < 2; h++)
                    {
                        string at = h == 0 ? "(nuint)i" : "(nuint)(i + 16)";
                        w.Line(b is null
                            ? $"t{h} += Vector512.LoadUnsafe(ref {a}, {at});"
                            : $"t{h} = Simd.MulAdd(Vector512.LoadUnsafe(ref {a}, {at}), Vector512.LoadUnsafe(ref {b}, {at}), t{h});");
                    }
                }
                w.Line("sum = Vector512.Sum(t0 + t1);");
                EmitPortableSum(w, a, b, count, wide * WideBlock);
            }
            using (w.Open("else"))
                EmitPortableSum(w, a, b, count, 0);
        }
        else
        {
            EmitPortableSum(w, a, b, count, 0);
        }
    }

    /// <summary>Adds elements [<paramref name="start"/>, <paramref name="count"/>) to <c>sum</c>.</summary>
    private static void EmitPortableSum(SourceWriter w, string a, string? b, int count, int start)
    {
        int vectors = (count - start) / Lanes;
        if (vectors > 0)
        {
            w.Line("var total = Vector128<float>.Zero;");
            using (Loop.Open(w, "i", start, start + vectors * Lanes, Lanes))
            {
                w.Line(b is null
                    ? $"total += Vector128.LoadUnsafe(ref {a}, (nuint)i);"
                    : $"total = Simd.MulAdd(Vector128.LoadUnsafe(ref {a}, (nuint)i), Vector128.LoadUnsafe(ref {b}, (nuint)i), total);");
            }
            w.Line("sum += Vector128.Sum(total);");
        }
        if (start + vectors * Lanes < count)
        {
            using (Loop.Open(w, "i", start + vectors * Lanes, count))
                w.Line(b is null ? $"sum += Unsafe.Add(ref {a}, i);" : $"sum += Unsafe.Add(ref {a}, i) * Unsafe.Add(ref {b}, i);");
        }
    }
}
