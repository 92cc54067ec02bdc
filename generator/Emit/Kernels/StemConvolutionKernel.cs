using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The stem's full 3x3 convolution over every input plane. Where Vector512 or Vector256 is accelerated its interiors run
/// channel-blocked in methods of their own: a full convolution reads the same input taps for every output channel, so
/// one de-interleaved load feeds a block of output channels (<see cref="BlockWidth"/>) instead of one. At stride 2 on
/// Vector256 the input rows are de-interleaved once into staged rows (<see cref="Staged"/>), which the blocks read with
/// plain loads.
/// </summary>
internal sealed class StemConvolutionKernel : WindowKernel
{
    /// <summary>
    /// A vector type the interiors run channel-blocked on: <paramref name="Channels"/> output channels by
    /// <paramref name="Vectors"/> vectors of columns per call, so each weight broadcast feeds <paramref name="Vectors"/>
    /// FMAs and each de-interleaved input vector <paramref name="Channels"/>.
    /// </summary>
    private sealed record BlockWidth(string Vector, int Lanes, string Suffix, int Channels, int Vectors)
    {
        public int Columns => Lanes * Vectors;
    }

    private static readonly BlockWidth Block512 = new("Vector512", WideLanes, "V512", 8, 1);

    // AVX2 has sixteen registers: 6 x 2 accumulators, the two input vectors of a tap and its broadcast weight. AVX2
    // broadcasts need a load of their own (no embedded broadcast as on AVX-512), so one weight per two FMAs instead of
    // one per FMA (8 x 1) takes the stem from load-bound toward FMA-bound.
    private static readonly BlockWidth Block256 = new("Vector256", 8, "V256", 6, 2);

    public StemConvolutionKernel(WindowOp op, VectorWidths widths, int scratchRows = 0) : base(op, widths)
    {
        ScratchRows = scratchRows;
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

    protected override string GeometryName => $"{Prefix}s{Op.Stride}_{Op.PlanesPerOutput}to{Op.Channels}_{Shape}{(Op.Relu ? "_Relu" : "")}{(ScratchRows > 0 ? "_ToBand" : "")}";

    /// <summary>
    /// Above 0 where the stem writes into a band of this many rows of every channel rather than its whole planes
    /// (<see cref="StemPoolKernel"/>): its part's first row at the band's row 0. Its variants are then called by the
    /// fused step's, without a dispatcher of their own.
    /// </summary>
    private int ScratchRows { get; }

    /// <summary>Floats from one output channel to the next in the destination: a plane, or a band's rows of one.</summary>
    private int OutputPlaneStride => ScratchRows > 0 ? ScratchRows * Op.Output.Width : OutPixels;

    protected override string OutputRow(string oy) =>
        ScratchRows == 0 ? base.OutputRow(oy) : oy == "0" ? $"-{WorkRange.Start} * {Op.Output.Width}" : $"({oy} - {WorkRange.Start}) * {Op.Output.Width}";

    protected override bool OwnDispatcher => ScratchRows == 0;

    /// <summary>The variants, in the order a dispatcher would pick them: what the fused step pairs with the pool's.</summary>
    internal IReadOnlyList<KernelVariant> VariantList => Variants;

    /// <summary>What the interiors' documentation refers to: the dispatcher, or the variant where there is none.</summary>
    private string Described(BlockWidth block) => OwnDispatcher ? Name : $"{Name}_{block.Suffix}";

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
        w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {OutputPlaneStride});");
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

    private IEnumerable<int> BlockSizes(BlockWidth block)
    {
        if (Op.Channels >= block.Channels) yield return block.Channels;
        if (Op.Channels % block.Channels != 0) yield return Op.Channels % block.Channels;
    }

    private string InteriorMethodName(BlockWidth block, int channels) => $"{Name}_Interior{channels}ch_{block.Suffix}";

    private string VectorMethodName(BlockWidth block, int channels) => $"{Name}_Vector{channels}ch_{block.Suffix}";

    /// <summary>
    /// Each blocked variant: its interiors, then the edges in the per-channel loop. The interiors of each block size are
    /// a method of their own: inlined into the kernel, a second block size (e.g. 8 + 4 for a 12-channel stem) made the
    /// 0.5x stem 13x slower (1222 µs against 93 µs as separate methods), most likely because the method outgrew the
    /// JIT's tracked-locals limit.
    /// </summary>
    protected override void EmitOwnVariantMethods(SourceWriter w)
    {
        foreach (var block in BlockWidths)
        {
            w.Line(KernelSyntax.Optimized);
            using (w.Open($"private static void {Name}_{block.Suffix}(ref float source, ref float destination, ref float weights{RangeParameters})"))
            {
                foreach (int channels in BlockSizes(block))
                    w.Line($"{InteriorMethodName(block, channels)}(ref source, ref destination, ref weights, {WorkRange.Arguments});");
                EmitLiteralBody(w, Interior.None);
            }
            w.Line();
            foreach (int channels in BlockSizes(block))
            {
                w.Line($"/// <summary>{block.Vector} interior columns of <see cref=\"{Described(block)}\"/>, {channels} output channels by {block.Columns} columns at a time.</summary>");
                w.Line(KernelSyntax.Optimized);
                using (w.Open($"private static void {InteriorMethodName(block, channels)}(ref float source, ref float destination, ref float weights, {WorkRange.Parameters})"))
                    EmitBlock(w, block, channels);
                w.Line();
                EmitBlockVectorMethod(w, block, channels);
            }
        }
    }

    /// <summary>
    /// The interiors of the blocks of <paramref name="channels"/> channels: every block of an output row before the next
    /// row, so the row's input stays in L1 (block by block over all rows streamed the 224x224 stem's 600 KB input, more
    /// than Zen 3's L2, once per block).
    /// </summary>
    private void EmitBlock(SourceWriter w, BlockWidth block, int channels)
    {
        int full = Op.Channels / block.Channels * block.Channels;
        bool staged = Staged(block);
        if (staged)
        {
            // In a fused step the rows follow the band on the fused step's stack (StagingFloats), cleared once per part
            // there; a plain stem clears its own once per call. Nothing is read before it is staged.
            if (ScratchRows > 0)
            {
                w.Line($"ref float staging = ref Unsafe.Add(ref destination, {Op.Channels * OutputPlaneStride});");
            }
            else
            {
                w.Line($"Span<float> stagedRows = stackalloc float[{StagingFloats}];");
                w.Line("ref float staging = ref MemoryMarshal.GetReference(stagedRows);");
            }
            w.Line("int lastStaged = -1;");
        }
        foreach (var rows in Segments(Op.Output.Height, RowMask))
        {
            using (OpenRows(w, rows, out string oy))
            {
                if (staged) EmitStagedRows(w, rows.Mask, oy);
                else EmitRowOffsets(w, rows.Mask, oy);
                if (channels == block.Channels)
                {
                    using (w.Open($"for (int c0 = 0; c0 < {full}; c0 += {block.Channels})"))
                        EmitBlockColumns(w, block, channels, rows.Mask, "c0");
                }
                else
                {
                    EmitBlockColumns(w, block, channels, rows.Mask, full.ToString());
                }
            }
        }
    }

    /// <summary>The interior columns of an output row for the block of <paramref name="channels"/> channels from <paramref name="c0"/>.</summary>
    private void EmitBlockColumns(SourceWriter w, BlockWidth block, int channels, int rowMask, string c0)
    {
        w.Line($"ref float blockOutput = ref Unsafe.Add(ref destination, {c0} * {OutputPlaneStride});");
        w.Line($"ref float blockTaps = ref Unsafe.Add(ref weights, {c0} * {TapStride});");
        int span = block.Columns;
        if (Staged(block))
        {
            string Slot(int ky) => (rowMask & (1 << ky)) == 0 ? "0" : $"slot{ky}";
            string Staged(string ox) => $"{VectorMethodName(block, channels)}(ref staging, ref blockOutput, ref blockTaps, {Slot(0)}, {Slot(1)}, {Slot(2)}, outRow, {ox}, "
                + $"{((rowMask & 1) != 0 ? "true" : "false")}, {((rowMask & 4) != 0 ? "true" : "false")});";
            // Column 0 is no special case: its left tap loads the staged row's padding zero.
            using (Loop.Open(w, "ox", 0, StagedColumns - span, span, inclusive: true))
                w.Line(Staged("ox"));
            if (StagedColumns % span != 0)
                w.Line(Staged((StagedColumns - span).ToString()));
            return;
        }
        string Call(string ox, bool leftEdge)
        {
            string Row(int ky) => (rowMask & (1 << ky)) == 0 ? "0" : $"row{ky}";
            string Flag(bool value) => value ? "true" : "false";
            return $"{VectorMethodName(block, channels)}(ref source, ref blockOutput, ref blockTaps, {Row(0)}, {Row(1)}, {Row(2)}, outRow, {ox}, "
                + $"{Flag((rowMask & 1) != 0)}, {Flag((rowMask & 4) != 0)}, {Flag(leftEdge)});";
        }
        foreach (var cols in Segments(Op.Output.Width, ColumnMask))
        {
            int start = cols.Start;
            if (cols.Mask != 0b111 || cols.End - start < span) continue;
            if (LeftEdgeInBlock)
            {
                // Column 0 joins the first vector: its left tap is the padding's zero, shifted in.
                w.Line(Call("0", leftEdge: true));
                start = span;
            }
            int length = cols.End - start;
            if (length >= span)
            {
                using (Loop.Open(w, "ox", start, cols.End - span, span, inclusive: true))
                    w.Line(Call("ox", leftEdge: false));
            }
            // The last columns again, overlapping their neighbours (equal values); never column 0, whose left tap is padding.
            if (length % span != 0)
                w.Line(Call((cols.End - span).ToString(), leftEdge: false));
        }
    }

    /// <summary>
    /// Whether the interiors of <paramref name="block"/> read staged rows (<see cref="EmitStagedRows"/>) rather than
    /// de-interleave the input at every tap: at stride 2 on Vector256 each input row is de-interleaved once per output
    /// row pair instead of once per channel block, tap column and output row, and without the SHUFPS that shares
    /// Zen 3's FMA pipe. The interior then starts at column 0. Only while the staged rows fit
    /// <see cref="MaxStagedFloats"/>: they are read back from L1.
    /// </summary>
    private bool Staged(BlockWidth block) =>
        block == Block256 && Op.Stride == 2 && LeftEdgeInBlock && StagedFloats <= MaxStagedFloats;

    /// <summary>
    /// Floats of the staged rows a variant reads (0: none stages). A band stem's caller puts them after the band (its
    /// <c>destination</c>, which may start a row into the band, plus every channel's band rows).
    /// </summary>
    public int StagingFloats => BlockWidths.Exists(Staged) ? StagedFloats : 0;

    /// <summary>Floats of every plane's three staged rows.</summary>
    private int StagedFloats => Op.PlanesPerOutput * 3 * StagedRowFloats;

    /// <summary>Floats the staged rows may take, at most: 32 KiB, Zen 3's L1 data cache (a 224x224 RGB stem stages 2,088).</summary>
    private const int MaxStagedFloats = 8192;

    /// <summary>The output columns of the staged rows: column 0 and the interior after it.</summary>
    private int StagedColumns => Segments(Op.Output.Width, ColumnMask)[1].End;

    /// <summary>Floats of one staged row (the padding, the odd and the even columns), rounded up to a vector.</summary>
    private int StagedRowFloats => (2 * StagedColumns + 8) / 8 * 8;

    /// <summary>
    /// Stages the input rows output row <paramref name="oy"/> reads that an earlier row of the part has not
    /// (<c>Simd.StageStride2Rows256</c>): an output row's last input row is the next one's first, so it is staged once.
    /// <c>slotN</c> is where the row of tap row ky = N is.
    /// </summary>
    private void EmitStagedRows(SourceWriter w, int rowMask, string oy)
    {
        int top = (rowMask & 1) != 0 ? 0 : 1, bottom = (rowMask & 4) != 0 ? 2 : 1;
        w.Line($"lastStaged = Simd.StageStride2Rows256(ref source, ref staging, lastStaged, {Affine(oy, 2, top - 1)}, {Affine(oy, 2, bottom - 1)}, "
            + $"{Op.PlanesPerOutput}, {InPixels}, {Op.Input.Width}, {StagedRowFloats}, {StagedColumns});");
        for (int ky = top; ky <= bottom; ky++)
        {
            string slot = int.TryParse(oy, out int row) ? ((2 * row + ky) % 3 * StagedRowFloats).ToString() : $"({Affine(oy, 2, ky)}) % 3 * {StagedRowFloats}";
            w.Line($"int slot{ky} = {slot};");
        }
        w.Line($"int outRow = {OutputRow(oy)};");
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
        if (Staged(block))
        {
            EmitStagedVectorMethod(w, block, channels);
            return;
        }
        int s = Op.Stride;
        string V = block.Vector;
        // Stride 2 on Vector256 keeps SHUFPS's lane order through every tap (see Simd.LoadEvenSwizzled256) and
        // puts each sum right once, at its store.
        bool swizzled = s == 2 && V == "Vector256";
        string even = swizzled ? "Simd.LoadEvenSwizzled256" : $"Simd.LoadEven{block.Lanes * 32}";
        string odd = swizzled ? "Simd.LoadOddSwizzled256" : $"Simd.LoadOdd{block.Lanes * 32}";
        string shift = swizzled ? "Simd.ShiftInZeroSwizzled256" : "Simd.ShiftInZero";
        string Acc(int j, int k) => Accumulator(block, j, k);
        w.Line($"/// <summary>{block.Columns} output columns, from <paramref name=\"ox\"/>, of an output row of <see cref=\"{InteriorMethodName(block, channels)}\"/>: input rows <paramref name=\"row0\"/> (when <paramref name=\"above\"/>), <paramref name=\"row1\"/> and <paramref name=\"row2\"/> (when <paramref name=\"below\"/>); at the <paramref name=\"leftEdge\"/> the left taps of column 0 are the padding.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {VectorMethodName(block, channels)}(ref float source, ref float blockOutput, ref float blockTaps, int row0, int row1, int row2, int outRow, int ox, bool above, bool below, bool leftEdge)"))
        {
            EmitBlockAccumulators(w, block, channels);
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
                    if (block.Vectors == 1)
                        EmitSingleVectorTaps(w, block, channels, even, odd, shift);
                    else
                        EmitTapColumnLoop(w, block, channels, even, odd, shift, Acc);
                }
            }
            EmitBlockStores(w, block, channels, swizzled);
        }
        w.Line();
    }

    private static string Accumulator(BlockWidth block, int channel, int vector) =>
        block.Vectors == 1 ? $"acc{channel}" : $"acc{channel}_{vector}";

    /// <summary>A block's accumulators, each starting at its channel's bias.</summary>
    private void EmitBlockAccumulators(SourceWriter w, BlockWidth block, int channels)
    {
        for (int j = 0; j < channels; j++)
        {
            w.Line($"var {Accumulator(block, j, 0)} = {block.Vector}.Create(Unsafe.Add(ref blockTaps, {j * TapStride + Op.PlanesPerOutput * 9}));");
            for (int k = 1; k < block.Vectors; k++) w.Line($"var {Accumulator(block, j, k)} = {Accumulator(block, j, 0)};");
        }
    }

    /// <summary>A block's ReLU and stores: one reference to the first column, the stores at constant offsets from it.</summary>
    private void EmitBlockStores(SourceWriter w, BlockWidth block, int channels, bool swizzled)
    {
        w.Line("ref float at = ref Unsafe.Add(ref blockOutput, outRow + ox);");
        for (int j = 0; j < channels; j++)
        {
            for (int k = 0; k < block.Vectors; k++)
            {
                string sum = Op.Relu ? $"Simd.Relu({Accumulator(block, j, k)})" : Accumulator(block, j, k);
                if (swizzled) sum = $"Simd.Unswizzle256({sum})";
                int offset = j * OutputPlaneStride + k * block.Lanes;
                w.Line(offset == 0 ? $"{sum}.StoreUnsafe(ref at);" : $"{sum}.StoreUnsafe(ref at, {offset});");
            }
        }
    }

    private void EmitSingleVectorTaps(SourceWriter w, BlockWidth block, int channels, string even, string odd, string shift)
    {
        int s = Op.Stride;
        string V = block.Vector;
        w.Line($"var centre = {(s == 1 ? $"{V}.LoadUnsafe(ref input)" : $"{even}(ref input)")};");
        w.Line($"var right = {(s == 1 ? $"{V}.LoadUnsafe(ref input, 1)" : $"{odd}(ref input)")};");
        string before = s == 1 ? $"{V}.LoadUnsafe(ref Unsafe.Subtract(ref input, 1))" : $"{odd}(ref Unsafe.Subtract(ref input, 2))";
        w.Line($"var left = leftEdge ? {shift}({(s == 1 ? "centre" : "right")}) : {before};");
        string[] columns = { "left", "centre", "right" };
        for (int kx = 0; kx < 3; kx++)
            for (int j = 0; j < channels; j++)
                w.Line($"acc{j} = Simd.MulAdd({columns[kx]}, {V}.Create(Unsafe.Add(ref rowTaps, {j * TapStride + kx})), acc{j});");
    }

    /// <summary>
    /// The taps of several column vectors, a loop over the window's columns: tap kx of output column x is input column
    /// s·x + kx − 1, so at stride 2 it is the even lanes from kx − 1 (the left taps' odd lanes from −2 are the same
    /// floats in the same order) and one load expression serves all three. Each column's vectors are loaded just
    /// before its FMAs, so only they and one broadcast weight are live beside the accumulators.
    /// </summary>
    private void EmitTapColumnLoop(SourceWriter w, BlockWidth block, int channels, string even, string odd, string shift, System.Func<int, int, string> acc)
    {
        int s = Op.Stride;
        string V = block.Vector;
        string Load(string at) => s == 1 ? $"{V}.LoadUnsafe(ref {at})" : $"{even}(ref {at})";
        // References stepped one column per kx, so every load below addresses at a constant offset from them (indexing
        // by kx + offset cost a sign extension and an address computation per load).
        w.Line("ref float first = ref Unsafe.Subtract(ref input, 1);");
        w.Line("ref float kxTaps = ref rowTaps;");
        using (w.Open("for (int kx = 0; kx < 3; kx++, first = ref Unsafe.Add(ref first, 1), kxTaps = ref Unsafe.Add(ref kxTaps, 1))"))
        {
            string edge = $"{shift}({(s == 1 ? $"{V}.LoadUnsafe(ref input)" : $"{odd}(ref input)")})";
            w.Line($"var column0 = leftEdge && kx == 0 ? {edge} : {Load("first")};");
            for (int k = 1; k < block.Vectors; k++)
                w.Line($"var column{k} = {Load($"Unsafe.Add(ref first, {k * block.Lanes * s})")};");
            w.Line($"{V}<float> tap;");
            for (int j = 0; j < channels; j++)
            {
                w.Line($"tap = {V}.Create({(j == 0 ? "kxTaps" : $"Unsafe.Add(ref kxTaps, {j * TapStride})")});");
                for (int k = 0; k < block.Vectors; k++)
                    w.Line($"{acc(j, k)} = Simd.MulAdd(column{k}, tap, {acc(j, k)});");
            }
        }
    }

    /// <summary>
    /// <see cref="EmitBlockVectorMethod"/> on staged rows: the three tap columns are plain loads at constant offsets,
    /// written out column by column (a loop over them measured about 12 % slower: the JIT neither unrolls it nor keeps
    /// its offsets out of the loop). The multiply-adds are the same, in the same order, as from the input itself.
    /// </summary>
    private void EmitStagedVectorMethod(SourceWriter w, BlockWidth block, int channels)
    {
        string V = block.Vector;
        string Acc(int j, int k) => Accumulator(block, j, k);
        w.Line($"/// <summary>{block.Columns} output columns, from <paramref name=\"ox\"/>, of an output row of <see cref=\"{InteriorMethodName(block, channels)}\"/>, from the staged rows at <paramref name=\"slot0\"/> (when <paramref name=\"above\"/>), <paramref name=\"slot1\"/> and <paramref name=\"slot2\"/> (when <paramref name=\"below\"/>) of each plane.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {VectorMethodName(block, channels)}(ref float staging, ref float blockOutput, ref float blockTaps, int slot0, int slot1, int slot2, int outRow, int ox, bool above, bool below)"))
        {
            EmitBlockAccumulators(w, block, channels);
            w.Line($"{V}<float> tap;");
            using (Loop.Open(w, "ci", 0, Op.PlanesPerOutput))
            {
                w.Line($"ref float planeRows = ref Unsafe.Add(ref staging, ci * {3 * StagedRowFloats} + ox);");
                w.Line("ref float ciTaps = ref Unsafe.Add(ref blockTaps, ci * 9);");
                using (w.Open("for (int ky = above ? 0 : 1; ky < (below ? 3 : 2); ky++)"))
                {
                    w.Line("ref float row = ref Unsafe.Add(ref planeRows, ky == 0 ? slot0 : ky == 1 ? slot1 : slot2);");
                    w.Line("ref float rowTaps = ref Unsafe.Add(ref ciTaps, ky * 3);");
                    // Tap kx of output column x is input column 2x + kx - 1: the odd columns from one before, the even
                    // ones, the odd ones (see Simd.StageStride2Rows256).
                    int[] columnStart = { 0, 1 + StagedColumns, 1 };
                    for (int kx = 0; kx < 3; kx++)
                    {
                        for (int k = 0; k < block.Vectors; k++)
                        {
                            int offset = columnStart[kx] + k * block.Lanes;
                            w.Line($"{(kx == 0 ? "var " : "")}column{k} = {(offset == 0 ? $"{V}.LoadUnsafe(ref row)" : $"{V}.LoadUnsafe(ref row, {offset})")};");
                        }
                        for (int j = 0; j < channels; j++)
                        {
                            int t = j * TapStride + kx;
                            w.Line($"tap = {V}.Create({(t == 0 ? "rowTaps" : $"Unsafe.Add(ref rowTaps, {t})")});");
                            for (int k = 0; k < block.Vectors; k++)
                                w.Line($"{Acc(j, k)} = Simd.MulAdd(column{k}, tap, {Acc(j, k)});");
                        }
                    }
                }
            }
            EmitBlockStores(w, block, channels, swizzled: false);
        }
        w.Line();
    }
}
