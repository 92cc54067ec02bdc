using System.Linq;
using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The int8 classifier: per class, the int32 dot product of the per-image quantized features (a
/// <see cref="FeatureQuantizeOp"/>'s slots) with the class's int8 weights, then one fused multiply-add to float with
/// the feature scale times the class's weight scale, and the bias. Rows are whole Vector512s of slots
/// (<see cref="LinearOp.RowSlots"/>), so each width's loop covers them with no tail.
/// </summary>
/// <remarks>
/// The float classifier streams four bytes per weight, the largest single tensor of a 1000-class model (3.8 MB at 1x
/// g = 3), from memory on every image; int8 rows stream a quarter of that, which is where its time goes.
/// </remarks>
internal sealed class Int8ClassifierKernel : IKernelEmitter
{
    private readonly LinearOp _op;
    private readonly VectorWidths _widths;

    public Int8ClassifierKernel(LinearOp op, VectorWidths widths)
    {
        _op = op;
        _widths = widths;
    }

    public const string Prefix = "Int8Linear_";

    public string Name => $"{Prefix}{_op.InFeatures}to{_op.OutFeatures}";

    public string PathKey => Name;

    private int Slots => LinearOp.RowSlots(_op.InFeatures);

    private const string Int8Simd = KernelSyntax.Runtime + ".Kernels.Int8Simd";

    /// <summary>
    /// The variants, widest first, each with the check that picks it (null: the last, Vector128, which runs anywhere).
    /// The 256-bit VNNI family has one of its own, four classes at a time (see <see cref="EmitRows"/>).
    /// </summary>
    private IReadOnlyList<(string Vector, int Lanes, string Suffix, string? Condition, bool Together)> Variants
    {
        get
        {
            var variants = new List<(string, int, string, string?, bool)>();
            foreach (var (vector, lanes) in _widths.WidestFirst())
            {
                if (vector == "Vector256") variants.Add((vector, lanes, "V256Vnni", Int8PointwiseKernel.Int8FamilyCondition(PointwiseKernelBase.V256Vnni), true));
                variants.Add((vector, lanes, vector.Replace("Vector", "V"), vector == "Vector128" ? null : Int8PointwiseKernel.Int8FamilyCondition(vector), false));
            }
            return variants;
        }
    }

    public string PathExpression
    {
        get
        {
            var text = new System.Text.StringBuilder();
            foreach (var (_, lanes, suffix, condition, _) in Variants)
            {
                if (condition is null) text.Append($"\"{Method(suffix)}, \" + {Int8Simd}.DotPath128");
                else text.Append($"{condition} ? \"{Method(suffix)}, \" + {Int8Simd}.DotPath{lanes * 32} : ");
            }
            return text.ToString();
        }
    }

    /// <summary>
    /// Blocks of <see cref="HeadSums.Lanes"/> classes, as the float classifier's: each class's integer sum is the same
    /// whichever thread computes it, and streaming the rows on two cores is faster than on one.
    /// </summary>
    public int WorkItems => HeadSums.WorkItems(_op.OutFeatures);

    public string CallStatement() => $"{Name}({OperandRefs.Of(_op.Input)}, {OperandRefs.Weights(_op)}, {OperandRefs.Of(_op.Output)}, {WorkRange.Arguments});";

    public string? PackStatement =>
        $"{KernelEmitters.Packer}.Int8Linear(tensors, \"{_op.Name}\", {_op.InFeatures}, {_op.OutFeatures}, {Slots}, {KernelEmitters.PackedSpan(_op)});";

    public IReadOnlyList<SharedDefinition> SharedDefinitions => SharedDefinition.None;

    private const string Parameters = "ref float source, ref float weights, ref float logits, " + WorkRange.Parameters;

    private string Method(string suffix) => $"{Name}_{suffix}";

    public void EmitMethods(SourceWriter w)
    {
        int classes = _op.OutFeatures;
        var variants = Variants;
        KernelSyntax.EmitDispatcher(w, $"Fully connected layer in int8, {_op.InFeatures} features to {classes} logits: {Slots} slots of four int8 weights per class, int32 sums.",
            Name + "(" + Parameters + ")", "ref source, ref weights, ref logits, " + WorkRange.Arguments, variants.Select(v => new KernelVariant(v.Condition, Method(v.Suffix), v.Suffix)).ToList());
        foreach (var (vector, lanes, suffix, _, together) in variants)
        {
            w.Line(KernelSyntax.Optimized);
            using (w.Open($"private static void {Method(suffix)}({Parameters})"))
                EmitRows(w, vector, lanes, together);
            w.Line();
        }
    }

    private void EmitRows(SourceWriter w, string vector, int lanes, bool together)
    {
        long scales = (long)_op.OutFeatures * Slots;
        w.Line("ref int features = ref Unsafe.As<float, int>(ref source);");
        w.Line($"float featureScale = Unsafe.Add(ref source, {Slots});");
        w.Line("ref int rows = ref Unsafe.As<float, int>(ref weights);");
        w.Line($"ref float scales = ref Unsafe.Add(ref weights, {scales});");
        w.Line($"ref float biases = ref Unsafe.Add(ref weights, {scales + _op.OutFeatures});");
        // Classes four at a time, a sum each: one chain per class would wait on VPDPBUSD's latency (about 5 cycles) at
        // every step, and the four share each load of the features. A work item is one block of four classes
        // (HeadSums.Lanes), so a part's blocks are whole and no class is computed by two threads; a last block of fewer
        // than four runs its classes one at a time.
        // Only VPDPBUSD's family takes classes together: the VPMADDUBSW+VPMADDWD pair's products do not wait on the sum
        // (only the one-cycle VPADDD chains), and on Zen 3 (madd256) four classes at a time measured slower than one.
        int classes = _op.OutFeatures;
        if (!together)
        {
            using (w.Open($"for (int o = {WorkRange.Start} * {HeadSums.Lanes}; o < Math.Min({WorkRange.Stop} * {HeadSums.Lanes}, {classes}); o++)"))
                EmitOneClass(w, vector, lanes);
            return;
        }
        using (w.Open($"for (int n = {WorkRange.Start}; n < {WorkRange.Stop}; n++)"))
        {
            w.Line($"int o = n * {ClassesTogether};");
            if (classes % ClassesTogether != 0)
            {
                using (w.Open($"if (o > {classes - ClassesTogether})"))
                {
                    using (w.Open($"for (; o < {classes}; o++)"))
                        EmitOneClass(w, vector, lanes, "lastRow");
                    w.Line("break;");
                }
            }
            w.Line($"ref int row = ref Unsafe.Add(ref rows, o * {Slots});");
            for (int c = 0; c < ClassesTogether; c++) w.Line($"var sum{c} = {vector}<int>.Zero;");
            using (Loop.Open(w, "i", 0, Slots, lanes))
            {
                w.Line($"var x = {vector}.LoadUnsafe(ref features, (nuint)i);");
                for (int c = 0; c < ClassesTogether; c++)
                    w.Line($"sum{c} = {Int8Simd}.DotAdd(sum{c}, x, {vector}.LoadUnsafe(ref row, {(c == 0 ? "(nuint)i" : $"(nuint)({c * Slots} + i)")}));");
            }
            for (int c = 0; c < ClassesTogether; c++)
            {
                string o = c == 0 ? "o" : $"o + {c}";
                w.Line($"Unsafe.Add(ref logits, {o}) = {Int8Simd}.Dequantize({vector}.Sum(sum{c}), featureScale * Unsafe.Add(ref scales, {o}), Unsafe.Add(ref biases, {o}));");
            }
        }
    }

    /// <summary>One class's sum; <paramref name="row"/> names its weight row apart from an enclosing block's.</summary>
    private void EmitOneClass(SourceWriter w, string vector, int lanes, string row = "row")
    {
        w.Line($"ref int {row} = ref Unsafe.Add(ref rows, o * {Slots});");
        w.Line($"var sum = {vector}<int>.Zero;");
        using (Loop.Open(w, "i", 0, Slots, lanes))
            w.Line($"sum = {Int8Simd}.DotAdd(sum, {vector}.LoadUnsafe(ref features, (nuint)i), {vector}.LoadUnsafe(ref {row}, (nuint)i));");
        w.Line($"Unsafe.Add(ref logits, o) = {Int8Simd}.Dequantize({vector}.Sum(sum), featureScale * Unsafe.Add(ref scales, o), Unsafe.Add(ref biases, o));");
    }

    /// <summary>Classes whose dot products run interleaved, each on its own accumulator.</summary>
    private const int ClassesTogether = 4;
}
