using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>The 3x3 max pool after the stem; padded cells never win, so edges simply skip them.</summary>
internal sealed class MaxPoolKernel : WindowKernel
{
    public MaxPoolKernel(WindowOp op, VectorWidths widths) : base(op, widths)
    {
    }

    public const string Prefix = "MaxPool3x3_";

    /// <summary>The variants, in the order its dispatcher picks them (each a shared body over <see cref="ShapeType"/>).</summary>
    internal IReadOnlyList<KernelVariant> VariantList => Variants;

    /// <summary>The band method of a variant's shared body: output rows [first, end) of one plane.</summary>
    internal static string BandOf(KernelVariant variant) =>
        variant.Method.IndexOf('<') >= 0 ? KernelSyntax.WithNameSuffix(variant.Method, "_Band")
            : throw new System.InvalidOperationException($"{variant.Method} is no shared body.");

    /// <summary>What a kernel calling the band methods alone needs of the shared definitions: all but the plane bodies.</summary>
    internal IEnumerable<SharedDefinition> BandDefinitions =>
        SharedDefinitions.Where(d => !VariantList.Any(v => v.Method.StartsWith(d.Name + "<", System.StringComparison.Ordinal)));

    /// <summary>The shape struct the shared bodies specialize on.</summary>
    internal string ShapeType => ShapeName;

    /// <summary>Writes <see cref="ShapeType"/> alone, for a kernel that calls the bands without this one's dispatcher.</summary>
    internal void EmitShapeType(SourceWriter w) => EmitShape(w);

    protected override string GeometryName => $"{Prefix}s{Op.Stride}_{Op.Channels}ch_{Shape}";

    protected override string Summary => $"3x3 max pool, stride {Op.Stride}, {Op.Channels} channels on {Shape}; padded cells never win.";

    protected override string? NeonInstructions => Op.Stride == 2 ? "AdvSimd fmaxp+uzp2" : null;

    protected override string? NeonPairwiseRow(int ky) => $"AdvSimd.Max(left{ky}, AdvSimd.Arm64.MaxPairwise(lo{ky}, hi{ky}))";

    protected override string VectorCombine(VectorTaps taps, string value, string weight, int lane) =>
        taps.First ? $"var acc = {value};" : taps.Neon ? $"acc = AdvSimd.Max(acc, {value});" : $"acc = {taps.V}.Max(acc, {value});";

    protected override string KindPrefix => Prefix;

    // Vector256.Max fixes NaN and signed zeros up at every call; Simd.Maximum does so once per row (see there).
    protected override string? VectorRowCombine(string vector, string arguments) => vector == "Vector256" ? $"Simd.Maximum({arguments})" : null;

    protected override string VectorAccumulate(VectorTaps taps, string value) => taps.Neon ? $"AdvSimd.Max(acc, {value})" : $"{taps.V}.Max(acc, {value})";

    protected override string GuardedScalarCombine(string value, string weight) => $"acc = MathF.Max(acc, {value});";

    protected override string ScalarIdentity => "float.NegativeInfinity";

    protected override string ScalarCombine(ScalarTaps taps, string value, string weight) =>
        taps.First ? $"float acc = {value};" : $"acc = MathF.Max(acc, {value});";
}
