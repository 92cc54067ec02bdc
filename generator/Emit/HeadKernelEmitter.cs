using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>Emits the global average pool and the fully connected classifier.</summary>
internal static class HeadKernelEmitter
{
    private const int Lanes = 4;

    /// <summary>Elements per iteration of the Vector512 sum (two accumulators of sixteen).</summary>
    private const int WideBlock = 32;

    public static string KernelName(GlobalPoolOp op) => $"GlobalAvgPool_{op.Input.Channels}ch_{op.Input.Pixels}px_V128";

    public static string KernelName(LinearOp op) => $"Linear_{op.InFeatures}to{op.OutFeatures}_V128";

    public static void Emit(SourceWriter w, GlobalPoolOp op, TargetWidths target)
    {
        int pixels = op.Input.Pixels;
        w.Line($"/// <summary>Mean of each of {op.Input.Channels} planes of {pixels} pixels.</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float destination)"))
        {
            int channels = op.Input.Channels;
            EmitRows(w, "c", channels, HasNeonVariant(op) && target.CanHold(RuntimeChecks.AdvSimdArm64),
                neonFour: () =>
                {
                    EmitNeonFourSums(w, "source", pixels, "c", null, pixels);
                    w.Line($"(sums / Vector128.Create({pixels}f)).StoreUnsafe(ref destination, (nuint)c);");
                },
                portable: (start, end) => EmitPoolChannels(w, pixels, start, end, target));
        }
        w.Line();
    }

    /// <summary>
    /// Rows <c>0 .. count − 1</c> (channels or classes, loop variable <paramref name="index"/>): on ARM64 four at a time
    /// by <paramref name="neonFour"/> and the remainder by <paramref name="portable"/>; elsewhere all by the latter.
    /// </summary>
    private static void EmitRows(SourceWriter w, string index, int count, bool neon, System.Action neonFour, System.Action<int, int> portable)
    {
        int neonRows = neon ? count / Lanes * Lanes : 0;
        if (neonRows == 0)
        {
            portable(0, count);
            return;
        }
        using (w.Open($"if ({RuntimeChecks.AdvSimdArm64})"))
        {
            using (w.Open($"for (int {index} = 0; {index} < {neonRows}; {index} += {Lanes})"))
                neonFour();
            portable(neonRows, count);
        }
        using (w.Open("else"))
            portable(0, count);
    }

    private static void EmitPoolChannels(SourceWriter w, int pixels, int start, int end, TargetWidths target)
    {
        if (start == end) return;
        using (w.Open($"for (int c = {start}; c < {end}; c++)"))
        {
            w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {pixels});");
            EmitSum(w, "plane", null, pixels, target);
            w.Line($"Unsafe.Add(ref destination, c) = sum / {pixels}f;");
        }
    }

    public static string PathExpression(GlobalPoolOp op, TargetWidths target) => PathExpression(op.Input.Pixels, HasNeonVariant(op), "AdvSimd faddp", target);

    public static string PathExpression(LinearOp op, TargetWidths target) => PathExpression(op.InFeatures, HasNeonVariant(op), "AdvSimd fmla, faddp", target);

    private static string PathExpression(int count, bool neon, string neonLabel, TargetWidths target)
    {
        var paths = new List<(string?, string)>();
        if (count >= WideBlock) paths.Add((RuntimeChecks.Vector512Accelerated, "Vector512"));
        if (neon) paths.Add((RuntimeChecks.AdvSimdArm64, "Vector128, " + neonLabel));
        paths.Add((null, count >= Lanes ? "Vector128" : "scalar"));
        return ModelEmitter.ChoosePath(paths, target);
    }

    /// <summary>
    /// Four rows (channels or classes) at a time need at least four rows and a vector's worth of elements each;
    /// where the Vector512 sum applies (x64), the AdvSimd branch is dead code anyway.
    /// </summary>
    internal static bool HasNeonVariant(GlobalPoolOp op) => op.Input.Channels >= Lanes && op.Input.Pixels >= Lanes;

    internal static bool HasNeonVariant(LinearOp op) => op.OutFeatures >= Lanes && op.InFeatures >= Lanes;

    /// <summary>
    /// ARM64: accumulates four rows side by side (row r at <c>rowStride·(first + r)</c>, times <paramref name="b"/>
    /// when given, which then loads once for all four), then two FADDP levels fold the four accumulators into one
    /// vector of four sums. Replaces four across-vector reductions and four scalar stores. Leaves <c>sums</c>.
    /// </summary>
    private static void EmitNeonFourSums(SourceWriter w, string a, int rowStride, string first, string? b, int count)
    {
        int vectorEnd = count / Lanes * Lanes;
        for (int r = 0; r < Lanes; r++)
        {
            w.Line($"ref float row{r} = ref Unsafe.Add(ref {a}, ({first} + {r}) * {rowStride});");
            w.Line($"var sum{r} = Vector128<float>.Zero;");
        }
        using (w.Open($"for (int i = 0; i < {vectorEnd}; i += 4)"))
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
            using (w.Open($"for (int i = {vectorEnd}; i < {count}; i++)"))
            {
                string Element(int r) => b is null ? $"Unsafe.Add(ref row{r}, i)" : $"Unsafe.Add(ref row{r}, i) * Unsafe.Add(ref {b}, i)";
                w.Line($"sums += Vector128.Create({Element(0)}, {Element(1)}, {Element(2)}, {Element(3)});");
            }
        }
    }

    public static void Emit(SourceWriter w, LinearOp op, TargetWidths target)
    {
        int n = op.InFeatures;
        w.Line($"/// <summary>Fully connected layer, {n} features to {op.OutFeatures} logits.</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float weights, ref float logits)"))
        {
            int outputs = op.OutFeatures;
            EmitRows(w, "o", outputs, HasNeonVariant(op) && target.CanHold(RuntimeChecks.AdvSimdArm64),
                neonFour: () =>
                {
                    EmitNeonFourSums(w, "weights", n, "o", "source", n);
                    w.Line($"(sums + Vector128.LoadUnsafe(ref weights, (nuint)({(long)n * outputs} + o))).StoreUnsafe(ref logits, (nuint)o);");
                },
                portable: (start, end) => EmitLinearRows(w, op, start, end, target));
        }
        w.Line();
    }

    private static void EmitLinearRows(SourceWriter w, LinearOp op, int start, int end, TargetWidths target)
    {
        if (start == end) return;
        int n = op.InFeatures;
        using (w.Open($"for (int o = {start}; o < {end}; o++)"))
        {
            w.Line($"ref float row = ref Unsafe.Add(ref weights, o * {n});");
            EmitSum(w, "row", "source", n, target);
            w.Line($"Unsafe.Add(ref logits, o) = sum + Unsafe.Add(ref weights, {(long)n * op.OutFeatures} + o);");
        }
    }

    /// <summary>Sum of <paramref name="a"/>[i] (times <paramref name="b"/>[i] when given) over <paramref name="count"/> elements.</summary>
    private static void EmitSum(SourceWriter w, string a, string? b, int count, TargetWidths target)
    {
        w.Line("float sum = 0f;");
        int wide = target.CanHold(RuntimeChecks.Vector512Accelerated) ? count / WideBlock : 0;
        if (wide > 0)
        {
            // AVX-512: two 16-lane accumulators (two FMA pipes), then the portable loop below finishes the rest.
            using (w.Open($"if ({RuntimeChecks.Vector512Accelerated})"))
            {
                w.Line("var t0 = Vector512<float>.Zero;");
                w.Line("var t1 = Vector512<float>.Zero;");
                using (w.Open($"for (int i = 0; i < {wide * WideBlock}; i += {WideBlock})"))
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
            using (w.Open($"for (int i = {start}; i < {start + vectors * Lanes}; i += {Lanes})"))
            {
                w.Line(b is null
                    ? $"total += Vector128.LoadUnsafe(ref {a}, (nuint)i);"
                    : $"total = Simd.MulAdd(Vector128.LoadUnsafe(ref {a}, (nuint)i), Vector128.LoadUnsafe(ref {b}, (nuint)i), total);");
            }
            w.Line("sum += Vector128.Sum(total);");
        }
        if (start + vectors * Lanes < count)
        {
            using (w.Open($"for (int i = {start + vectors * Lanes}; i < {count}; i++)"))
                w.Line(b is null ? $"sum += Unsafe.Add(ref {a}, i);" : $"sum += Unsafe.Add(ref {a}, i) * Unsafe.Add(ref {b}, i);");
        }
    }
}
