using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// Quantizes an int8 classifier's features per image (<see cref="FeatureQuantizeOp"/>) through
/// <c>ShuffleNetGen.Kernels.Int8Simd.QuantizeFeatures</c>, and stores the scale after the packed slots.
/// </summary>
internal sealed class FeatureQuantizeKernel : IKernelEmitter
{
    private readonly FeatureQuantizeOp _op;

    public FeatureQuantizeKernel(FeatureQuantizeOp op) => _op = op;

    public const string Prefix = "QuantizeFeatures_";

    public string Name => $"{Prefix}{_op.Features}";

    /// <summary>Not split: the op is small (the calling thread runs it alone in a team).</summary>
    public int WorkItems => 1;

    public string PathKey => Name;

    private int Slots => LinearOp.RowSlots(_op.Features);

    public string PathExpression => "\"scalar\"";

    public string CallStatement() => $"{Name}({OperandRefs.Of(_op.Input)}, {OperandRefs.Of(_op.Output)});";

    public string? PackStatement => null;

    public IReadOnlyList<SharedDefinition> SharedDefinitions => SharedDefinition.None;

    public void EmitMethods(SourceWriter w)
    {
        w.Line($"/// <summary>The classifier's {_op.Features} features as 7-bit activations on their own scale: {Slots} slots of four, then the scale.</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {Name}(ref float source, ref float destination)"))
            w.Line($"Unsafe.Add(ref destination, {Slots}) = {KernelSyntax.Runtime}.Kernels.Int8Simd.QuantizeFeatures(ref source, {_op.Features}, ref Unsafe.As<float, int>(ref destination), {Slots});");
        w.Line();
    }
}
