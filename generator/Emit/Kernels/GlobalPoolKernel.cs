using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>The global average pool: the mean of each channel's plane.</summary>
internal sealed class GlobalPoolKernel : IKernelEmitter
{
    private readonly GlobalPoolOp _op;
    private readonly VectorWidths _widths;

    public GlobalPoolKernel(GlobalPoolOp op, VectorWidths widths)
    {
        _op = op;
        _widths = widths;
    }

    public const string Prefix = "GlobalAvgPool_";

    public string Name => $"{Prefix}{_op.Input.Channels}ch_{_op.Input.Pixels}px";

    /// <summary>Blocks of <see cref="HeadSums.Lanes"/> channels, each plane's mean its own: split like the classifier, whose kernel it shares.</summary>
    public int WorkItems => HeadSums.WorkItems(_op.Input.Channels);

    public string PathKey => Name;

    /// <summary>
    /// Four channels at a time need at least four channels and a vector's worth of pixels each; where the Vector512
    /// sum applies (x64), the AdvSimd branch is dead code anyway.
    /// </summary>
    private bool Neon => (_widths & VectorWidths.AdvSimd) != 0 && _op.Input.Channels >= HeadSums.Lanes && _op.Input.Pixels >= HeadSums.Lanes;

    private bool Wide => (_widths & VectorWidths.Vector512) != 0;

    private List<KernelVariant> Variants => HeadSums.Variants(Name, _op.Input.Pixels, Wide, Neon, "AdvSimd faddp");

    public string PathExpression => KernelSyntax.ChoosePath(Variants);

    public string CallStatement() => $"{Name}({OperandRefs.Of(_op.Input)}, {OperandRefs.Of(_op.Output)}, {WorkRange.Arguments});";

    public string? PackStatement => null;

    public IReadOnlyList<SharedDefinition> SharedDefinitions => SharedDefinition.None;

    public void EmitMethods(SourceWriter w)
    {
        int pixels = _op.Input.Pixels;
        HeadSums.EmitKernel(w, $"Mean of each of {_op.Input.Channels} planes of {pixels} pixels.", Name, "ref float source, ref float destination", "ref source, ref destination",
            Variants, "c", _op.Input.Channels,
            neonFour: () =>
            {
                HeadSums.EmitNeonFourSums(w, "source", pixels, "c", null, pixels);
                w.Line($"(sums / Vector128.Create({pixels}f)).StoreUnsafe(ref destination, (nuint)c);");
            },
            portable: (start, end, wide, _) => EmitChannels(w, start, end, wide));
    }

    private void EmitChannels(SourceWriter w, string start, string end, bool wide)
    {
        int pixels = _op.Input.Pixels;
        using (w.Open($"for (int c = {start}; c < {end}; c++)"))
        {
            w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {pixels});");
            HeadSums.EmitSum(w, "plane", null, pixels, wide);
            w.Line($"Unsafe.Add(ref destination, c) = sum / {pixels}f;");
        }
    }
}
