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
    /// The variants of a head kernel that sums rows of <paramref name="count"/> elements: Vector512 (two accumulators of
    /// sixteen, then the portable loop for the rest), AdvSimd (four rows side by side), portable Vector128.
    /// </summary>
    public static List<KernelVariant> Variants(string name, int count, bool wide, bool neon, string neonLabel)
    {
        var variants = new List<KernelVariant>();
        if (wide && count >= WideBlock) variants.Add(new(RuntimeChecks.Vector512Accelerated, name + "_V512", "Vector512"));
        if (neon) variants.Add(new(RuntimeChecks.AdvSimdArm64, name + "_AdvSimd", "Vector128, " + neonLabel));
        variants.Add(new(null, name + "_V128", count >= Lanes ? "Vector128" : "scalar"));
        return variants;
    }

    /// <summary>
    /// The dispatcher and its variants over the rows of a <see cref="WorkRange"/> (loop variable <paramref name="index"/>):
    /// the AdvSimd variant four rows at a time by <paramref name="neonFour"/> and the remainder by
    /// <paramref name="portable"/>, the others all their rows by <paramref name="portable"/> (its arguments: the first
    /// and end row as expressions, whether the sums run on Vector512, and the lowest row the first can be: 0, or where
    /// the AdvSimd variant's blocks of four end).
    /// </summary>
    public static void EmitKernel(SourceWriter w, string summary, string name, string parameters, string arguments, IReadOnlyList<KernelVariant> variants,
        string index, int rows, System.Action neonFour, System.Action<string, string, bool, int> portable)
    {
        // A team splits the rows by blocks of Lanes (WorkItems): [Start, Stop) of them, the last one shorter where the
        // rows do not fill it. Each row's sum is the same whichever thread computes it.
        string first = $"{WorkRange.Start} * {Lanes}";
        string end = $"Math.Min({WorkRange.Stop} * {Lanes}, {rows})";
        parameters += ", " + WorkRange.Parameters;
        KernelSyntax.EmitDispatcher(w, summary, $"{name}({parameters})", arguments + ", " + WorkRange.Arguments, variants);
        foreach (var variant in variants)
        {
            w.Line(KernelSyntax.Optimized);
            using (w.Open($"private static void {variant.Method}({parameters})"))
            {
                if (variant.Condition == RuntimeChecks.AdvSimdArm64)
                {
                    int neonRows = rows / Lanes * Lanes;
                    using (w.Open($"for (int {index} = {first}; {index} < Math.Min({WorkRange.Stop} * {Lanes}, {neonRows}); {index} += {Lanes})"))
                        neonFour();
                    if (neonRows < rows) portable($"Math.Max({first}, {neonRows})", end, false, neonRows);
                }
                else
                {
                    portable(first, end, variant.Condition == RuntimeChecks.Vector512Accelerated, 0);
                }
            }
            w.Line();
        }
    }

    /// <summary>A head kernel's work items: its rows in blocks of <see cref="Lanes"/>.</summary>
    public static int WorkItems(int rows) => (rows + Lanes - 1) / Lanes;

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

    /// <summary>Sum of <paramref name="a"/>[i] (times <paramref name="b"/>[i] when given) over <paramref name="count"/> elements, on Vector512 first when <paramref name="wide"/>.</summary>
    public static void EmitSum(SourceWriter w, string a, string? b, int count, bool wide)
    {
        w.Line("float sum = 0f;");
        int blocks = wide ? count / WideBlock : 0;
        if (blocks > 0)
        {
            // AVX-512: two 16-lane accumulators (two FMA pipes), then the portable loop below finishes the rest.
            w.Line("var t0 = Vector512<float>.Zero;");
            w.Line("var t1 = Vector512<float>.Zero;");
            using (Loop.Open(w, "i", 0, blocks * WideBlock, WideBlock))
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
        }
        EmitPortableSum(w, a, b, count, blocks * WideBlock);
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
