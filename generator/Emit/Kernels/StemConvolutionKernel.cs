using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The stem's full 3x3 convolution over every input plane. Where Vector512 is accelerated its wide interiors run
/// channel-blocked in methods of their own: a full convolution reads the same input taps for every output channel,
/// so one de-interleaved load feeds <see cref="ConvolutionBlock"/> FMAs instead of one.
/// </summary>
internal sealed class StemConvolutionKernel : WindowKernel
{
    /// <summary>Output channels a blocked convolution interior computes per loaded input vector.</summary>
    private const int ConvolutionBlock = 8;

    public StemConvolutionKernel(WindowOp op, VectorWidths widths) : base(op, widths)
    {
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

    /// <summary>Whether the Vector512 interiors run channel-blocked (all of them do, when there are any).</summary>
    private bool BlockedInterior => WideInteriors && LongestInterior >= WideLanes;

    /// <summary>A team splits the stem by output channels, by blocks of them where the Vector512 interiors compute a block at once.</summary>
    protected override int ChannelsPerItem => BlockedInterior ? ConvolutionBlock : 1;

    /// <summary>One stem per model: its variants split rows and columns at generation time, as methods of its own.</summary>
    protected override bool SharedBodies => false;

    protected override string KindPrefix => Prefix;

    protected override bool WideDoneByOwnVariant => BlockedInterior;

    protected override string GuardedScalarCombine(string value, string weight) => throw new System.NotSupportedException("The stem has no shared bodies.");

    protected override void AddOwnVariants(List<KernelVariant> variants)
    {
        if (BlockedInterior) variants.Add(new(RuntimeChecks.Vector512Accelerated, $"{Name}_V512", "Vector512"));
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
    /// The Vector512 variant: the interiors <see cref="ConvolutionBlock"/> output channels at a time (measured on the
    /// 224x224 stem: per-channel interiors spent most of their time re-loading and re-permuting the same input), then
    /// the edges in the per-channel loop.
    /// </summary>
    protected override void EmitLiteralPrologue(SourceWriter w, Interior interior)
    {
        if (interior != Interior.None) return;
        int full = Op.Channels / ConvolutionBlock;
        int tail = Op.Channels % ConvolutionBlock;
        string Call(int channels, string c0) =>
            c0 == "0" ? $"{BlockMethodName(channels)}(ref source, ref destination, ref weights);"
                : $"{BlockMethodName(channels)}(ref source, ref Unsafe.Add(ref destination, {c0} * {OutPixels}), ref Unsafe.Add(ref weights, {c0} * {TapStride}));";
        // Work items are blocks: the full ones of [part.Start, part.Stop), then the tail block if the part ends with it.
        if (full > 0)
            w.Line($"for (int c0 = part.Start * {ConvolutionBlock}; c0 < Math.Min(part.Stop, {full}) * {ConvolutionBlock}; c0 += {ConvolutionBlock}) {Call(ConvolutionBlock, "c0")}");
        if (tail > 0)
            w.Line($"if (part.Stop > {full}) {Call(tail, (full * ConvolutionBlock).ToString())}");
    }

    private IEnumerable<int> BlockSizes()
    {
        if (Op.Channels >= ConvolutionBlock) yield return ConvolutionBlock;
        if (Op.Channels % ConvolutionBlock != 0) yield return Op.Channels % ConvolutionBlock;
    }

    private string BlockMethodName(int channels) => $"{Name}_Interior{channels}ch_V512";

    /// <summary>
    /// The Vector512 interiors of each block size, as methods of their own: inlined into the kernel, a second block
    /// size (e.g. 8 + 4 for a 12-channel stem) made the 0.5x stem 13x slower (1222 µs against 93 µs as separate
    /// methods), most likely because the method outgrew the JIT's tracked-locals limit.
    /// </summary>
    protected override void EmitOwnVariantMethods(SourceWriter w)
    {
        if (!BlockedInterior) return;
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {Name}_V512(ref float source, ref float destination, ref float weights{RangeParameters})"))
            EmitLiteralBody(w, Interior.None);
        w.Line();
        foreach (int channels in BlockSizes())
        {
            w.Line($"/// <summary>Vector512 interior columns of {channels} output channels of <see cref=\"{Name}\"/>.</summary>");
            w.Line(KernelSyntax.Optimized);
            using (w.Open($"private static void {BlockMethodName(channels)}(ref float source, ref float blockOutput, ref float blockTaps)"))
                EmitBlock(w, channels);
            w.Line();
        }
    }

    private void EmitBlock(SourceWriter w, int channels)
    {
        foreach (var rows in Segments(Op.Output.Height, RowMask))
        {
            bool single = rows.Start + 1 == rows.End;
            using (single ? w.OpenScope() : Loop.Open(w, "oy", rows.Start, rows.End))
            {
                string oy = single ? rows.Start.ToString() : "oy";
                EmitRowOffsets(w, rows.Mask, oy);
                foreach (var cols in Segments(Op.Output.Width, ColumnMask))
                {
                    int start = cols.Start;
                    if (cols.Mask != 0b111 || cols.End - start < WideLanes) continue;
                    if (LeftEdgeInBlock)
                    {
                        // Column 0 joins the first vector: its left tap is the padding's zero, shifted in.
                        using (w.OpenScope())
                            EmitBlockVector(w, rows.Mask, "0", channels, leftEdge: true);
                        start = WideLanes;
                    }
                    int length = cols.End - start;
                    if (length >= WideLanes)
                    {
                        using (Loop.Open(w, "ox", start, cols.End - WideLanes, WideLanes, inclusive: true))
                            EmitBlockVector(w, rows.Mask, "ox", channels);
                    }
                    if (length % WideLanes != 0)
                    {
                        using (w.OpenScope())
                            EmitBlockVector(w, rows.Mask, (cols.End - WideLanes).ToString(), channels);
                    }
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
            return BlockedInterior && cols.Count >= 2 && cols[0].Mask == 0b110 && cols[0].End == 1 && cols[1].Mask == 0b111 && cols[1].End >= WideLanes;
        }
    }

    protected override bool EdgeDoneElsewhere(int start, int mask) => start == 0 && mask == 0b110 && LeftEdgeInBlock;

    private void EmitBlockVector(SourceWriter w, int rowMask, string ox, int channels, bool leftEdge = false)
    {
        int s = Op.Stride;
        for (int j = 0; j < channels; j++)
            w.Line($"var acc{j} = Vector512.Create(Unsafe.Add(ref blockTaps, {j * TapStride + Op.PlanesPerOutput * 9}));");
        using (Loop.Open(w, "ci", 0, Op.PlanesPerOutput))
        {
            w.Line($"ref float inputPlane = ref Unsafe.Add(ref source, ci * {InPixels});");
            w.Line("ref float ciTaps = ref Unsafe.Add(ref blockTaps, ci * 9);");
            // At the left edge the row pointer stays at column 0 (stride 1 would point one before it).
            string column = leftEdge ? "0" : Affine(ox, s, s == 1 ? -1 : 0);
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                w.Line($"ref float in{ky} = ref Unsafe.Add(ref inputPlane, {Loop.Sum($"row{ky}", column)});");
                // Left-edge taps: centre and right as loads from column 0; the left ones are the column to their
                // right (stride 1: the centre taps; stride 2: the odd ones) shifted one lane, with the padding's zero.
                int centre = ky * 3 + 1, right = ky * 3 + 2;
                if (leftEdge)
                {
                    w.Line($"var x{centre} = {(s == 1 ? $"Vector512.LoadUnsafe(ref in{ky})" : TapLoad("Vector512", s, ky, 1))};");
                    w.Line($"var x{right} = {(s == 1 ? $"Vector512.LoadUnsafe(ref in{ky}, 1)" : TapLoad("Vector512", s, ky, 2))};");
                    w.Line($"var x{ky * 3} = Simd.ShiftInZero(x{(s == 1 ? centre : right)});");
                }
                for (int kx = 0; kx < 3; kx++)
                {
                    int t = ky * 3 + kx;
                    if (!leftEdge) w.Line($"var x{t} = {TapLoad("Vector512", s, ky, kx)};");
                    for (int j = 0; j < channels; j++)
                        w.Line($"acc{j} = Simd.MulAdd(x{t}, Vector512.Create(Unsafe.Add(ref ciTaps, {j * TapStride + t})), acc{j});");
                }
            }
        }
        for (int j = 0; j < channels; j++)
        {
            if (Op.Relu) w.Line($"acc{j} = Simd.Relu(acc{j});");
            w.Line($"acc{j}.StoreUnsafe(ref blockOutput, (nuint)({(j == 0 ? "" : $"{j * OutPixels} + ")}outRow + {ox}));");
        }
    }
}
