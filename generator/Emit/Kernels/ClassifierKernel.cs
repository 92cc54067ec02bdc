using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>The fully connected classifier: one dot product and bias per class.</summary>
internal sealed class ClassifierKernel : IKernelEmitter
{
    private readonly LinearOp _op;
    private readonly VectorWidths _widths;

    public ClassifierKernel(LinearOp op, VectorWidths widths)
    {
        _op = op;
        _widths = widths;
    }

    public const string Prefix = "Linear_";

    public string Name => $"{Prefix}{_op.InFeatures}to{_op.OutFeatures}";

    /// <summary>
    /// Blocks of <see cref="HeadSums.Lanes"/> classes, each its own dot products: a team splits the classifier by classes
    /// (it streams every weight once, which two cores' share of the bandwidth does faster than one).
    /// </summary>
    public int WorkItems => HeadSums.WorkItems(_op.OutFeatures);

    public string PathKey => Name;

    /// <summary>Four classes at a time need at least four classes and a vector's worth of features.</summary>
    private bool Neon => (_widths & VectorWidths.AdvSimd) != 0 && _op.OutFeatures >= HeadSums.Lanes && _op.InFeatures >= HeadSums.Lanes;

    private bool Wide => (_widths & VectorWidths.Vector512) != 0;

    private List<KernelVariant> Variants => HeadSums.Variants(Name, _op.InFeatures, Wide, Neon, "AdvSimd fmla, faddp");

    public string PathExpression => KernelSyntax.ChoosePath(Variants);

    public string CallStatement() => $"{Name}({OperandRefs.Of(_op.Input)}, {OperandRefs.Weights(_op)}, {OperandRefs.Of(_op.Output)}, {WorkRange.Arguments});";

    public string? PackStatement => $"{KernelEmitters.Packer}.Linear(tensors, \"fc\", {_op.InFeatures}, {_op.OutFeatures}, {KernelEmitters.PackedSpan(_op)});";

    public IReadOnlyList<SharedDefinition> SharedDefinitions => SharedDefinition.None;

    public void EmitMethods(SourceWriter w)
    {
        int n = _op.InFeatures;
        int outputs = _op.OutFeatures;
        HeadSums.EmitKernel(w, $"Fully connected layer, {n} features to {outputs} logits.", Name, "ref float source, ref float weights, ref float logits", "ref source, ref weights, ref logits",
            Variants, "o", outputs,
            neonFour: () =>
            {
                HeadSums.EmitNeonFourSums(w, "weights", n, "o", "source", n);
                w.Line($"(sums + Vector128.LoadUnsafe(ref weights, (nuint)({(long)n * outputs} + o))).StoreUnsafe(ref logits, (nuint)o);");
            },
            portable: (start, end, wide, lowest) => EmitRows(w, start, end, wide, lowest));
    }

    private void EmitRows(SourceWriter w, string start, string end, bool wide, int lowest)
    {
        int n = _op.InFeatures;
        long bias = (long)n * _op.OutFeatures;
        int lanes = HeadSums.Lanes;
        int fourRows = _op.OutFeatures / lanes * lanes;
        // Only where a block of four can start at or after the first row (the AdvSimd variant's remainder has none).
        if (!wide && fourRows > lowest)
        {
            // Four classes side by side, each summed as the one-row loop below sums it: a team's parts are whole blocks
            // of four but the last, which the one-row loop finishes.
            w.Line($"int c = {start};");
            using (w.Open($"for (; c < {(fourRows == _op.OutFeatures ? end : $"Math.Min({end}, {fourRows})")}; c += {lanes})"))
                w.Line($"(Simd.DotFourRows(ref Unsafe.Add(ref weights, c * {n}), {n}, ref source, {n}) + Vector128.LoadUnsafe(ref weights, (nuint)({bias} + c))).StoreUnsafe(ref logits, (nuint)c);");
            if (fourRows == _op.OutFeatures) return;
            start = "c";
        }
        using (w.Open($"for (int o = {start}; o < {end}; o++)"))
        {
            w.Line($"ref float row = ref Unsafe.Add(ref weights, o * {n});");
            HeadSums.EmitSum(w, "row", "source", n, wide);
            w.Line($"Unsafe.Add(ref logits, o) = sum + Unsafe.Add(ref weights, {bias} + o);");
        }
    }
}
