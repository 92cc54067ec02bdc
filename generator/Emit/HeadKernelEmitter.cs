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
        int vectors = count / Lanes;
        w.Line("float sum = 0f;");
        if (vectors > 0)
        {
            w.Line("var total = Vector128<float>.Zero;");
            using (w.Open($"for (int i = 0; i < {vectors * Lanes}; i += {Lanes})"))
            {
                w.Line(b is null
                    ? $"total += Vector128.LoadUnsafe(ref {a}, (nuint)i);"
                    : $"total = Simd.MulAdd(Vector128.LoadUnsafe(ref {a}, (nuint)i), Vector128.LoadUnsafe(ref {b}, (nuint)i), total);");
            }
            w.Line("sum = Vector128.Sum(total);");
        }
        if (vectors * Lanes < count)
        {
            using (w.Open($"for (int i = {vectors * Lanes}; i < {count}; i++)"))
                w.Line(b is null ? $"sum += Unsafe.Add(ref {a}, i);" : $"sum += Unsafe.Add(ref {a}, i) * Unsafe.Add(ref {b}, i);");
        }
    }
}
