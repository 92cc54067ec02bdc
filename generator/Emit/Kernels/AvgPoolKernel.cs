using System.Linq;
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

    protected override string GeometryName => $"{Prefix}s{Op.Stride}_{Op.Channels}ch_{Shape}{(Op.Relu ? "_Relu" : "")}";

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

    protected override string KindPrefix => Prefix;

    protected override string VectorAccumulate(VectorTaps taps, string value) => $"acc + {value}";

    protected override string GuardedScalarCombine(string value, string weight) => $"acc += {value};";

    protected override bool WideDoneByOwnVariant => RowVectorsApply;

    protected override void AddOwnVariants(System.Collections.Generic.List<KernelVariant> variants)
    {
        if (RowVectorsApply) variants.Add(new(RuntimeChecks.Vector512Accelerated, RowVectorsMethodName, "Vector512, a row per vector"));
    }

    /// <summary>The row-vector variant: the three input rows summed first, then the three tap columns permuted out of the sum.</summary>
    protected override void EmitOwnVariantMethods(SourceWriter w)
    {
        if (!RowVectorsApply) return;
        EmitRowVectorMethod(w, $"<see cref=\"{Name}\"/> with one output row per Vector512.", "", () => { }, rowMask =>
        {
            var rows = Enumerable.Range(0, 3).Where(ky => (rowMask & (1 << ky)) != 0).ToList();
            foreach (int ky in rows) EmitRowVectorLoad(w, "plane", ky);
            w.Line($"var lo = {string.Join(" + ", rows.Select(ky => $"lo{ky}"))};");
            w.Line($"var hi = {string.Join(" + ", rows.Select(ky => $"hi{ky}"))};");
            var terms = new System.Collections.Generic.List<string>();
            for (int dx = 0; dx < 3; dx++)
            {
                string tap = $"Simd.Permute(lo, {TapIndices(dx)}, hi)";
                terms.Add(TapMask(dx) is { } mask ? $"({tap} & {mask})" : tap);
            }
            w.Line($"var acc = ({string.Join(" + ", terms)}) * Vector512.Create(1f / 9f);");
            if (Op.Relu) w.Line("acc = Simd.Relu(acc);");
            EmitRowVectorStore(w, "acc");
        });
    }
}
