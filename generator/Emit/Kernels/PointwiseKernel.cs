using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// Emits a 1x1 group convolution over NCHW planes as a register-blocked GEMM, once per vector width: output channels
/// × vectors of pixels are accumulated at once, so each input vector loaded is reused for several output channels and
/// each broadcast weight for several pixel vectors. The epilogue adds the residual, applies ReLU and stores each
/// output channel into its plane; with a folded channel shuffle that plane is the shuffled position, so the shuffle
/// costs nothing.
/// </summary>
/// <remarks>
/// Variants: <c>_V512</c> (AVX-512's 32 registers: 8 channels × 3 vectors of 16 pixels), <c>_V256</c> (4 × 2 × 8) and
/// the portable <c>_V128</c> (4 × 2 × 4; on ARM64 with <c>AdvSimd</c>, one vector of four channels' weights and FMA by
/// lane). A dispatcher named by the convolution alone picks one with <c>Vector512/256.IsHardwareAccelerated</c>, which
/// the JIT and NativeAOT fold to constants. All read one packed layout (blocks of <see cref="BlockRows"/> channels); narrower variants walk a
/// block in sub-blocks.
/// <para>
/// A variant is only the walk over groups and blocks; the work is in register tiles (<c>Pointwise_Tile_8x48_V512</c>,
/// …), generic methods shared by every convolution of the model and specialized through this convolution's shape
/// struct. Unrolled into each variant, the tiles were two thirds of the generated file for the paper's model.
/// </para>
/// </remarks>
internal sealed class PointwiseKernel : IKernelEmitter
{
    private readonly PointwiseOp _op;
    private readonly IReadOnlyList<Width> _widths;
    private readonly bool _neon;

    public PointwiseKernel(PointwiseOp op, VectorWidths widths)
    {
        _op = op;
        _widths = Widths(op, widths);
        _neon = (widths & VectorWidths.AdvSimd) != 0;
    }

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

    /// <summary>Widths worth emitting for this op, widest first; the last is always the portable one.</summary>
    private static IReadOnlyList<Width> Widths(PointwiseOp op, VectorWidths widths)
    {
        var list = new List<Width>();
        if (op.Output.Pixels >= V512.Lanes && (widths & VectorWidths.Vector512) != 0) list.Add(V512);
        if (op.Output.Pixels >= V256.Lanes && (widths & VectorWidths.Vector256) != 0) list.Add(V256);
        list.Add(V128);
        return list;
    }

    public const string Prefix = "Pointwise_";

    private static string BaseName(PointwiseOp op)
    {
        string name = $"{Prefix}g{op.Groups}_{op.InChannels}to{op.OutChannels}_{op.Output.Pixels}px";
        if (op.ShuffleGroups > 1) name += op.OfficialShuffle ? $"_OfficialShuffle{op.ShuffleGroups}" : $"_Shuffle{op.ShuffleGroups}";
        if (op.Residual is not null) name += "_Residual";
        if (op.Relu) name += "_Relu";
        return name;
    }

    private static string KernelName(PointwiseOp op, Width width) =>
        BaseName(op) + $"_{width.Rows}x{TileVectors(width, width.Rows) * width.Lanes}_{width.Suffix}";

    /// <summary>The dispatcher: the method call sites call, which picks a variant.</summary>
    public string Name => BaseName(_op);

    public string? PackStatement =>
        $"{KernelEmitters.Packer}.Pointwise(tensors, \"{_op.Name}\", \"{_op.BatchNorm}\", {_op.InChannels}, {_op.OutChannels}, {_op.Groups}, {BlockRows}, {KernelEmitters.PackedSpan(_op)});";

    public string CallStatement()
    {
        var op = _op;
        return $"{Name}({OperandRefs.Of(op.Input)}, {OperandRefs.Of(op.Output, op.OutputChannelOffset)}, {OperandRefs.Weights(op)}{(op.Residual is null ? "" : ", " + OperandRefs.Of(op.Residual))});";
    }

    private string Parameters => "ref float source, ref float destination, ref float weights" + (_op.Residual is null ? "" : ", ref float residual");

    private string Arguments => "ref source, ref destination, ref weights" + (_op.Residual is null ? "" : ", ref residual");

    /// <summary>
    /// Calls the widest variant the hardware accelerates. The checks are constants to the JIT and NativeAOT, and the
    /// dispatcher is inlined into its callers, so each call site compiles to one direct call of one variant.
    /// </summary>
    private void EmitDispatcher(SourceWriter w)
    {
        var op = _op;
        bool shuffled = op.ShuffleGroups > 1;
        w.Line($"/// <summary>1x1 convolution, {op.Groups} group(s), {op.InChannels} to {op.OutChannels} channels over {op.Output.Pixels} pixels, batch norm folded"
            + (op.Residual is null ? "" : ", plus residual") + (op.Relu ? ", ReLU" : "")
            + (shuffled ? $"; output stored in {(op.OfficialShuffle ? "official (megvii) " : "")}channel-shuffled order ({op.ShuffleGroups} groups)" : "") + ".</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {Name}({Parameters})"))
        {
            for (int i = 0; i < _widths.Count; i++)
            {
                string call = $"{KernelName(op, _widths[i])}({Arguments});";
                w.Line(i == _widths.Count - 1 ? (i == 0 ? call : $"else {call}") : $"{(i == 0 ? "" : "else ")}if ({_widths[i].Condition}) {call}");
            }
        }
        w.Line();
    }

    /// <summary>The variant the call site picks, as a C# expression over the same conditions.</summary>
    public string PathExpression
    {
        get
        {
            var paths = new List<(string?, string)>();
            for (int i = 0; i < _widths.Count - 1; i++) paths.Add((_widths[i].Condition, KernelName(_op, _widths[i])));
            // Sub-blocks of four channels exist when a group has at least four output channels.
            if (_neon && _op.OutPerGroup >= V128.Rows) paths.Add((RuntimeChecks.AdvSimdArm64, KernelName(_op, V128) + ", AdvSimd fmla by element"));
            paths.Add((null, KernelName(_op, V128)));
            return KernelSyntax.ChoosePath(paths);
        }
    }

    /// <summary>Pixel vectors per tile for a sub-block of <paramref name="rows"/> channels: as many as the accumulators allow.</summary>
    private static int TileVectors(Width width, int rows) => System.Math.Max(1, System.Math.Min(6, width.Accumulators / rows));

    public void EmitMethods(SourceWriter w)
    {
        EmitShape(w);
        EmitDispatcher(w);
        foreach (var width in _widths) Emit(w, width);
    }

    /// <summary>The struct whose literals the tiles of this convolution specialize on.</summary>
    private string ShapeName => Name + "_Shape";

    private void EmitShape(SourceWriter w)
    {
        var op = _op;
        w.Line($"/// <summary>The literals <see cref=\"{Name}\"/> specializes its tiles on.</summary>");
        using (w.Open($"private readonly struct {ShapeName} : {ShapeInterface}"))
        {
            w.Line($"public static int Pixels => {op.Output.Pixels};");
            w.Line($"public static int InPerGroup => {op.InPerGroup};");
            w.Line($"public static int OutChannels => {op.OutChannels};");
            w.Line($"public static int ShuffleGroups => {System.Math.Max(1, op.ShuffleGroups)};");
            w.Line($"public static bool OfficialShuffle => {Bool(op.ShuffleGroups > 1 && op.OfficialShuffle)};");
            w.Line($"public static bool Residual => {Bool(op.Residual is not null)};");
            w.Line($"public static bool Relu => {Bool(op.Relu)};");
        }
        w.Line();
    }

    private static string Bool(bool value) => value ? "true" : "false";

    /// <summary>
    /// One width's kernel: the groups and packed blocks, each block split into the register tiles that cover its
    /// channels and pixels. The tiles are generic methods shared by every convolution of the model; this kernel's
    /// shape struct makes each call a specialization with this convolution's literals.
    /// </summary>
    private void Emit(SourceWriter w, Width width)
    {
        var op = _op;
        int pixels = op.Output.Pixels;
        int inPerGroup = op.InPerGroup;
        int outPerGroup = op.OutPerGroup;

        // No summary: the name says what the variant is (its dispatcher's summary says what the convolution is).
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {KernelName(op, width)}({Parameters})"))
        {
            using (Loop.Open(w, "k", 0, op.Groups))
            {
                w.Line($"ref float groupInput = ref Unsafe.Add(ref source, k * {inPerGroup * pixels});");
                int fullBlocks = outPerGroup / BlockRows;
                if (fullBlocks > 0)
                {
                    using (Loop.Open(w, "j", 0, fullBlocks * BlockRows, BlockRows))
                        EmitBlock(w, width, BlockRows, "j");
                }
                if (TailRows > 0)
                {
                    using (w.OpenScope())
                        EmitBlock(w, width, TailRows, (fullBlocks * BlockRows).ToString());
                }
            }
        }
        w.Line();
    }

    /// <summary>One packed block of <paramref name="blockRows"/> channels starting at channel <paramref name="j"/> of group <c>k</c>.</summary>
    private void EmitBlock(SourceWriter w, Width width, int blockRows, string j)
    {
        var op = _op;
        w.Line($"ref float block = ref Unsafe.Add(ref weights, ({Loop.Sum($"k * {op.OutPerGroup}", j)}) * {1 + op.InPerGroup});");
        string residual = op.Residual is null ? "ref Unsafe.NullRef<float>()" : "ref residual";
        foreach (var call in TileCalls(width, blockRows))
        {
            string bias = call.Row == 0 ? "ref block" : $"ref Unsafe.Add(ref block, {call.Row})";
            string channel = Loop.Sum($"k * {op.OutPerGroup}", j, call.Row.ToString());
            w.Line($"{call.Tile.Name}<{ShapeName}>(ref groupInput, ref destination, {residual}, {bias}, {blockRows}, {channel}, {call.Start}, {call.Last});");
        }
    }

    /// <summary>
    /// A register tile: <see cref="Rows"/> channels × <see cref="Vectors"/> vectors of pixels on one vector type
    /// (<see cref="Width"/> null: one pixel at a time, for planes narrower than a vector).
    /// </summary>
    private sealed record Tile(Width? Width, int Rows, int Vectors, bool Neon)
    {
        public int Pixels => Width is null ? 1 : Vectors * Width.Lanes;

        public string Name => $"{Prefix}Tile_{Rows}x{Pixels}_{(Width is null ? "Scalar" : Width.Suffix)}";
    }

    /// <summary>A tile run over pixels <see cref="Start"/>, <see cref="Start"/> + its pixels, …, <see cref="Last"/>, for the block's channels from <see cref="Row"/>.</summary>
    private sealed record TileCall(Tile Tile, int Row, int Start, int Last);

    /// <summary>
    /// The tiles that cover a packed block of <paramref name="blockRows"/> channels: per sub-block of the width's
    /// register rows, full tiles, then fewer vectors for what is left, then one vector recomputed over the end
    /// (overlapping lanes get the same values, so no scalar tail), or single pixels where a plane is narrower than a vector.
    /// </summary>
    private IEnumerable<TileCall> TileCalls(Width width, int blockRows)
    {
        int pixels = _op.Output.Pixels;
        for (int r0 = 0; r0 < blockRows; r0 += width.Rows)
        {
            int rows = System.Math.Min(width.Rows, blockRows - r0);
            int lanes = width.Lanes;
            int tileVectors = TileVectors(width, rows);
            int tile = tileVectors * lanes;
            int done = 0;
            if (pixels >= tile)
            {
                yield return new TileCall(TileOf(width, rows, tileVectors), r0, 0, (pixels / tile - 1) * tile);
                done = pixels / tile * tile;
            }
            int rest = (pixels - done) / lanes;
            if (rest > 0)
            {
                yield return new TileCall(TileOf(width, rows, rest), r0, done, done);
                done += rest * lanes;
            }
            if (done < pixels)
            {
                if (pixels >= lanes)
                {
                    // The narrowest vector that covers the remainder does it (7x7 planes: 49 = 3·16 + 1, where a
                    // Vector512 tail would compute 16 pixels for one; a Vector128 tail computes 4).
                    var tailWidth = NarrowestCovering(pixels - done, width);
                    yield return new TileCall(TileOf(tailWidth, rows, 1), r0, pixels - tailWidth.Lanes, pixels - tailWidth.Lanes);
                }
                else
                {
                    yield return new TileCall(new Tile(null, rows, 1, Neon: false), r0, done, pixels - 1);
                }
            }
        }
    }

    /// <summary>ARM64 gets its own inner loop where four channels' weights fill one Vector128 (see <see cref="EmitTile"/>).</summary>
    private Tile TileOf(Width width, int rows, int vectors) => new(width, rows, vectors, Neon: _neon && width == V128 && rows == V128.Rows);

    /// <summary>The narrowest width, no wider than <paramref name="widest"/>, whose vector holds <paramref name="pixels"/> pixels.</summary>
    private static Width NarrowestCovering(int pixels, Width widest)
    {
        foreach (var candidate in new[] { V128, V256, V512 })
            if (candidate.Lanes >= pixels && candidate.Lanes <= widest.Lanes) return candidate;
        return widest;
    }

    /// <summary>Channels of a group's last packed block when they do not fill <see cref="BlockRows"/> (0 when they do).</summary>
    private int TailRows => _op.OutPerGroup % BlockRows;

    /// <summary>The sizes of a group's packed blocks, as <see cref="Emit(SourceWriter, Width)"/> walks them.</summary>
    private IEnumerable<int> BlockSizes
    {
        get
        {
            if (_op.OutPerGroup >= BlockRows) yield return BlockRows;
            if (TailRows > 0) yield return TailRows;
        }
    }

    public IReadOnlyList<SharedDefinition> SharedDefinitions
    {
        get
        {
            var shared = new List<SharedDefinition> { new(ShapeInterface, EmitShapeInterface), new(PlaneMethod, EmitPlaneMethod) };
            var tiles = new HashSet<Tile>();
            foreach (var width in _widths)
            {
                foreach (int blockRows in BlockSizes)
                    foreach (var call in TileCalls(width, blockRows)) tiles.Add(call.Tile);
            }
            foreach (var tile in tiles) shared.Add(new SharedDefinition(tile.Name, w => EmitTile(w, tile)));
            return shared;
        }
    }

    private const string ShapeInterface = Prefix + "Shape";

    /// <summary>The tiles' type parameter; the name checks reserve it.</summary>
    public const string ShapeParameter = "TShape";

    private const string PlaneMethod = Prefix + "Plane";

    private const string TileParameters = "ref float groupInput, ref float destination, ref float residual, ref float bias, int blockRows, int channel, int start, int last";

    private const string TileConstraint = "where TShape : struct, " + ShapeInterface;

    private static void EmitShapeInterface(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line("/// What a 1x1 convolution's tiles specialize on. Each convolution answers with literals in a struct of its own, and");
        w.Line("/// the JIT and NativeAOT compile a generic method once per struct argument, so every bound and branch below is a");
        w.Line("/// constant in the machine code while the source of a tile is written once. A tile <c>Pointwise_Tile_RxP_W</c>");
        w.Line("/// computes R output channels (from logical channel <c>channel</c>, whose bias and then weights, <c>blockRows</c> apart,");
        w.Line("/// start at <c>bias</c>) × P pixels on vector type W, at pixel <c>start</c>, then every P pixels up to <c>last</c>.");
        w.Line("/// </summary>");
        using (w.Open($"private interface {ShapeInterface}"))
        {
            w.Line("static abstract int Pixels { get; }");
            w.Line("static abstract int InPerGroup { get; }");
            w.Line("static abstract int OutChannels { get; }");
            w.Line("static abstract int ShuffleGroups { get; }");
            w.Line("static abstract bool OfficialShuffle { get; }");
            w.Line("static abstract bool Residual { get; }");
            w.Line("static abstract bool Relu { get; }");
        }
        w.Line();
    }

    private static void EmitPlaneMethod(SourceWriter w)
    {
        w.Line("/// <summary>The output plane that holds logical channel <paramref name=\"channel\"/>: the channel itself, or where the shape's channel shuffle sends it.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static int {PlaneMethod}<TShape>(int channel) {TileConstraint}"))
        {
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

    /// <summary>
    /// A tile method: accumulators start at the channels' biases, take one pixel vector per input channel of the group
    /// for all rows at once, then get the shape's residual and ReLU and are stored into the channels' planes.
    /// </summary>
    private static void EmitTile(SourceWriter w, Tile tile)
    {
        bool scalar = tile.Width is null;
        string V = tile.Width?.Vector ?? "float";
        int lanes = tile.Width?.Lanes ?? 1;
        w.Line($"/// <summary>{tile.Rows} × {tile.Pixels} {(scalar ? "scalar" : V)} tile{(tile.Neon ? ", with an AdvSimd branch for ARM64" : "")}; see <see cref=\"{ShapeInterface}\"/>.</summary>");
        w.Line(KernelSyntax.Optimized);
        w.Line($"private static void {tile.Name}<TShape>({TileParameters})");
        w.Line($"    {TileConstraint}");
        using (w.OpenScope())
        {
            for (int i = 0; i < tile.Rows; i++)
                w.Line($"ref float out{i} = ref Unsafe.Add(ref destination, {PlaneMethod}<TShape>({Loop.Sum("channel", i.ToString())}) * TShape.Pixels);");
            w.Line("ref float res = ref TShape.Residual ? ref Unsafe.Add(ref residual, channel * TShape.Pixels) : ref residual;");
            using (w.Open($"for (int p = start; p <= last; p{(tile.Pixels == 1 ? "++" : $" += {tile.Pixels}")})"))
            {
                for (int i = 0; i < tile.Rows; i++)
                {
                    string b = i == 0 ? "bias" : $"Unsafe.Add(ref bias, {i})";
                    if (scalar) { w.Line($"float acc{i} = {b};"); continue; }
                    w.Line($"var bias{i} = {V}.Create({b});");
                    for (int v = 0; v < tile.Vectors; v++) w.Line($"var acc{i}x{v} = bias{i};");
                }
                w.Line("ref float x = ref Unsafe.Add(ref groupInput, p);");
                w.Line("ref float wk = ref Unsafe.Add(ref bias, blockRows);");
                using (w.Open("for (int ci = 0; ci < TShape.InPerGroup; ci++)"))
                {
                    if (scalar)
                    {
                        w.Line("float x0 = x;");
                        for (int i = 0; i < tile.Rows; i++) w.Line($"acc{i} += x0 * {(i == 0 ? "wk" : $"Unsafe.Add(ref wk, {i})")};");
                    }
                    else
                    {
                        for (int v = 0; v < tile.Vectors; v++)
                            w.Line(v == 0 ? $"var x0 = {V}.LoadUnsafe(ref x);" : $"var x{v} = {V}.LoadUnsafe(ref x, {v * lanes});");
                        if (tile.Neon)
                        {
                            // ARM64: one load brings the four channels' weights (they are adjacent in the packed block) and FMLA by
                            // element multiplies by a lane of it. Replaces four scalar loads + DUP broadcasts of the portable path.
                            using (w.Open($"if ({RuntimeChecks.AdvSimdArm64})"))
                            {
                                w.Line("var w4 = Vector128.LoadUnsafe(ref wk);");
                                for (int i = 0; i < tile.Rows; i++)
                                    for (int v = 0; v < tile.Vectors; v++)
                                        w.Line($"acc{i}x{v} = AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar(acc{i}x{v}, x{v}, w4, {i});");
                            }
                            using (w.Open("else"))
                                EmitBroadcastFmas(w, tile);
                        }
                        else
                        {
                            EmitBroadcastFmas(w, tile);
                        }
                    }
                    w.Line("x = ref Unsafe.Add(ref x, TShape.Pixels);");
                    w.Line("wk = ref Unsafe.Add(ref wk, blockRows);");
                }
                EmitEpilogue(w, tile);
            }
        }
        w.Line();
    }

    private static void EmitBroadcastFmas(SourceWriter w, Tile tile)
    {
        string V = tile.Width!.Vector;
        for (int i = 0; i < tile.Rows; i++)
        {
            w.Line($"var w{i} = {V}.Create({(i == 0 ? "wk" : $"Unsafe.Add(ref wk, {i})")});");
            for (int v = 0; v < tile.Vectors; v++) w.Line($"acc{i}x{v} = Simd.MulAdd(x{v}, w{i}, acc{i}x{v});");
        }
    }

    /// <summary>Residual, then ReLU, then the store, per accumulator; the shape's flags are constants, so untaken steps vanish.</summary>
    private static void EmitEpilogue(SourceWriter w, Tile tile)
    {
        bool scalar = tile.Width is null;
        string V = tile.Width?.Vector ?? "float";
        int lanes = tile.Width?.Lanes ?? 1;
        var accumulators = new List<(string Acc, int Row, string Offset)>();
        for (int i = 0; i < tile.Rows; i++)
            for (int v = 0; v < tile.Vectors; v++)
                accumulators.Add((scalar ? $"acc{i}" : $"acc{i}x{v}", i, v == 0 ? "p" : $"p + {v * lanes}"));

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
                w.Line(scalar ? $"{acc} = MathF.Max({acc}, 0f);" : $"{acc} = {V}.Max({acc}, {V}<float>.Zero);");
        }
        foreach (var (acc, row, offset) in accumulators)
            w.Line(scalar ? $"Unsafe.Add(ref out{row}, {offset}) = {acc};" : $"{acc}.StoreUnsafe(ref out{row}, (nuint)({offset}));");
    }
}
