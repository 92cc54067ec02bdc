using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>The 3x3 average pool on the shortcut of a stride-2 unit; it divides by 9 everywhere (padding counted), as PyTorch's default.</summary>
internal sealed class AvgPoolKernel : WindowKernel
{
    public AvgPoolKernel(WindowOp op, VectorWidths widths) : base(op, widths)
    {
    }

    public const string Prefix = "AvgPool3x3_";

    public override string Name => $"{Prefix}s{Op.Stride}_{Op.Channels}ch_{Shape}{(Op.Relu ? "_Relu" : "")}";

    protected override string Summary =>
        $"3x3 average pool, stride {Op.Stride}, {Op.Channels} channels on {Shape}; always divides by 9 (padding counted){(Op.Relu ? ", then ReLU" : "")}.";

    protected override string? NeonInstructions => Op.Stride == 2 ? "AdvSimd faddp+uzp2" : null;

    protected override string? NeonPairwiseRow(int ky) => $"AdvSimd.Add(left{ky}, AdvSimd.Arm64.AddPairwise(lo{ky}, hi{ky}))";

    protected override string VectorCombine(VectorTaps taps, string value, string weight, int lane) =>
        taps.First ? $"var acc = {value};" : $"acc += {value};";

    protected override void EmitVectorEpilogue(SourceWriter w, string vector) => w.Line($"acc *= {vector}.Create(1f / 9f);");

    protected override string ScalarCombine(ScalarTaps taps, string value, string weight) =>
        taps.First ? $"float acc = {value};" : $"acc += {value};";

    protected override void EmitScalarEpilogue(SourceWriter w) => w.Line("acc *= 1f / 9f;");
}
