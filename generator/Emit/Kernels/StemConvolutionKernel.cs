using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The stem's full 3x3 convolution over every input plane. Where Vector512 or Vector256 is accelerated its interiors run
/// channel-blocked in methods of their own: a full convolution reads the same input taps for every output channel, so
/// one de-interleaved load feeds <see cref="ConvolutionBlock"/> FMAs instead of one.
/// </summary>
internal sealed class StemConvolutionKernel : WindowKernel
{
    /// <summary>Output channels a blocked convolution interior computes per loaded input vector.</summary>
    private const int ConvolutionBlock = 8;

    /// <summary>A vector type the interiors run channel-blocked on.</summary>
    private sealed record BlockWidth(string Vector, int Lanes, string Suffix);

    private static readonly BlockWidth Block512 = new("Vector512", WideLanes, "V512");
    private static readonly BlockWidth Block256 = new("Vector256", 8, "V256");

    public StemConvolutionKernel(WindowOp op, VectorWidths widths) : base(op, widths)
    {
        // Both widths block the same interiors (at least sixteen columns), so they leave the same edges to the
        // per-channel loop; on a narrower interior the stem is too small for blocking to matter.
        var blocks = new List<BlockWidth>();
        if (LongestInterior >= WideLanes)
        {
            if (WideInteriors) blocks.Add(Block512);
            if ((widths & VectorWidths.Vector256) != 0) blocks.Add(Block256);
        }
        BlockWidths = blocks;
    }
    public const string Prefix = "Conv3x3_";

    protected override string GeometryName => $"{Prefix}s{Op.Stride}_{Op.PlanesPerOutput}to{Op.Channels}_{Shape}{(Op.Relu ? "_Relu" : "")}";

    protected override string Summary =>
        $"3x3 convolution, stride {Op.Stride}, {Op.PlanesPerOutput} to {Op.Channels} channels on {Shape}, batch norm folded{(Op.Relu ? ", ReLU" : "")}.";

    protected override string? NeonInstructions => Op.Stride == 2 ? "AdvSimd uzp1/uzp2, fmla by element" : "AdvSimd fmla by element";

    protected override string WeightsParameter => ", ref float weights";

    public override string? PackStatement => WindowPackStatement;

    public override string CallStatement() => WeightedCallStatement();

    private int TapStride => Op.PlanesPerOutput * 9 + 1;

    /// <summary>The widths whose interiors run channel-blocked, widest first, each an own variant of the kernel.</summary>
    private List<BlockWidth> BlockWidths { get; }

    /// <summary>
    /// A team splits the stem by output rows: its 24 channels are three blocks of eight for the blocked interiors, which
    /// two threads can only share 2:1, while its 112 rows of equal work split evenly (every variant splits alike: which
    /// one runs is decided at run time, the parts once per team).
    /// </summary>
    protected override bool SplitsRows => true;

    /// <summary>One stem per model: its variants split rows and columns at generation time, as methods of its own.</summary>
    protected override bool SharedBodies => false;

    protected override string KindPrefix => Prefix;

    protected override bool WideDoneByOwnVariant => BlockWidths.Contains(Block512);

    protected override string GuardedScalarCombine(string value, string weight) => throw new System.NotSupportedException("The stem has no shared bodies.");

    protected override void AddOwnVariants(List<KernelVariant> variants)
    {
        foreach (var block in BlockWidths) variants.Add(new(RuntimeChecks.Accelerated(block.Vector), $"{Name}_{block.Suffix}", block.Vector));
    }

    protected override void EmitChannelStart(SourceWriter w, Interior interior)
    {
        // Every output channel reads all input planes.
        w.Line("ref float plane = ref source;");
        w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {OutPixels});");
        w.Line($"ref float taps = ref Unsafe.Add(ref weights, c * {TapStride});");
        w.Line($"float bias = Unsafe.Add(ref taps, {Op.PlanesPerOutput * 9});");
        if (interior != Interior.None) w.Line("var biasV = Vector128.Create(bias);");
    }

    protected override void EmitVectorTaps(SourceWriter w, VectorTaps taps)
    {
        w.Line(taps.IsWide ? $"var acc = {taps.V}.Create(bias);" : "var acc = biasV;");
        taps.First = false;
        using (Loop.Open(w, "ci", 0, Op.PlanesPerOutput))
        {
            w.Line($"ref float inputPlane = ref Unsafe.Add(ref plane, ci * {InPixels});");
            w.Line("ref float planeTaps = ref Unsafe.Add(ref taps, ci * 9);");
            if (taps.Neon)
            {
                // Two loads bring taps 0-7 and FMLA by element reads them in place: replaces eight LD1R broadcasts
                // per output vector. Tap 8 stays a broadcast (a third vector load would read past the last plane's taps).
                w.Line("var taps0 = Vector128.LoadUnsafe(ref planeTaps);");
                w.Line("var taps1 = Vector128.LoadUnsafe(ref planeTaps, 4);");
            }
            taps.Plane("inputPlane", "planeTaps");
        }
    }

    protected override (string Vector, int Lane)? NeonTapLane(int t) => t < 8 ? ($"taps{t / 4}", t % 4) : null;

    protected override string VectorCombine(VectorTaps taps, string value, string weight, int lane) => MultiplyAddTap(taps, value, weight, lane);

    protected override void EmitScalarTaps(SourceWriter w, ScalarTaps taps)
    {
        w.Line("float acc = bias;");
        taps.First = false;
        using (Loop.Open(w, "ci", 0, Op.PlanesPerOutput))
        {
            w.Line($"ref float inputPlane = ref Unsafe.Add(ref plane, ci * {InPixels});");
            w.Line("ref float planeTaps = ref Unsafe.Add(ref taps, ci * 9);");
            taps.Plane("inputPlane", "planeTaps");
        }
    }

    protected override string ScalarCombine(ScalarTaps taps, string value, string weight) => MultiplyAddTap(taps, value, weight);

    /// <summary>
    /// A blocked variant: the interiors <see cref="ConvolutionBlock"/> output channels at a time (measured on the
    /// 224x224 stem: per-channel interiors spent most of their time re-loading and re-permuting the same input), then
    /// the edges in the per-channel loop.
    /// </summary>
    private void EmitBlockCalls(SourceWriter w, BlockWidth block)
    {
        int full = Op.Channels / ConvolutionBlock;
        int tail = Op.Channels % ConvolutionBlock;
        string Call(int channels, string c0) =>
            c0 == "0" ? $"{InteriorMethodName(block, channels)}(ref source, ref destination, ref weights, {WorkRange.Arguments});"
                : $"{InteriorMethodName(block, channels)}(ref source, ref Unsafe.Add(ref destination, {c0} * {OutPixels}), ref Unsafe.Add(ref weights, {c0} * {TapStride}), {WorkRange.Arguments});";
        // Every block, over the rows of the part.
        if (full > 0)
            w.Line($"for (int c0 = 0; c0 < {full * ConvolutionBlock}; c0 += {ConvolutionBlock}) {Call(ConvolutionBlock, "c0")}");
        if (tail > 0)
            w.Line(Call(tail, (full * ConvolutionBlock).ToString()));
    }

    private IEnumerable<int> BlockSizes()
    {
        if (Op.Channels >= ConvolutionBlock) yield return ConvolutionBlock;
        if (Op.Channels % ConvolutionBlock != 0) yield return Op.Channels % ConvolutionBlock;
    }

    private string InteriorMethodName(BlockWidth block, int channels) => $"{Name}_Interior{channels}ch_{block.Suffix}";

    private string VectorMethodName(BlockWidth block, int channels) => $"{Name}_Vector{channels}ch_{block.Suffix}";

    /// <summary>
    /// Each blocked variant, and its interiors of each block size as methods of their own: inlined into the kernel, a
    /// second block size (e.g. 8 + 4 for a 12-channel stem) made the 0.5x stem 13x slower (1222 µs against 93 µs as
    /// separate methods), most likely because the method outgrew the JIT's tracked-locals limit.
    /// </summary>
    protected override void EmitOwnVariantMethods(SourceWriter w)
    {
        foreach (var block in BlockWidths)
        {
            w.Line(KernelSyntax.Optimized);
            using (w.Open($"private static void {Name}_{block.Suffix}(ref float source, ref float destination, ref float weights{RangeParameters})"))
            {
                EmitBlockCalls(w, block);
                EmitLiteralBody(w, Interior.None);
            }
            w.Line();
            foreach (int channels in BlockSizes())
            {
                w.Line($"/// <summary>{block.Vector} interior columns of {channels} output channels of <see cref=\"{Name}\"/>.</summary>");
                w.Line(KernelSyntax.Optimized);
                using (w.Open($"private static void {InteriorMethodName(block, channels)}(ref float source, ref float blockOutput, ref float blockTaps, {WorkRange.Parameters})"))
                    EmitBlock(w, block, channels);
                w.Line();
                EmitBlockVectorMethod(w, block, channels);
            }
        }
    }

    private void EmitBlock(SourceWriter w, BlockWidth block, int channels)
    {
        int lanes = block.Lanes;
        foreach (var rows in Segments(Op.Output.Height, RowMask))
        {
            using (OpenRows(w, rows, out string oy))
            {
                EmitRowOffsets(w, rows.Mask, oy);
                string Call(string ox, bool leftEdge)
                {
                    string Row(int ky) => (rows.Mask & (1 << ky)) == 0 ? "0" : $"row{ky}";
                    string Flag(bool value) => value ? "true" : "false";
                    return $"{VectorMethodName(block, channels)}(ref source, ref blockOutput, ref blockTaps, {Row(0)}, {Row(1)}, {Row(2)}, outRow, {ox}, "
                        + $"{Flag((rows.Mask & 1) != 0)}, {Flag((rows.Mask & 4) != 0)}, {Flag(leftEdge)});";
                }
                foreach (var cols in Segments(Op.Output.Width, ColumnMask))
                {
                    int start = cols.Start;
                    if (cols.Mask != 0b111 || cols.End - start < lanes) continue;
                    if (LeftEdgeInBlock)
                    {
                        // Column 0 joins the first vector: its left tap is the padding's zero, shifted in.
                        w.Line(Call("0", leftEdge: true));
                        start = lanes;
                    }
                    int length = cols.End - start;
                    if (length >= lanes)
                    {
                        using (Loop.Open(w, "ox", start, cols.End - lanes, lanes, inclusive: true))
                            w.Line(Call("ox", leftEdge: false));
                    }
                    if (length % lanes != 0)
                        w.Line(Call((cols.End - lanes).ToString(), leftEdge: false));
                }
            }
        }
    }

    /// <summary>
    /// Whether the blocked interiors also compute output column 0 (whose left taps are padding), so the per-channel
    /// scalar edge skips it: the left edge is one column and the interior after it spans at least a vector.
    /// </summary>
    private bool LeftEdgeInBlock
    {
        get
        {
            var cols = Segments(Op.Output.Width, ColumnMask);
            return BlockWidths.Count > 0 && cols.Count >= 2 && cols[0].Mask == 0b110 && cols[0].End == 1 && cols[1].Mask == 0b111 && cols[1].End >= WideLanes;
        }
    }

    protected override bool EdgeDoneElsewhere(int start, int mask) => start == 0 && mask == 0b110 && LeftEdgeInBlock;

    /// <summary>
    /// One vector of output columns for a block of channels: the interior methods call it at every row and column
    /// with the row's taps and the left edge as constants, and it is inlined there, so each call site compiles to the
    /// straight-line code of its case while the source is written once per width and block size.
    /// </summary>
    private void EmitBlockVectorMethod(SourceWriter w, BlockWidth block, int channels)
    {
        int s = Op.Stride;
        string V = block.Vector;
        // Stride 2 on Vector256 keeps SHUFPS's lane order through every tap (see Simd.LoadEvenSwizzled256) and
        // puts each sum right once, at its store.
        bool swizzled = s == 2 && V == "Vector256";
        string even = swizzled ? "Simd.LoadEvenSwizzled256" : $"Simd.LoadEven{block.Lanes * 32}";
        string odd = swizzled ? "Simd.LoadOddSwizzled256" : $"Simd.LoadOdd{block.Lanes * 32}";
        string shift = swizzled ? "Simd.ShiftInZeroSwizzled256" : "Simd.ShiftInZero";
        w.Line($"/// <summary>One vector of output columns, from <paramref name=\"ox\"/>, of an output row of <see cref=\"{InteriorMethodName(block, channels)}\"/>: input rows <paramref name=\"row0\"/> (when <paramref name=\"above\"/>), <paramref name=\"row1\"/> and <paramref name=\"row2\"/> (when <paramref name=\"below\"/>); at the <paramref name=\"leftEdge\"/> the left taps of column 0 are the padding.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {VectorMethodName(block, channels)}(ref float source, ref float blockOutput, ref float blockTaps, int row0, int row1, int row2, int outRow, int ox, bool above, bool below, bool leftEdge)"))
        {
            for (int j = 0; j < channels; j++)
                w.Line($"var acc{j} = {V}.Create(Unsafe.Add(ref blockTaps, {j * TapStride + Op.PlanesPerOutput * 9}));");
            using (Loop.Open(w, "ci", 0, Op.PlanesPerOutput))
            {
                w.Line($"ref float inputPlane = ref Unsafe.Add(ref source, ci * {InPixels});");
                w.Line("ref float ciTaps = ref Unsafe.Add(ref blockTaps, ci * 9);");
                // A loop over the window's rows, not one copy of the taps per row: a third of the source (the rows are
                // the same code but for their offsets), with the same multiply-adds in the same order.
                using (w.Open("for (int ky = above ? 0 : 1; ky < (below ? 3 : 2); ky++)"))
                {
                    // input is the centre tap of the first column. The left taps load from one input column before it
                    // (stride 1) or two (stride 2, their odd lanes), except at the left edge, where that is the padding:
                    // they are the column to their right (stride 1: the centre taps; stride 2: the right ones) shifted
                    // one lane, with the padding's zero.
                    w.Line($"ref float input = ref Unsafe.Add(ref inputPlane, (ky == 0 ? row0 : ky == 1 ? row1 : row2) + {(s == 1 ? "ox" : $"ox * {s}")});");
                    w.Line("ref float rowTaps = ref Unsafe.Add(ref ciTaps, ky * 3);");
                    w.Line($"var centre = {(s == 1 ? $"{V}.LoadUnsafe(ref input)" : $"{even}(ref input)")};");
                    w.Line($"var right = {(s == 1 ? $"{V}.LoadUnsafe(ref input, 1)" : $"{odd}(ref input)")};");
                    string before = s == 1 ? $"{V}.LoadUnsafe(ref Unsafe.Subtract(ref input, 1))" : $"{odd}(ref Unsafe.Subtract(ref input, 2))";
                    w.Line($"var left = leftEdge ? {shift}({(s == 1 ? "centre" : "right")}) : {before};");
                    string[] columns = { "left", "centre", "right" };
                    for (int kx = 0; kx < 3; kx++)
                        for (int j = 0; j < channels; j++)
                            w.Line($"acc{j} = Simd.MulAdd({columns[kx]}, {V}.Create(Unsafe.Add(ref rowTaps, {j * TapStride + kx})), acc{j});");
                }
            }
            for (int j = 0; j < channels; j++)
            {
                if (Op.Relu) w.Line($"acc{j} = Simd.Relu(acc{j});");
                if (swizzled) w.Line($"acc{j} = Simd.Unswizzle256(acc{j});");
                w.Line($"acc{j}.StoreUnsafe(ref blockOutput, (nuint)({(j == 0 ? "" : $"{j * OutPixels} + ")}outRow + ox));");
            }
        }
        w.Line();
    }
}
