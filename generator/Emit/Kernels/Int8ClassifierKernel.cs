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

    /// <summary>
    /// Blocks of <see cref="HeadSums.Lanes"/> classes, as the float classifier's: each class's integer sum is the same
    /// whichever thread computes it, and streaming the rows on two cores is faster than on one.
    /// </summary>
    public int WorkItems => HeadSums.WorkItems(_op.OutFeatures);

    public string PathKey => Name;

    private int Slots => LinearOp.RowSlots(_op.InFeatures);

    private const string Int8Simd = KernelSyntax.Runtime + ".Kernels.Int8Simd";

    /// <summary>The widths this model has, widest first; Vector128 always (its dot product has a portable fallback).</summary>
    private IEnumerable<(string Vector, int Lanes)> Widths => _widths.WidestFirst();

    public string PathExpression
    {
        get
        {
            var text = new System.Text.StringBuilder();
            foreach (var (vector, lanes) in Widths)
            {
                if (vector == "Vector128") text.Append($"\"Vector128, \" + {Int8Simd}.DotPath128");
                else text.Append($"{RuntimeChecks.Accelerated(vector)} ? \"{vector}, \" + {Int8Simd}.DotPath{lanes * 32} : ");
            }
            return text.ToString();
        }
    }

    public string CallStatement() => $"{Name}({OperandRefs.Of(_op.Input)}, {OperandRefs.Weights(_op)}, {OperandRefs.Of(_op.Output)}, {WorkRange.Arguments});";

    public string? PackStatement =>
        $"{KernelEmitters.Packer}.Int8Linear(tensors, \"{_op.Name}\", {_op.InFeatures}, {_op.OutFeatures}, {Slots}, {KernelEmitters.PackedSpan(_op)});";

    public IReadOnlyList<SharedDefinition> SharedDefinitions => SharedDefinition.None;

    private const string Parameters = "ref float source, ref float weights, ref float logits, " + WorkRange.Parameters;

    private string Method(string vector) => $"{Name}_{vector.Replace("Vector", "V")}";

    public void EmitMethods(SourceWriter w)
    {
        int classes = _op.OutFeatures;
        var widths = new List<(string Vector, int Lanes)>(Widths);
        var variants = widths.Select((width, i) => new KernelVariant(i == widths.Count - 1 ? null : RuntimeChecks.Accelerated(width.Vector), Method(width.Vector), width.Vector)).ToList();
        KernelSyntax.EmitDispatcher(w, $"Fully connected layer in int8, {_op.InFeatures} features to {classes} logits: {Slots} slots of four int8 weights per class, int32 sums.",
            Name + "(" + Parameters + ")", "ref source, ref weights, ref logits, " + WorkRange.Arguments, variants);
        foreach (var (vector, lanes) in widths)
        {
            w.Line(KernelSyntax.Optimized);
            using (w.Open($"private static void {Method(vector)}({Parameters})"))
                EmitRows(w, vector, lanes);
            w.Line();
        }
    }

    private void EmitRows(SourceWriter w, string vector, int lanes)
    {
        long scales = (long)_op.OutFeatures * Slots;
        w.Line("ref int features = ref Unsafe.As<float, int>(ref source);");
        w.Line($"float featureScale = Unsafe.Add(ref source, {Slots});");
        w.Line("ref int rows = ref Unsafe.As<float, int>(ref weights);");
        w.Line($"ref float scales = ref Unsafe.Add(ref weights, {scales});");
        w.Line($"ref float biases = ref Unsafe.Add(ref weights, {scales + _op.OutFeatures});");
        using (w.Open($"for (int o = {WorkRange.Start} * {HeadSums.Lanes}; o < Math.Min({WorkRange.Stop} * {HeadSums.Lanes}, {_op.OutFeatures}); o++)"))
        {
            w.Line($"ref int row = ref Unsafe.Add(ref rows, o * {Slots});");
            w.Line($"var sum = {vector}<int>.Zero;");
            using (Loop.Open(w, "i", 0, Slots, lanes))
                w.Line($"sum = {Int8Simd}.DotAdd(sum, {vector}.LoadUnsafe(ref features, (nuint)i), {vector}.LoadUnsafe(ref row, (nuint)i));");
            w.Line($"Unsafe.Add(ref logits, o) = {Int8Simd}.Dequantize({vector}.Sum(sum), featureScale * Unsafe.Add(ref scales, o), Unsafe.Add(ref biases, o));");
        }
    }
}
