using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// What every 1x1 group convolution kernel shares, whatever its arithmetic: the walk over groups and packed blocks of
/// <see cref="BlockRows"/> output channels, the register tiles that cover a block's channels and pixels, the
/// dispatcher that picks the widest accelerated width, and the shape struct the generic tiles specialize on. A kind
/// (<see cref="PointwiseKernel"/> in float, <see cref="Int8PointwiseKernel"/> in integers) supplies its names, the
/// tile bodies and the packing.
/// </summary>
/// <remarks>
/// A packed block of r channels starting at output channel o sits at <c>o × ChannelStride</c> and holds r values of
/// each per-channel constant (float: the bias; int8: the scale, then the bias), then for each input slot (a float
/// input channel; four int8 channels) the block's r weights.
/// </remarks>
internal abstract class PointwiseKernelBase : IKernelEmitter
{
    protected PointwiseKernelBase(PointwiseOp op, VectorWidths widths)
    {
        // A plane table on the input is read by the tiles' channel loop, which steps through the groups' slices.
        if (op.InputPlanes.IsTable && op.Groups != 1) throw new System.NotSupportedException($"{op.Name}: a grouped 1x1 convolution reads its input as a slice, not through a plane table.");
        if (!op.InputPlanes.IsContiguous && !op.InputPlanes.IsTable) throw new System.NotSupportedException($"{op.Name}: a 1x1 convolution reads a slice or a plane table, not a shuffled slice.");
        Op = op;
        _widths = widths;
        Neon = (widths & VectorWidths.AdvSimd) != 0;
    }

    protected PointwiseOp Op { get; }

    private readonly VectorWidths _widths;
    private IReadOnlyList<Width>? _kernelWidths;

    /// <summary>The variants' widths, widest first (the last is the portable one), with the kind's own variants.</summary>
    protected IReadOnlyList<Width> KernelWidths => _kernelWidths ??= WithKindVariants(Widths(Op, _widths));

    /// <summary>A kind's variants beyond one per width (the int8 kind's <see cref="V256Vnni"/>).</summary>
    protected virtual IReadOnlyList<Width> WithKindVariants(IReadOnlyList<Width> widths) => widths;

    /// <summary>Whether the ARM64 branches are emitted (the model's target includes AdvSimd).</summary>
    protected bool Neon { get; }

    /// <summary>Output channels per packed weight block; the weight packer lays weights out in the same blocks.</summary>
    public const int BlockRows = 8;

    /// <summary>A vector width: its type, lanes, channels per register block and accumulator budget.</summary>
    internal sealed record Width(string Vector, int Lanes, int Rows, int Accumulators, string Suffix)
    {
        /// <summary>The check under which the call site picks this width.</summary>
        public string Condition => RuntimeChecks.Accelerated(Vector);
    }

    internal static readonly Width V512 = new("Vector512", 16, 8, 24, "V512");
    internal static readonly Width V256 = new("Vector256", 8, 4, 8, "V256");
    internal static readonly Width V128 = new("Vector128", 4, 4, 8, "V128");

    /// <summary>
    /// Vector256 for a family whose dot product is one long-latency instruction (VPDPBUSD: about 5 cycles, 2 a cycle on
    /// Intel P-cores, so 10 or more accumulators in flight): its own walk with more accumulators, over V256's tiles.
    /// </summary>
    internal static readonly Width V256Vnni = new("Vector256", 8, 4, 12, "V256Vnni");

    /// <summary>Widths worth emitting for this op, widest first; the last is always the portable one.</summary>
    private static IReadOnlyList<Width> Widths(PointwiseOp op, VectorWidths widths)
    {
        var list = new List<Width>();
        if (op.Output.Pixels >= V512.Lanes && (widths & VectorWidths.Vector512) != 0) list.Add(V512);
        if (op.Output.Pixels >= V256.Lanes && (widths & VectorWidths.Vector256) != 0) list.Add(V256);
        list.Add(V128);
        return list;
    }

    /// <summary>What the kind's kernels, tiles and shapes are named with, e.g. <c>Pointwise_</c>.</summary>
    protected abstract string KindPrefix { get; }

    /// <summary>The interface the kind's shape structs implement.</summary>
    protected abstract string ShapeInterface { get; }

    /// <summary>Input slots (planes of the source tensor) per group.</summary>
    protected abstract int InputSlotsPerGroup { get; }

    /// <summary>The convolution's geometry and epilogue: what its variants' code depends on, tables aside.</summary>
    private string GeometryName
    {
        get
        {
            var op = Op;
            string name = $"{KindPrefix}g{op.Groups}_{op.InChannels}to{op.OutChannels}_{op.Output.Pixels}px";
            if (op.ShuffleGroups > 1) name += op.OfficialShuffle ? $"_OfficialShuffle{op.ShuffleGroups}" : $"_Shuffle{op.ShuffleGroups}";
            if (op.Residual is not null) name += "_Residual";
            if (op.Relu) name += "_Relu";
            return name + GeometrySuffix;
        }
    }

    /// <summary>What the kind adds to the geometry's name for code of its own (an int8 convolution packing its consumer's slots).</summary>
    protected virtual string GeometrySuffix => "";

    /// <summary>
    /// Whether this convolution also packs the next one's slots from its outputs (<see cref="PointwiseOp.Packs"/>): its
    /// variants then take the slot tensor and the quantize layer's packed inverse scale and zero point.
    /// </summary>
    protected virtual bool PacksSlots => false;

    /// <summary>
    /// Whether this kind's tiles take the slot tensor and quantize parameters (null references where the convolution
    /// packs none; its shape's constant then drops the packing), so packing and plain convolutions share one tile.
    /// </summary>
    protected virtual bool TilesTakeSlots => false;

    /// <summary>The call site's slot tensor and quantize parameters, when <see cref="PacksSlots"/>.</summary>
    protected virtual string SlotOperands => "";

    private const string SlotParameters = ", ref float slots, ref float quantize";

    private const string SlotArguments = ", ref slots, ref quantize";

    /// <summary>What a convolution packing no slots passes its tiles: one null reference, declared once per variant.</summary>
    private const string NoSlotArguments = ", ref noSlots, ref noSlots";

    /// <summary>
    /// Whether the convolution reads or writes through plane tables. The tables are literals of its shape struct, so it
    /// has a dispatcher and a shape of its own, named by its tables; its width variants are generic over the shape and
    /// shared by every convolution of its geometry (a v2 stage's units differ only in their tables).
    /// </summary>
    private bool TableKernel => TableKernels.Applies(Op.InputPlanes, Op.OutputPlanes);

    protected string BaseName => TableKernels.Name(GeometryName, Op.InputPlanes, Op.OutputPlanes);

    public string PathKey => TableKernels.PathKey(GeometryName, Op.InputPlanes, Op.OutputPlanes);

    /// <summary>How <c>KernelPaths</c> names a width's variant (a table kernel's is the shared one of its geometry).</summary>
    protected string VariantLabel(Width width) => (TableKernel ? GeometryName : BaseName) + "_" + width.Suffix;

    /// <summary>
    /// A width's variant, named by its width alone: it calls whichever tiles cover its blocks (a block of four channels
    /// on Vector512 takes 4 × 96 tiles, a remainder the narrowest vector that covers it), which their own names state.
    /// A table kernel's variants are the shared generic ones of its geometry.
    /// </summary>
    protected string KernelName(Width width) => TableKernel ? $"{GeometryName}_{width.Suffix}<{ShapeName}>" : BaseName + "_" + width.Suffix;

    private string VariantDefinitionName(Width width) => TableKernel ? $"{GeometryName}_{width.Suffix}<TShape>" : KernelName(width);

    /// <summary>The dispatcher: the method call sites call, which picks a variant.</summary>
    public string Name => BaseName;

    public abstract string? PackStatement { get; }

    public string CallStatement()
    {
        var op = Op;
        return $"{Name}({OperandRefs.Of(op.Input, op.InputPlanes)}, {OperandRefs.Of(op.Output, op.OutputPlanes)}, {OperandRefs.Weights(op)}{(op.Residual is null ? "" : ", " + OperandRefs.Of(op.Residual))}{(PacksSlots ? ", " + SlotOperands : "")}, {WorkRange.Arguments});";
    }

    /// <summary>The packed blocks a group holds: the full ones, then the tail block, if any.</summary>
    private int BlocksPerGroup => Op.OutPerGroup / BlockRows + (TailRows > 0 ? 1 : 0);

    /// <summary>The packed blocks of all groups.</summary>
    private int Blocks => Op.Groups * BlocksPerGroup;

    /// <summary>
    /// The convolution's work items: its packed blocks, group by group, each an independent set of output channels; where
    /// <see cref="PixelHalves"/>, every block once over the first half of the pixels, then once over the second.
    /// </summary>
    public int WorkItems => Blocks * (PixelHalves ? 2 : 1);

    /// <summary>Whether this kind's walks can be split at <see cref="PixelSplit"/> (its tiles and chunks all divide it).</summary>
    protected virtual bool SplitsPixels => false;

    /// <summary>Pixels every width's vectors and chunks divide, so a walk can stop at a multiple of it without a tail.</summary>
    private const int PixelSplitAlignment = 48;

    /// <summary>Where the first half of the pixels ends: the multiple of <see cref="PixelSplitAlignment"/> nearest below the middle.</summary>
    private int PixelSplit => Op.Output.Pixels / 2 / PixelSplitAlignment * PixelSplitAlignment;

    /// <summary>
    /// Whether a team splits the pixels in two as well as the blocks: where the blocks are few and odd, two threads
    /// could only share them unevenly (15 blocks: 8 against 7, a thread idle for a block's time at the barrier), and twice
    /// as many items halve that. Each output element is still summed by one thread in one order.
    /// </summary>
    private bool PixelHalves
    {
        get
        {
            // Not for table kernels (ShuffleNet v2's): each half is a walk of its own, and v2's emitted code would
            // outgrow its size budget (measured: V2X1_0_224 366,069 -> 385,545 characters against 380,000).
            if (!SplitsPixels || TableKernel || Blocks % 2 == 0 || Blocks >= 32 || PixelSplit == 0) return false;
            foreach (var width in KernelWidths)
            {
                int chunk = PixelChunkOf(width);
                if (PixelSplit % (chunk > 0 ? chunk : width.Lanes) != 0) return false;
            }
            return true;
        }
    }

    private string Parameters => "ref float source, ref float destination, ref float weights" + (Op.Residual is null ? "" : ", ref float residual") + (PacksSlots ? SlotParameters : "") + ", " + WorkRange.Parameters;

    private string Arguments => "ref source, ref destination, ref weights" + (Op.Residual is null ? "" : ", ref residual") + (PacksSlots ? SlotArguments : "") + ", " + WorkRange.Arguments;

    /// <summary>What the dispatcher's summary says the convolution computes in, e.g. <c>, in int8</c>.</summary>
    protected virtual string ArithmeticNote => "";

    /// <summary>
    /// Calls the widest variant the hardware accelerates. The checks are constants to the JIT and NativeAOT, and the
    /// dispatcher is inlined into its callers, so each call site compiles to one direct call of one variant.
    /// </summary>
    private void EmitDispatcher(SourceWriter w)
    {
        var op = Op;
        bool shuffled = op.ShuffleGroups > 1;
        string summary = ($"1x1 convolution{ArithmeticNote}, {op.Groups} group(s), {op.InChannels} to {op.OutChannels} channels over {op.Output.Pixels} pixels, batch norm folded"
            + (op.Residual is null ? "" : ", plus residual") + (op.Relu ? ", ReLU" : "")
            + (shuffled ? $"; output stored in {(op.OfficialShuffle ? "official (megvii) " : "")}channel-shuffled order ({op.ShuffleGroups} groups)" : "") + ".");
        var variants = new List<KernelVariant>();
        for (int i = 0; i < KernelWidths.Count; i++)
            variants.Add(new(i == KernelWidths.Count - 1 ? null : VariantCondition(KernelWidths[i]), KernelName(KernelWidths[i]), KernelName(KernelWidths[i])));
        KernelSyntax.EmitDispatcher(w, summary, $"{Name}({Parameters})", Arguments, variants);
    }

    public abstract string PathExpression { get; }

    /// <summary>The check under which the dispatcher picks <paramref name="width"/>'s variant (default: the width is accelerated).</summary>
    protected virtual string VariantCondition(Width width) => width.Condition;

    /// <summary>Whether the portable variant's tiles are vectors: planes narrower than a Vector128 take scalar tiles.</summary>
    protected bool HasVectorTiles => Op.Output.Pixels >= V128.Lanes;

    /// <summary>Pixel vectors per tile for a sub-block of <paramref name="rows"/> channels: as many as the accumulators allow.</summary>
    /// <remarks>
    /// <see cref="V256Vnni"/>'s budget is for full-row tiles only; fewer rows (a block's tail) keep V256's tiles, since a
    /// tile of their own per row count would add a method for a small share of the work.
    /// </remarks>
    private int TileVectors(Width width, int rows) =>
        System.Math.Max(1, System.Math.Min(6, AccumulatorBudget(width == V256Vnni && rows < width.Rows ? V256 : width) / rows));

    /// <summary>The accumulator registers a tile of this kind may hold on <paramref name="width"/> (its default: the width's).</summary>
    protected virtual int AccumulatorBudget(Width width) => width.Accumulators;

    /// <summary>
    /// Whether the vector recomputed over a plane's end runs once for all of a packed block's channels on
    /// <paramref name="width"/>, instead of once per sub-block of the width's rows.
    /// </summary>
    protected virtual bool WholeBlockTail(Width width) => false;

    /// <summary>
    /// The pixels left after a full block's vector tiles on <paramref name="width"/> when this kind computes them for
    /// several blocks at once, after the blocks' tiles, with channels in lanes (0: each block's tiles end with a tail tile).
    /// </summary>
    protected virtual int LaneTail(Width width) => 0;

    /// <summary>The call of the lane tail for the full blocks [<paramref name="start"/>, <paramref name="stop"/>) of a one-group convolution.</summary>
    protected virtual string LaneTailCall(string shape, string residual, string start, string stop) => throw new System.NotSupportedException();

    public void EmitMethods(SourceWriter w)
    {
        EmitShape(w);
        EmitDispatcher(w);
        if (!TableKernel)
            foreach (var width in KernelWidths) Emit(w, width);
    }

    /// <summary>The struct whose literals the tiles of this convolution specialize on.</summary>
    protected string ShapeName => Name + "_Shape";

    private void EmitShape(SourceWriter w)
    {
        var op = Op;
        using (w.Open($"private readonly struct {ShapeName} : {ShapeInterface}"))
        {
            w.Line($"public static int Pixels => {op.Output.Pixels};");
            w.Line($"public static int InPerGroup => {op.InPerGroup};");
            w.Line($"public static int OutChannels => {op.OutChannels};");
            // Members left at the interface's defaults (no shuffle, no residual) are not written.
            if (op.ShuffleGroups > 1) w.Line($"public static int ShuffleGroups => {op.ShuffleGroups};");
            if (op.ShuffleGroups > 1 && op.OfficialShuffle) w.Line("public static bool OfficialShuffle => true;");
            if (op.Residual is not null) w.Line("public static bool Residual => true;");
            w.Line($"public static bool Relu => {Bool(op.Relu)};");
            TableKernels.EmitShapeMembers(w, op.InputPlanes, op.OutputPlanes, flags: true);
            EmitShapeExtras(w);
        }
        w.Line();
    }

    /// <summary>Shape members only this kind's tiles read.</summary>
    protected virtual void EmitShapeExtras(SourceWriter w)
    {
    }

    protected static string Bool(bool value) => value ? "true" : "false";

    /// <summary>
    /// One width's kernel: the groups and packed blocks, each block split into the register tiles that cover its
    /// channels and pixels. The tiles are generic methods shared by every convolution of the model; this kernel's
    /// shape struct makes each call a specialization with this convolution's literals.
    /// </summary>
    private void Emit(SourceWriter w, Width width)
    {
        string definition = VariantDefinitionName(width);
        string constraint = TableKernel ? " " + TileConstraint : "";
        if (!PixelHalves)
        {
            EmitWalk(w, width, definition + $"({Parameters}){constraint}", 0, Op.Output.Pixels);
            return;
        }
        // Items [0, blocks) are the blocks over the first half of the pixels, [blocks, 2 blocks) over the second.
        int blocks = Blocks;
        string first = HalfName(definition, 0), second = HalfName(definition, 1);
        string arguments = Arguments.Substring(0, Arguments.Length - WorkRange.Arguments.Length);
        // No summary: the name says what the variant is (its dispatcher's summary says what the convolution is).
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {definition}({Parameters}){constraint}"))
        {
            w.Line($"if ({WorkRange.Start} < {blocks}) {first}({arguments}new({WorkRange.Start}, Math.Min({WorkRange.Stop}, {blocks})));");
            w.Line($"if ({WorkRange.Stop} > {blocks}) {second}({arguments}new(Math.Max({WorkRange.Start}, {blocks}) - {blocks}, {WorkRange.Stop} - {blocks}));");
        }
        w.Line();
        EmitWalk(w, width, first + $"({Parameters}){constraint}", 0, PixelSplit);
        EmitWalk(w, width, second + $"({Parameters}){constraint}", PixelSplit, Op.Output.Pixels);
    }

    /// <summary><paramref name="definition"/> (a method name, generic or not) for the walk over one half of the pixels.</summary>
    private static string HalfName(string definition, int half) =>
        KernelSyntax.WithNameSuffix(definition, half == 0 ? "_FirstPixels" : "_LastPixels");

    /// <summary>The walk of packed blocks [start, stop) over pixels [<paramref name="from"/>, <paramref name="to"/>).</summary>
    private void EmitWalk(SourceWriter w, Width width, string signature, int from, int to)
    {
        int pixels = Op.Output.Pixels;

        // No summary: the name says what the variant is (its dispatcher's summary says what the convolution is).
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {signature}"))
        {
            if (TilesTakeSlots && !PacksSlots) w.Line("ref float noSlots = ref Unsafe.NullRef<float>();");
            int chunk = PixelChunkOf(width);
            // Chunks start at from, which is a multiple of every chunk (PixelHalves).
            int chunked = chunk == 0 ? from : from + (to - from) / chunk * chunk;
            int parts = InputPartsOf(width);
            bool packs = chunked > from && PacksChunks(width);
            bool laneTail = to == pixels && LaneTail(width) > 0;
            // Packed walks stream the weights from L3 once per chunk (over 1 MB for conv5); the lane tail then runs in
            // the last chunk after each run of blocks, whose weights are still in L1 and L2, instead of streaming them
            // once more after the walk.
            bool tailInChunks = packs && laneTail;
            if (packs)
            {
                w.Line($"Span<float> chunkInput = stackalloc float[{InputSlotsPerGroup * chunk}];");
                w.Line("ref float packed = ref MemoryMarshal.GetReference(chunkInput);");
            }
            if (chunked > from)
            {
                // Every channel of a chunk of pixels before the next chunk: the chunk's input stays in L1 while each
                // block's tiles read it, instead of every block streaming the whole input from L2.
                using (Loop.Open(w, "p0", from, chunked, chunk))
                {
                    string shape = WalkShape;
                    if (packs) w.Line($"{PackChunkMethod}<{shape}>(ref source, ref packed, p0, {chunk});");
                    if (tailInChunks)
                    {
                        using (w.Open($"for (int b0 = {WorkRange.Start}; b0 < {WorkRange.Stop}; b0 += {LaneTailRun})"))
                        {
                            w.Line($"int b1 = Math.Min(b0 + {LaneTailRun}, {WorkRange.Stop});");
                            EmitBlocks(w, blockRows => ChunkCalls(width, blockRows, chunk), $"{PackedShape(chunk)}<{shape}>", "packed", "b0", "b1");
                            w.Line($"if (p0 == {chunked - chunk}) {LaneTailStatement("b0", "b1")}");
                        }
                    }
                    else if (packs) EmitBlocks(w, blockRows => ChunkCalls(width, blockRows, chunk), $"{PackedShape(chunk)}<{shape}>", "packed");
                    else if (parts > 1) EmitInputParts(w, width, parts, "p0");
                    else EmitBlocks(w, blockRows => ChunkCalls(width, blockRows, chunk));
                }
            }
            if (chunked < to)
                EmitBlocks(w, blockRows => TileCalls(width, blockRows, chunked, to));
            if (laneTail && !tailInChunks) w.Line(LaneTailStatement(WorkRange.Start, WorkRange.Stop));
        }
        w.Line();
    }

    /// <summary>The shape a walk's calls specialize on: its type parameter in a table kernel's shared walk, else its own.</summary>
    private string WalkShape => TableKernel ? ShapeParameter : ShapeName;

    /// <summary>Blocks a packed walk's last chunk runs before their lane tail: one lane tail pass of one pixel.</summary>
    private const int LaneTailRun = 8;

    /// <summary>The lane tail of blocks [<paramref name="start"/>, <paramref name="stop"/>).</summary>
    private string LaneTailStatement(string start, string stop)
    {
        // Lane tails need whole blocks (LaneTail): where a group ends in a tail block, the walk keeps its tail tiles.
        int fullBlocks = Op.OutPerGroup / BlockRows;
        string wholeStop = TailRows > 0 ? $"Math.Min({stop}, {fullBlocks})" : stop;
        string residual = Op.Residual is null ? "ref Unsafe.NullRef<float>()" : "ref residual";
        return LaneTailCall(WalkShape, residual, start, wholeStop) + ";";
    }

    /// <summary>
    /// Parts the input channels of a group are summed in on <paramref name="width"/>, each part for every block before
    /// the next part (1: all at once). A part's full tiles resume from the sums the part before stored; see <see cref="InputPartsOf"/>.
    /// </summary>
    protected virtual int InputParts(Width width) => 1;

    /// <summary>
    /// <see cref="InputParts"/> within chunks of pixels (<see cref="PixelChunk"/>), whose tiles are full ones (they alone
    /// resume), where no residual is read (a convolution may write over its residual), else 1.
    /// </summary>
    protected int InputPartsOf(Width width)
    {
        int parts = InputParts(width);
        if (parts < 2 || Op.Residual is not null || TailRows > 0 || PacksSlots || PixelChunkOf(width) == 0 || PacksChunks(width)) return 1;
        return PixelChunkOf(width) % FullTile(width).Pixels == 0 ? parts : 1;
    }

    /// <summary>The input channels of each part but the last, which takes the rest.</summary>
    protected int InputPartChannels(Width width) => (InputSlotsPerGroup + InputPartsOf(width) - 1) / InputPartsOf(width);

    private Tile FullTile(Width width) => TileOf(width, width.Rows, TileVectors(width, width.Rows));

    /// <summary>The shape a part's tiles specialize on: the convolution's, its inputs narrowed to the part.</summary>
    protected virtual string InputPartShape(string shape, int part) => throw new System.NotSupportedException();

    private string InputPartMethod(Width width) => $"{GeometryName}_{width.Suffix}_Inputs";

    /// <summary>The parts of the input channels in order, each over every block's full tiles from pixel <paramref name="p0"/>.</summary>
    private void EmitInputParts(SourceWriter w, Width width, int parts, string p0)
    {
        string shape = WalkShape;
        for (int part = 0; part < parts; part++)
            w.Line($"{InputPartMethod(width)}<{InputPartShape(shape, part)}>({Arguments}, {p0});");
    }

    /// <summary>One part of the input channels for every block of [start, stop), its tiles over the pixel chunk from <c>p0</c>.</summary>
    private void EmitInputPartMethod(SourceWriter w, Width width)
    {
        int chunk = PixelChunkOf(width);
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {InputPartMethod(width)}<{ShapeParameter}>({Parameters}, int p0) {TileConstraint}"))
            EmitBlocks(w, blockRows => ChunkCalls(width, blockRows, chunk), ShapeParameter);
        w.Line();
    }

    /// <summary>
    /// Packed blocks [start, stop), group by group (a team's thread runs a contiguous range of them), each block's tiles
    /// from <paramref name="calls"/>.
    /// </summary>
    private void EmitBlocks(SourceWriter w, System.Func<int, IEnumerable<TileCall>> calls, string? shape = null, string? input = null,
        string start = WorkRange.Start, string stop = WorkRange.Stop)
    {
        var op = Op;
        if (System.Linq.Enumerable.All(BlockSizes, rows => !System.Linq.Enumerable.Any(calls(rows)))) return;
        using (w.Open($"for (int {WorkRange.Item} = {start}; {WorkRange.Item} < {stop}; {WorkRange.Item}++)"))
        {
            int blocks = BlocksPerGroup;
            w.Line(op.Groups == 1 ? "const int k = 0;" : $"int k = {WorkRange.Item} / {blocks};");
            w.Line(op.Groups == 1 ? $"int j = {WorkRange.Item} * {BlockRows};" : $"int j = {WorkRange.Item} % {blocks} * {BlockRows};");
            w.Line(input is null ? $"ref float groupInput = ref Unsafe.Add(ref source, k * {InputSlotsPerGroup * op.Output.Pixels});" : $"ref float groupInput = ref {input};");
            int fullBlocks = op.OutPerGroup / BlockRows;
            EmitBlockStart(w, "j");
            if (fullBlocks > 0 && TailRows > 0)
            {
                using (w.Open($"if (j < {fullBlocks * BlockRows})"))
                    EmitTiles(w, BlockRows, "j", calls(BlockRows), shape);
                using (w.Open("else"))
                    EmitTiles(w, TailRows, "j", calls(TailRows), shape);
            }
            else
            {
                int rows = fullBlocks > 0 ? BlockRows : TailRows;
                EmitTiles(w, rows, "j", calls(rows), shape);
            }
        }
    }

    /// <summary><c>block</c>: the packed weights of the block starting at channel <paramref name="j"/> of group <c>k</c>.</summary>
    private void EmitBlockStart(SourceWriter w, string j) =>
        w.Line($"ref float block = ref Unsafe.Add(ref weights, ({Loop.Sum($"k * {Op.OutPerGroup}", j)}) * {Op.ChannelStride});");

    /// <summary>The tiles of one packed block of <paramref name="blockRows"/> channels starting at channel <paramref name="j"/> of group <c>k</c>.</summary>
    private void EmitTiles(SourceWriter w, int blockRows, string j, IEnumerable<TileCall> calls, string? shape)
    {
        var op = Op;
        shape ??= WalkShape;
        string residual = op.Residual is null ? "ref Unsafe.NullRef<float>()" : "ref residual";
        foreach (var call in calls)
        {
            string constants = call.Row == 0 ? "ref block" : $"ref Unsafe.Add(ref block, {call.Row})";
            string channel = Loop.Sum($"k * {op.OutPerGroup}", j, call.Row.ToString());
            w.Line($"{TileName(call.Tile)}<{shape}>(ref groupInput, ref destination, {residual}, {constants}, {blockRows}, {channel}, {call.Start}, {call.Last}{(call.Tile.Slots ? (PacksSlots ? SlotArguments : NoSlotArguments) : "")});");
        }
    }

    /// <summary>
    /// A register tile: <see cref="Rows"/> channels × <see cref="Vectors"/> vectors of pixels on one vector type
    /// (<see cref="Width"/> null: one pixel at a time, for planes narrower than a vector).
    /// </summary>
    protected sealed record Tile(Width? Width, int Rows, int Vectors, bool Neon, bool Slots = false)
    {
        public int Pixels => Width is null ? 1 : Vectors * Width.Lanes;
    }

    protected string TileName(Tile tile) => $"{KindPrefix}Tile_{tile.Rows}x{tile.Pixels}_{(tile.Width is null ? "Scalar" : tile.Width.Suffix)}";

    /// <summary>A tile run over pixels <see cref="Start"/>, <see cref="Start"/> + its pixels, …, <see cref="Last"/>, for the block's channels from <see cref="Row"/>.</summary>
    private sealed record TileCall(Tile Tile, int Row, string Start, string Last);

    /// <summary>
    /// Pixels per chunk when this kind walks <paramref name="width"/>'s pixels in chunks (0: it does not). A chunk is
    /// worth it where a group's input outgrows L1: each block's tiles then read it from L2 again.
    /// </summary>
    protected virtual int PixelChunk(Width width) => 0;

    /// <summary>
    /// Whether this kind's chunked walk on <paramref name="width"/> first copies each chunk's input channel after
    /// channel into a buffer on the stack (one group only), so that its tiles read one contiguous run.
    /// </summary>
    protected virtual bool PacksChunks(Width width) => false;

    private const string PackChunkMethod = PointwiseKernel.Prefix + "PackChunk_V256";

    /// <summary>A shape whose tiles read the packed chunk of <paramref name="chunk"/> pixels (<see cref="PacksChunks"/>).</summary>
    private static string PackedShape(int chunk) => $"{PointwiseKernel.Prefix}Packed{chunk}";

    private IEnumerable<SharedDefinition> PackingDefinitions()
    {
        foreach (var width in KernelWidths)
        {
            int chunk = PixelChunkOf(width);
            if (chunk == 0 || !PacksChunks(width)) continue;
            yield return new SharedDefinition(PackChunkMethod, EmitPackChunk);
            yield return new SharedDefinition(PackedShape(chunk), w => EmitPackedShape(w, chunk));
        }
    }

    private static void EmitPackChunk(SourceWriter w)
    {
        w.Line("/// <summary>Pixels [p0, p0 + chunk) of each input channel, channel after channel: a tile's reads become one contiguous run.</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {PackChunkMethod}<TShape>(ref float source, ref float packed, int p0, int chunk) {PointwiseTileConstraint}"))
        {
            using (w.Open("for (int ci = 0; ci < TShape.InPerGroup; ci++)"))
            {
                w.Line("ref float x = ref Unsafe.Add(ref source, (TShape.InputTable ? TShape.InputPlane(ci) : ci) * TShape.Pixels + p0);");
                w.Line("for (int v = 0; v < chunk; v += 8) Vector256.LoadUnsafe(ref x, (nuint)v).StoreUnsafe(ref packed, (nuint)(ci * chunk + v));");
            }
        }
        w.Line();
    }

    private static void EmitPackedShape(SourceWriter w, int chunk)
    {
        w.Line($"/// <summary>A convolution's shape whose tiles read its input from a chunk of {chunk} pixels packed by {PackChunkMethod}.</summary>");
        using (w.Open($"private readonly struct {PackedShape(chunk)}<TShape> : {PointwiseShapeInterface} {PointwiseTileConstraint}"))
        {
            EmitForwardedShapeMembers(w, "Pixels", "InPerGroup", "OutChannels", "ShuffleGroups", "OfficialShuffle", "Residual", "Relu", "OutputTable", "OutputPlane");
            w.Line($"public static int PackedStep => {chunk};");
            w.Line($"{KernelSyntax.Inlined} public static int InputPixel(int p) => p % {chunk};");
        }
        w.Line();
    }

    private static readonly Dictionary<string, string> s_shapeMemberTypes = new()
    {
        ["Pixels"] = "int", ["InPerGroup"] = "int", ["OutChannels"] = "int", ["ShuffleGroups"] = "int", ["OfficialShuffle"] = "bool",
        ["Residual"] = "bool", ["Relu"] = "bool", ["InputTable"] = "bool", ["InputPlane"] = "int(int channel)",
        ["OutputTable"] = "bool", ["OutputPlane"] = "int(int channel)",
    };

    /// <summary>
    /// Members of a shape that wraps <c>TShape</c> and answers as it does. Each is marked for inlining: past 16 bytes of
    /// IL the JIT inlines by its budget, which a tile's many calls of these ran out of (conv5 three times slower).
    /// </summary>
    protected static void EmitForwardedShapeMembers(SourceWriter w, params string[] names)
    {
        foreach (string name in names)
        {
            string type = s_shapeMemberTypes[name];
            int call = type.IndexOf('(');
            w.Line(call < 0
                ? $"public static {type} {name} {{ {KernelSyntax.Inlined} get => TShape.{name}; }}"
                : $"{KernelSyntax.Inlined} public static {type.Substring(0, call)} {name}{type.Substring(call)} => TShape.{name}(channel);");
        }
    }

    private const string PointwiseTileConstraint = "where TShape : struct, " + PointwiseShapeInterface;

    /// <summary><see cref="PixelChunk"/> where every block's full tiles divide it and there are two chunks or more, else 0.</summary>
    private int PixelChunkOf(Width width)
    {
        int chunk = PixelChunk(width);
        if (chunk == 0 || Op.Output.Pixels < 2 * chunk) return 0;
        foreach (int blockRows in BlockSizes)
            foreach (var call in ChunkCalls(width, blockRows, chunk))
                if (chunk % call.Tile.Pixels != 0) return 0;
        return chunk;
    }

    /// <summary>The full tiles of a block over the chunk of <paramref name="chunk"/> pixels from <c>p0</c>.</summary>
    private IEnumerable<TileCall> ChunkCalls(Width width, int blockRows, int chunk)
    {
        for (int r0 = 0; r0 < blockRows; r0 += width.Rows)
        {
            int rows = System.Math.Min(width.Rows, blockRows - r0);
            var tile = TileOf(width, rows, TileVectors(width, rows));
            yield return new TileCall(tile, r0, "p0", chunk == tile.Pixels ? "p0" : $"p0 + {chunk - tile.Pixels}");
        }
    }

    /// <summary>
    /// The tiles that cover a packed block of <paramref name="blockRows"/> channels: per sub-block of the width's
    /// register rows, full tiles, then fewer vectors for what is left, then one vector recomputed over the end
    /// (overlapping lanes get the same values, so no scalar tail), or single pixels where a plane is narrower than a vector.
    /// </summary>
    private IEnumerable<TileCall> TileCalls(Width width, int blockRows, int from = 0, int to = -1)
    {
        // A walk that ends before the plane's end (the first of PixelHalves) ends on a multiple of every vector: no tail.
        int pixels = to < 0 ? Op.Output.Pixels : to;
        // Sub-blocks of equal rows end their full tiles at the same pixel, so their tails can be one tile.
        bool wholeBlockTail = WholeBlockTail(width) && blockRows > width.Rows && blockRows % width.Rows == 0 && pixels >= width.Lanes;
        TileCall? blockTail = null;
        for (int r0 = 0; r0 < blockRows; r0 += width.Rows)
        {
            int rows = System.Math.Min(width.Rows, blockRows - r0);
            int lanes = width.Lanes;
            int tileVectors = TileVectors(width, rows);
            int tile = tileVectors * lanes;
            int done = from;
            if (pixels - from >= tile)
            {
                yield return new TileCall(TileOf(width, rows, tileVectors), r0, from.ToString(), (from + ((pixels - from) / tile - 1) * tile).ToString());
                done = from + (pixels - from) / tile * tile;
            }
            int rest = (pixels - done) / lanes;
            if (rest > 0)
            {
                yield return new TileCall(TileOf(width, rows, rest), r0, done.ToString(), done.ToString());
                done += rest * lanes;
            }
            if (done < pixels && !(blockRows == BlockRows && LaneTail(width) > 0))
            {
                if (pixels >= lanes)
                {
                    // The narrowest vector that covers the remainder does it (7x7 planes: 49 = 3·16 + 1, where a
                    // Vector512 tail would compute 16 pixels for one; a Vector128 tail computes 4).
                    var tailWidth = NarrowestCovering(pixels - done, width);
                    string at = (pixels - tailWidth.Lanes).ToString();
                    if (wholeBlockTail)
                        blockTail = new TileCall(TileOf(tailWidth, blockRows, 1), 0, at, at);
                    else
                        yield return new TileCall(TileOf(tailWidth, rows, 1), r0, at, at);
                }
                else
                {
                    yield return new TileCall(new Tile(null, rows, 1, Neon: false, TilesTakeSlots), r0, done.ToString(), (pixels - 1).ToString());
                }
            }
        }
        if (blockTail is not null) yield return blockTail;
    }

    /// <summary>ARM64 gets its own body for tiles where four channels' weights fill one Vector128 (by-element FMLA or SDOT).</summary>
    /// <remarks>A tile's body does not depend on the walk's accumulator budget, so <see cref="V256Vnni"/>'s walk calls V256 tiles.</remarks>
    private Tile TileOf(Width width, int rows, int vectors) => new(width == V256Vnni ? V256 : width, rows, vectors, Neon: Neon && width == V128 && rows == V128.Rows, TilesTakeSlots);

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> walk every block with the same tile calls (a variant for both would be a copy).</summary>
    protected bool SameWalk(Width a, Width b)
    {
        foreach (int blockRows in BlockSizes)
        {
            if (!System.Linq.Enumerable.SequenceEqual(TileCalls(a, blockRows), TileCalls(b, blockRows))) return false;
            int chunkA = PixelChunkOf(a), chunkB = PixelChunkOf(b);
            if (chunkA != chunkB || InputPartsOf(a) != InputPartsOf(b)) return false;
        }
        return true;
    }

    /// <summary>The narrowest width, no wider than <paramref name="widest"/>, whose vector holds <paramref name="pixels"/> pixels.</summary>
    private static Width NarrowestCovering(int pixels, Width widest)
    {
        foreach (var candidate in new[] { V128, V256, V512 })
            if (candidate.Lanes >= pixels && candidate.Lanes <= widest.Lanes) return candidate;
        return widest;
    }

    /// <summary>Channels of a group's last packed block when they do not fill <see cref="BlockRows"/> (0 when they do).</summary>
    private int TailRows => Op.OutPerGroup % BlockRows;

    /// <summary>The sizes of a group's packed blocks, as <see cref="Emit(SourceWriter, Width)"/> walks them.</summary>
    private IEnumerable<int> BlockSizes
    {
        get
        {
            if (Op.OutPerGroup >= BlockRows) yield return BlockRows;
            if (TailRows > 0) yield return TailRows;
        }
    }

    /// <summary>The definitions every kind's tiles need, then this kind's own, then each tile this convolution calls.</summary>
    public IReadOnlyList<SharedDefinition> SharedDefinitions
    {
        get
        {
            var shared = new List<SharedDefinition> { new(PointwiseShapeInterface, EmitShapeInterface), new(PlaneMethod, EmitPlaneMethod) };
            shared.AddRange(KindDefinitions);
            shared.AddRange(PackingDefinitions());
            var tiles = new HashSet<Tile>();
            foreach (var width in KernelWidths)
            {
                // The chunks' full tiles are those of an unchunked walk, whose tail tiles a chunked one's end repeats.
                foreach (int blockRows in BlockSizes)
                {
                    foreach (var call in TileCalls(width, blockRows)) tiles.Add(call.Tile);
                    if (!PixelHalves) continue;
                    // Each half's walk ends its full tiles at its own end, which may leave fewer vectors than a tile.
                    foreach (var call in TileCalls(width, blockRows, 0, PixelSplit)) tiles.Add(call.Tile);
                    foreach (var call in TileCalls(width, blockRows, PixelSplit)) tiles.Add(call.Tile);
                }
            }
            foreach (var tile in tiles) shared.Add(new SharedDefinition(TileName(tile), w => EmitTileDefinition(w, tile)));
            foreach (var width in KernelWidths)
            {
                var parted = width;
                // Generic over the part's shape, and shared by every convolution of the geometry, tables or not.
                if (InputPartsOf(parted) > 1) shared.Add(new SharedDefinition(InputPartMethod(parted), w => EmitInputPartMethod(w, parted)));
            }
            if (TableKernel)
            {
                foreach (var width in KernelWidths)
                {
                    var variant = width;
                    shared.Add(new SharedDefinition(VariantDefinitionName(variant), w => Emit(w, variant)));
                }
            }
            return shared;
        }
    }

    /// <summary>The check under which the ARM64 four-channel tiles run (<see cref="Tile.Neon"/>), and what their bodies are named with.</summary>
    protected abstract (string Check, string Suffix) Arm { get; }

    private const string TileArguments = "ref groupInput, ref destination, ref residual, ref bias, blockRows, channel, start, last";

    /// <summary>
    /// A tile, or for a four-channel Vector128 tile of a model with ARM64 paths, a dispatcher choosing between its two
    /// bodies: the ARM64 one (one load of the four channels' weights, multiplied by lane) and the broadcast one.
    /// </summary>
    private void EmitTileDefinition(SourceWriter w, Tile tile)
    {
        string name = TileName(tile);
        if (!tile.Neon)
        {
            EmitTile(w, tile, name, arm: false);
            return;
        }
        var variants = new[]
        {
            new KernelVariant(Arm.Check, $"{name}_{Arm.Suffix}<TShape>", Arm.Suffix),
            new KernelVariant(null, $"{name}_Broadcast<TShape>", "broadcast"),
        };
        KernelSyntax.EmitDispatcher(w, $"{tile.Rows} × {tile.Pixels} Vector128 tile: its {Arm.Suffix} body on ARM64, else its broadcast body.",
            $"{name}<TShape>({TileParametersOf(tile)}) {TileConstraint}", TileArguments + (tile.Slots ? SlotArguments : ""), variants);
        EmitTile(w, tile, $"{name}_{Arm.Suffix}", arm: true);
        EmitTile(w, tile, $"{name}_Broadcast", arm: false);
    }

    /// <summary>Definitions of this kind beyond the common shape interface and plane method (such as its own shape interface).</summary>
    protected virtual IEnumerable<SharedDefinition> KindDefinitions => System.Array.Empty<SharedDefinition>();

    /// <summary>Writes one register tile method named <paramref name="name"/>: with <paramref name="arm"/>, its ARM64 body.</summary>
    protected abstract void EmitTile(SourceWriter w, Tile tile, string name, bool arm);

    /// <summary>The interface every pointwise shape implements: what the plane mapping and the epilogue read.</summary>
    protected const string PointwiseShapeInterface = PointwiseKernel.Prefix + "Shape";

    /// <summary>The tiles' type parameter; the name checks reserve it.</summary>
    public const string ShapeParameter = "TShape";

    protected const string PlaneMethod = PointwiseKernel.Prefix + "Plane";

    protected const string TileParameters = "ref float groupInput, ref float destination, ref float residual, ref float bias, int blockRows, int channel, int start, int last";

    protected string TileConstraint => "where TShape : struct, " + ShapeInterface;

    /// <summary>A tile's parameters: with <see cref="TilesTakeSlots"/>, the slot tensor and the quantize parameters too.</summary>
    protected static string TileParametersOf(Tile tile) => TileParameters + (tile.Slots ? SlotParameters : "");

    private static void EmitShapeInterface(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line("/// What a 1x1 convolution's tiles specialize on. Each convolution answers with literals in a struct of its own, and");
        w.Line("/// the JIT and NativeAOT compile a generic method once per struct argument, so every bound and branch below is a");
        w.Line("/// constant in the machine code while the source of a tile is written once. A tile <c>Pointwise_Tile_RxP_W</c>");
        w.Line("/// computes R output channels (from logical channel <c>channel</c>, whose bias and then weights, <c>blockRows</c> apart,");
        w.Line("/// start at <c>bias</c>) × P pixels on vector type W, at pixel <c>start</c>, then every P pixels up to <c>last</c>.");
        w.Line("/// </summary>");
        using (w.Open($"private interface {PointwiseShapeInterface}"))
        {
            w.Line("static abstract int Pixels { get; }");
            w.Line("static abstract int InPerGroup { get; }");
            w.Line("static abstract int OutChannels { get; }");
            w.Line("static virtual int ShuffleGroups => 1;");
            w.Line("static virtual bool OfficialShuffle => false;");
            w.Line("static virtual bool Residual => false;");
            w.Line("static abstract bool Relu { get; }");
            w.Line("// Plane tables (ShuffleNet v2's halves): which plane holds each input or output channel, where that is no slice.");
            w.Line("static virtual bool InputTable => false;");
            w.Line("static virtual int InputPlane(int channel) => channel;");
            w.Line("static virtual bool OutputTable => false;");
            w.Line("static virtual int OutputPlane(int channel) => channel;");
            w.Line("// Inputs summed in parts: tiles sum [InputsFrom, InPerGroup) onto the stored sums.");
            w.Line("static virtual int InputsFrom => 0;");
            w.Line("static virtual int InputChunk => 0;");
            w.Line("// A chunk of pixels copied channel after channel (PackChunk): the step between its channels, where pixel p is.");
            w.Line("static virtual int PackedStep => 0;");
            w.Line("static virtual int InputPixel(int p) => p;");
        }
        w.Line();
    }

    private static void EmitPlaneMethod(SourceWriter w)
    {
        w.Line("/// <summary>The output plane that holds logical channel <paramref name=\"channel\"/>: the channel itself, where the shape's channel shuffle sends it, or where its plane table says.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static int {PlaneMethod}<TShape>(int channel) where TShape : struct, {PointwiseShapeInterface}"))
        {
            w.Line("if (TShape.OutputTable) return TShape.OutputPlane(channel);");
            w.Line("if (TShape.ShuffleGroups == 1) return channel;");
            w.Line("int perGroup = TShape.OutChannels / TShape.ShuffleGroups;");
            w.Line("// Shuffle on g·n channels: logical channel i·n + j lands in plane j·g + i; the official (megvii) shuffle, its");
            w.Line("// inverse, sends i·g + j to j·n + i. Integer division by a constant, once per tile call, outside the pixel loop.");
            w.Line("return TShape.OfficialShuffle");
            w.Line("    ? channel % TShape.ShuffleGroups * perGroup + channel / TShape.ShuffleGroups");
            w.Line("    : channel % perGroup * TShape.ShuffleGroups + channel / perGroup;");
        }
        w.Line();
    }

    /// <summary>The output rows of a tile: where each of its channels is stored, and the residual rows.</summary>
    protected static void EmitOutputRows(SourceWriter w, Tile tile)
    {
        for (int i = 0; i < tile.Rows; i++)
            w.Line($"ref float out{i} = ref Unsafe.Add(ref destination, {PlaneMethod}<TShape>({Loop.Sum("channel", i.ToString())}) * TShape.Pixels);");
        w.Line("ref float res = ref TShape.Residual ? ref Unsafe.Add(ref residual, channel * TShape.Pixels) : ref residual;");
    }

    /// <summary>Residual, then ReLU, then the store, per accumulator; the shape's flags are constants, so untaken steps vanish.</summary>
    /// <summary>A lane store's residual, added to one pixel of a block's eight channels, then ReLU: the float and int8 lane stores' first steps.</summary>
    protected static void EmitLaneResidualAndRelu(SourceWriter w)
    {
        // The residual's eight lanes written out: a loop over the lanes left WithElement a variable index, which the JIT
        // compiles as a store of the vector, a store of the lane and a reload that cannot be forwarded, per lane (the
        // 196-pixel residual convolutions of int8 1x g=3 224 ran 20 % slower than with tail tiles so).
        w.Line("ref float res = ref TShape.Residual ? ref Unsafe.Add(ref residual, channel * TShape.Pixels + pixel) : ref residual;");
        var lanes = new List<string>();
        for (int r = 0; r < BlockRows; r++) lanes.Add(r == 0 ? "res" : $"Unsafe.Add(ref res, {r} * TShape.Pixels)");
        w.Line($"if (TShape.Residual) acc += Vector256.Create({string.Join(", ", lanes)});");
        w.Line("if (TShape.Relu) acc = Simd.Relu(acc);");
    }

    protected static void EmitEpilogue(SourceWriter w, Tile tile, System.Func<int, int, string> accumulator)
    {
        bool scalar = tile.Width is null;
        string V = tile.Width?.Vector ?? "float";
        int lanes = tile.Width?.Lanes ?? 1;
        var accumulators = new List<(string Acc, int Row, string Offset)>();
        for (int i = 0; i < tile.Rows; i++)
            for (int v = 0; v < tile.Vectors; v++)
                accumulators.Add((accumulator(i, v), i, v == 0 ? "p" : $"p + {v * lanes}"));

        using (w.Open("if (TShape.Residual)"))
        {
            foreach (var (acc, row, offset) in accumulators)
            {
                string at = row switch { 0 => offset, 1 => $"TShape.Pixels + {offset}", _ => $"{row} * TShape.Pixels + {offset}" };
                w.Line(scalar ? $"{acc} += Unsafe.Add(ref res, {at});" : $"{acc} += {V}.LoadUnsafe(ref res, (nuint)({at}));");
            }
        }
        using (w.Open("if (TShape.Relu)"))
        {
            foreach (var (acc, _, _) in accumulators)
                w.Line(scalar ? $"{acc} = MathF.Max({acc}, 0f);" : $"{acc} = Simd.Relu({acc});");
        }
        foreach (var (acc, row, offset) in accumulators)
            w.Line(scalar ? $"Unsafe.Add(ref out{row}, {offset}) = {acc};" : $"{acc}.StoreUnsafe(ref out{row}, (nuint)({offset}));");
    }
}
