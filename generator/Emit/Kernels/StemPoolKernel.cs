using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The stem convolution and the max pool after it as one step (see <see cref="StemPoolFusion"/>): per band of pool
/// rows, the stem's own variant computes the stem rows they read, every channel, into a band on the stack, and the max
/// pool's own band method pools them into its output. Each stem value is computed by the same code as in a step of its
/// own and each pool output from the same values, so every float is the one the separate steps compute. A team splits
/// it by bands of pool rows; a part computes the stem row above its first pool row itself (one row of the stem per part boundary
/// is computed twice), so no part depends on another.
/// </summary>
internal sealed class StemPoolKernel : IKernelEmitter
{
    private readonly WindowOp _stemOp;
    private readonly WindowOp _poolOp;
    private readonly StemConvolutionKernel _stem;
    private readonly MaxPoolKernel _pool;
    private readonly string _stemName;

    public StemPoolKernel(WindowOp stem, VectorWidths widths)
    {
        _stemOp = stem;
        _poolOp = stem.Pools!;
        PoolRowsPerBand = StemPoolFusion.PoolRowsPerBand(stem.Output, _poolOp.Output.Height);
        ScratchRows = StemPoolFusion.ScratchRows(PoolRowsPerBand);
        _stem = new StemConvolutionKernel(stem, widths, ScratchRows);
        _pool = new MaxPoolKernel(_poolOp, widths);
        _stemName = new StemConvolutionKernel(stem, widths).Name;
    }

    private int PoolRowsPerBand { get; }

    /// <summary>Rows of every stem channel the band holds: a band's two per pool row, and the row above them in row 0.</summary>
    private int ScratchRows { get; }

    public string Name => _stemName + "_MaxPool";

    public string PathKey => Name;

    public string PathExpression => KernelSyntax.ChoosePath(Variants.Select(v => v.Variant).ToList());

    /// <summary>
    /// Bands of <see cref="PoolRowsPerBand"/> pool rows, not single rows: a team part of one pool row would compute three
    /// stem rows for it (its own two and the one above), and a part's stack band costs its setup once per call.
    /// </summary>
    public int WorkItems => (_poolOp.Output.Height + PoolRowsPerBand - 1) / PoolRowsPerBand;

    public string? PackStatement => _stem.PackStatement;

    public string CallStatement() =>
        $"{Name}({OperandRefs.Of(_stemOp.Input, _stemOp.InputPlanes)}, {OperandRefs.Of(_poolOp.Output, _poolOp.OutputPlanes)}, {OperandRefs.Weights(_stemOp)}, {WorkRange.Arguments});";

    private const string Parameters = "ref float source, ref float destination, ref float weights, " + WorkRange.Parameters;

    private const string Arguments = "ref source, ref destination, ref weights, " + WorkRange.Arguments;

    private static readonly string?[] s_checks =
    {
        RuntimeChecks.Vector512Accelerated, RuntimeChecks.Accelerated("Vector256"), RuntimeChecks.AdvSimdArm64, null,
    };

    private static readonly string[] s_suffixes = { "V512", "V256", "AdvSimd", "V128" };

    private static int Rank(string? check) => System.Array.IndexOf(s_checks, check) is var rank and >= 0 ? rank
        : throw new System.InvalidOperationException($"No fused variant for the check {check}.");

    /// <summary>
    /// One variant per check either kernel branches on, widest first, each the band walk over a struct naming the stem
    /// variant and the pool band their own dispatchers would pick under it: a kernel without a variant for a check takes
    /// its next narrower one (a 64x64 model's pool has no Vector512 interior: under Vector512 it runs its Vector256 one,
    /// as its dispatcher would, Vector512 implying Vector256).
    /// </summary>
    private List<(KernelVariant Variant, string Width, KernelVariant Stem, KernelVariant Pool)> Variants
    {
        get
        {
            var stem = _stem.VariantList;
            var pool = _pool.VariantList;
            KernelVariant Under(IReadOnlyList<KernelVariant> variants, int rank) => variants.First(v => Rank(v.Condition) >= rank);
            var result = new List<(KernelVariant, string, KernelVariant, KernelVariant)>();
            foreach (int rank in stem.Concat(pool).Select(v => Rank(v.Condition)).Distinct().OrderBy(r => r))
            {
                var s = Under(stem, rank);
                var p = Under(pool, rank);
                string label = s.Label == p.Label ? s.Label : $"stem {s.Label}; max pool {p.Label}";
                string width = $"{Name}_{s_suffixes[rank]}";
                result.Add((new KernelVariant(s_checks[rank], $"{BandsMethod}<{width}>", label), width, s, p));
            }
            return result;
        }
    }

    private string BandsMethod => Name + "_Bands";

    /// <summary>The band walk's type parameter: the struct of one width.</summary>
    public const string WidthParameter = "TWidth";

    /// <summary>What the band walk calls, per width: the stem's variant and the pool's band method.</summary>
    public const string WidthInterface = StemConvolutionKernel.Prefix + "MaxPoolWidth";

    public void EmitMethods(SourceWriter w)
    {
        _pool.EmitShapeType(w);
        var variants = Variants;
        KernelSyntax.EmitDispatcher(w,
            $"3x3 convolution, stride {_stemOp.Stride}, {_stemOp.PlanesPerOutput} to {_stemOp.Channels} channels on {_stemOp.Input.Height}x{_stemOp.Input.Width}, batch norm folded{(_stemOp.Relu ? ", ReLU" : "")}, "
            + $"then the 3x3 max pool, stride 2: {PoolRowsPerBand} pool row(s) at a time, the stem's output on the stack.",
            $"{Name}({Parameters})", Arguments, variants.Select(v => v.Variant).ToList());
        EmitBands(w);
        foreach (var (_, width, stem, pool) in variants)
        {
            using (w.Open($"private readonly struct {width} : {WidthInterface}"))
            {
                w.Line($"public static void Stem(ref float source, ref float band, ref float weights, Part part) => {stem.Method}(ref source, ref band, ref weights, part);");
                w.Line(KernelSyntax.Inlined);
                w.Line($"public static void Pool(ref float plane, ref float output, int first, int end, bool above, bool below) => {MaxPoolKernel.BandOf(pool)}(ref plane, ref output, first, end, above, below);");
            }
            w.Line();
        }
        _stem.EmitMethods(w);
    }

    private static void EmitWidthInterface(SourceWriter w)
    {
        using (w.Open($"private interface {WidthInterface}"))
        {
            w.Line("static abstract void Stem(ref float source, ref float band, ref float weights, Part part);");
            w.Line("static abstract void Pool(ref float plane, ref float output, int first, int end, bool above, bool below);");
        }
        w.Line();
    }

    private void EmitBands(SourceWriter w)
    {
        int width = _stemOp.Output.Width, height = _stemOp.Output.Height, channelStride = ScratchRows * width;
        int poolHeight = _poolOp.Output.Height;
        int rowsEnd = _pool.RowsEnd;
        w.Line($"/// <summary>Bands <paramref name=\"part\"/> of <see cref=\"{Name}\"/>, {PoolRowsPerBand} pool rows each: the stem rows they read into a band on the stack, then pooled from there.</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {BandsMethod}<{WidthParameter}>({Parameters}) where {WidthParameter} : struct, {WidthInterface}"))
        {
            // The stem's staged rows after the band, past the row it may start into the band by (see Stem's call).
            int staging = _stem.StagingFloats > 0 ? width + _stem.StagingFloats : 0;
            w.Line($"Span<float> band = stackalloc float[{_stemOp.Channels * channelStride + staging}];");
            w.Line("ref float scratch = ref MemoryMarshal.GetReference(band);");
            w.Line($"int start = {WorkRange.Start} * {PoolRowsPerBand}, stop = Math.Min({WorkRange.Stop} * {PoolRowsPerBand}, {poolHeight});");
            using (w.Open($"for (int first = start; first < stop; first += {PoolRowsPerBand})"))
            {
                w.Line($"int end = Math.Min(first + {PoolRowsPerBand}, stop);");
                // Stem row 2·first goes to the band's row 1, the row above it (the pool's upper taps) to row 0: computed
                // at a part's first band, after that copied from the band before, whose last row it is.
                w.Line("int from = first > start ? 2 * first : Math.Max(2 * first - 1, 0);");
                using (w.Open("if (first > start)"))
                {
                    using (Loop.Open(w, "c", 0, _stemOp.Channels))
                        w.Line($"band.Slice(c * {channelStride} + {2 * PoolRowsPerBand * width}, {width}).CopyTo(band.Slice(c * {channelStride}, {width}));");
                }
                w.Line($"{WidthParameter}.Stem(ref source, ref Unsafe.Add(ref scratch, (from - 2 * first + 1) * {width}), ref weights, new(from, Math.Min(2 * end, {height})));");
                using (Loop.Open(w, "c", 0, _poolOp.Channels))
                {
                    w.Line($"ref float plane = ref Unsafe.Add(ref scratch, c * {channelStride} + {width});");
                    w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {_poolOp.Output.Pixels} + first * {_poolOp.Output.Width});");
                    // The rows of [first, end) among the top row, the full ones and the bottom one, as the pool's own body splits a plane.
                    w.Line($"{WidthParameter}.Pool(ref plane, ref output, 0, Math.Min(end, 1) - first, false, {(height > 1 ? "true" : "false")});");
                    w.Line($"{WidthParameter}.Pool(ref plane, ref output, Math.Max(first, 1) - first, Math.Min(end, {rowsEnd}) - first, true, true);");
                    if (rowsEnd < poolHeight) w.Line($"{WidthParameter}.Pool(ref plane, ref output, Math.Max(first, {rowsEnd}) - first, end - first, true, false);");
                }
            }
        }
        w.Line();
    }

    public IReadOnlyList<SharedDefinition> SharedDefinitions =>
        _pool.BandDefinitions.Prepend(new SharedDefinition(WidthInterface, EmitWidthInterface)).ToList();
}
