using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>Emits the global average pool and the fully connected classifier.</summary>
internal static class HeadKernelEmitter
{
    private const int Lanes = 4;

    public static string KernelName(GlobalPoolOp op) => $"GlobalAvgPool_{op.Input.Channels}ch_{op.Input.Pixels}px_V128";

    public static string KernelName(LinearOp op) => $"Linear_{op.InFeatures}to{op.OutFeatures}_V128";

    public static void Emit(SourceWriter w, GlobalPoolOp op)
    {
        int pixels = op.Input.Pixels;
        w.Line($"/// <summary>Mean of each of {op.Input.Channels} planes of {pixels} pixels.</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float destination)"))
        {
            using (w.Open($"for (int c = 0; c < {op.Input.Channels}; c++)"))
            {
                w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {pixels});");
                EmitSum(w, "plane", null, pixels);
                w.Line($"Unsafe.Add(ref destination, c) = sum / {pixels}f;");
            }
        }
        w.Line();
    }

    public static void Emit(SourceWriter w, LinearOp op)
    {
        int n = op.InFeatures;
        w.Line($"/// <summary>Fully connected layer, {n} features to {op.OutFeatures} logits.</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float weights, ref float logits)"))
        {
            using (w.Open($"for (int o = 0; o < {op.OutFeatures}; o++)"))
            {
                w.Line($"ref float row = ref Unsafe.Add(ref weights, o * {n});");
                EmitSum(w, "row", "source", n);
                w.Line($"Unsafe.Add(ref logits, o) = sum + Unsafe.Add(ref weights, {(long)n * op.OutFeatures} + o);");
            }
        }
        w.Line();
    }

    /// <summary>Sum of <paramref name="a"/>[i] (times <paramref name="b"/>[i] when given) over <paramref name="count"/> elements.</summary>
    private static void EmitSum(SourceWriter w, string a, string? b, int count)
    {
        w.Line("float sum = 0f;");
        int wide = count / 32;
        if (wide > 0)
        {
            // AVX-512: two 16-lane accumulators (two FMA pipes), then the portable loop below finishes the rest.
            using (w.Open("if (Vector512.IsHardwareAccelerated)"))
            {
                w.Line("var t0 = Vector512<float>.Zero;");
                w.Line("var t1 = Vector512<float>.Zero;");
                using (w.Open($"for (int i = 0; i < {wide * 32}; i += 32)"))
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
                EmitPortableSum(w, a, b, count, wide * 32);
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
