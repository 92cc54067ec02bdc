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
/// Variants: <c>_V512</c> (AVX-512's 32 registers: 8 channels × 3 vectors of 16 pixels), <c>_V256</c> (4 × 3 × 8) and
/// the portable <c>_V128</c> (4 × 2 × 4; on ARM64 with <c>AdvSimd</c>, one vector of four channels' weights and FMA by
/// lane). A dispatcher named by the convolution alone picks one with <c>Vector512/256.IsHardwareAccelerated</c>, which
/// the JIT and NativeAOT fold to constants. All read one packed layout (blocks of <see cref="PointwiseKernelBase.BlockRows"/> channels); narrower variants walk a
/// block in sub-blocks.
/// <para>
/// A variant is only the walk over groups and blocks; the work is in register tiles (<c>Pointwise_Tile_8x48_V512</c>,
/// …), generic methods shared by every convolution of the model and specialized through this convolution's shape
/// struct. Unrolled into each variant, the tiles were two thirds of the generated file for the paper's model.
/// </para>
/// </remarks>
internal sealed class PointwiseKernel : PointwiseKernelBase
{
    public PointwiseKernel(PointwiseOp op, VectorWidths widths) : base(op, widths)
    {
    }

    public const string Prefix = "Pointwise_";

    protected override string KindPrefix => Prefix;

    protected override string ShapeInterface => PointwiseShapeInterface;

    protected override int InputSlotsPerGroup => Op.InPerGroup;

    public override string? PackStatement =>
        $"{KernelEmitters.Packer}.Pointwise(tensors, \"{Op.Name}\", \"{Op.BatchNorm}\", {Op.InChannels}, {Op.OutChannels}, {Op.Groups}, {BlockRows}, {KernelEmitters.PackedSpan(Op)});";

    /// <summary>The variant the call site picks, as a C# expression over the same conditions.</summary>
    public override string PathExpression
    {
        get
        {
            var paths = new List<(string?, string)>();
            for (int i = 0; i < KernelWidths.Count - 1; i++) paths.Add((KernelWidths[i].Condition, VariantLabel(KernelWidths[i])));
            // Sub-blocks of four channels exist when a group has at least four output channels.
            if (Neon && Op.OutPerGroup >= V128.Rows && HasVectorTiles) paths.Add((RuntimeChecks.AdvSimdArm64, VariantLabel(V128) + ", AdvSimd fmla by element"));
            paths.Add((null, VariantLabel(V128)));
            return KernelSyntax.ChoosePath(paths);
        }
    }

    /// <summary>
    /// A tile method: accumulators start at the channels' biases, take one pixel vector per input channel of the group
    /// for all rows at once, then get the shape's residual and ReLU and are stored into the channels' planes.
    /// </summary>
    protected override (string Check, string Suffix) Arm => (RuntimeChecks.AdvSimdArm64, "AdvSimd");

    /// <summary>
    /// Vector256 tiles of 4 × 3 vectors: twelve accumulators, three input vectors and one broadcast fill AVX2's sixteen
    /// registers. 4 × 2 left eight FMA chains for two FMA pipes of four cycles' latency, no slack for the loads (v2 x1.0
    /// 224 on a Zen 3 EPYC: conv5, 464 to 1024 channels on 49 pixels, 1042 to 786 µs; the 116-channel convolutions on
    /// 196 pixels 76 to 66 µs).
    /// </summary>
    protected override int AccumulatorBudget(Width width) => width == V256 ? 12 : base.AccumulatorBudget(width);

    /// <summary>
    /// On Vector256 the tail vector runs for the block's eight channels at once: for four it is four dependent FMA
    /// chains, latency-bound, a quarter of a 7x7 plane's time for one pixel of 49 (same machine: conv5 786 to 703 µs,
    /// the 232-channel convolutions on 49 pixels 86 to 78 µs).
    /// </summary>
    protected override bool WholeBlockTail(Width width) => width == V256;

    private const int PackedChunk = 24;

    /// <summary>
    /// On Vector256, a one-group convolution whose input is over L1's 32 KB copies each chunk of 24 pixels of its input
    /// channel after channel (PackChunk) before its tiles read it, as long as the copy takes at most 96 KB of stack, on
    /// planes too small for two chunks of 48 (7x7), which otherwise stay unchunked. A tile's 24 pixels of a plane span two or three cache lines, a plane (or a
    /// plane table's jump) apart from the next channel's, and every block's tiles read them again; copied, they are one
    /// run. Measured on a Zen 3 EPYC: in a console program on copies of the tiles (operands hot, median of 400
    /// alternated calls) conv5 (464 to 1024 on 49 pixels, through v2's plane table) 0.82x and 232 to 232 on 49 pixels
    /// 0.87x, where copying into rows of 48 pixels, or whole planes in channel order, gained nothing (0.96–1.02x,
    /// 1.04–1.16x); in v2 x1.0 224's forward pass (eng/compare-generators, both creation orders) conv5 0.83–0.84x, the
    /// 232 to 232 ones on 49 pixels 0.85–0.91x, 232 to 232 on 196 pixels 0.92–0.93x, 116 to 116 on 784 pixels
    /// 0.84–0.98x; 116 to 116 on 196 pixels (91 KB of input) lost, 1.05–1.14x. Only the 7x7 walks pack: every call
    /// copies its chunks, and a team's thread makes several calls per op (parts shrink toward where the threads meet),
    /// so at two threads the larger planes' 24-pixel walks, with 8 to 32 chunks each, copied their input several
    /// times over and ran slower than unpacked (116 to 116 on 784 pixels 154–156 → 169–175 µs, 232 to 232 on 196
    /// pixels 131 → 140–168 µs; `bench --ops v2_x1_0_224 --threads 2`, alternated with the build before).
    /// The 96 KB take in torchvision's x1.5 and x2.0 conv5 (704 and 976 inputs: 66 and 92 KB): 0.82–0.86x in both
    /// orders, passes 0.98x and 0.97–0.98x.
    /// </summary>
    protected override bool PacksChunks(Width width) =>
        width == V256 && Op.Groups == 1 && Op.Output.Pixels >= 2 * PackedChunk && Op.Output.Pixels < 4 * PackedChunk
        && Op.InPerGroup * Op.Output.Pixels * sizeof(float) > 32 * 1024 && Op.InPerGroup * PackedChunk * sizeof(float) <= 96 * 1024;

    /// <summary>Float tiles are 4, 8 or 16 lanes wide and chunks 24 or 48 pixels: all divide the pixel split.</summary>
    protected override bool SplitsPixels => true;

    /// <summary>
    /// On Vector256, chunks of 48 pixels (two 4 × 24 tiles) where a group's input is over L1's 32 KB (v2 x1.0 224, Zen 3
    /// EPYC: 116 to 116 channels on 784 pixels 345 to 290 µs, 58 to 58 on 784 pixels 64 to 59 µs; chunks sized to fit
    /// 24 KB of input measured no better). Not with a residual: 1x g=3's 60 to 240 ones on 784 pixels went from 102 to
    /// 108 µs chunked (100 unchunked, alternated with the chunked build).
    /// <para>
    /// Chunks of 24 pixels where 48 pixels of a group's input are over 16 KB: the chunk must stay in L1 while the whole
    /// weight matrix streams through it once per chunk, and a plane table's permuted reads get no help from the
    /// prefetchers when it does not (same machine: v2's 116 to 116 channels on 196 pixels with plane tables 65 to 59.5 µs,
    /// on 784 pixels 291 to 278 µs). Planes too small for two chunks of 48 stay unchunked: 24-pixel chunks made the
    /// 49-pixel convolutions slower (conv5 673 to 700 µs), unless packed (<see cref="PacksChunks"/>).
    /// </para>
    /// </summary>
    protected override int PixelChunk(Width width) => PacksChunks(width) ? PackedChunk : UnpackedChunk(width);

    private int UnpackedChunk(Width width)
    {
        const int Chunk = 48;
        if (width != V256 || Op.Residual is not null || Op.Output.Pixels < 2 * Chunk || Op.InPerGroup * Op.Output.Pixels * sizeof(float) <= 32 * 1024) return 0;
        return Op.InPerGroup * Chunk * sizeof(float) > 16 * 1024 ? Chunk / 2 : Chunk;
    }

    /// <summary>
    /// On Vector512 and Vector256, the 1, 2 or 4 pixels left after a plane's vectors (7x7: 49 = 6 · 8 + 1; 14x14: 196 =
    /// 24 · 8 + 4) run with a block's eight channels in the lanes, for eight blocks (four, two) at once: eight FMA chains
    /// of eight useful lanes, where each block's tail tile was eight chains of one useful lane in four.
    /// </summary>
    /// <remarks>
    /// A grouped convolution takes lane tails where its groups have no tail block (its work items are then whole blocks,
    /// group after group), as every grouped convolution of ShuffleNet's stages has, and one pixel is left: the blocks a
    /// lane tail runs at once are of one group, so at 14x14 (four pixels left, two blocks at once) its lane-by-lane
    /// stores weigh against the 40 to 160 inputs' sums: there it measured about 2 to 3 % slower, at 7x7 clearly faster
    /// (the bench's 1x g=3 224, Zen 3 EPYC, Vector256, both builds alternated in one process: docs/performance.md).
    /// </remarks>
    protected override int LaneTail(Width width)
    {
        int left = Op.Output.Pixels % width.Lanes;
        bool grouped = Op.Groups > 1 && Op.OutPerGroup % BlockRows == 0 && left == 1;
        return (width == V256 || width == V512) && Op.OutPerGroup >= BlockRows && (Op.Groups == 1 || grouped) && left is 1 or 2 or 4 ? left : 0;
    }

    /// <summary>
    /// On Vector256, within chunks of pixels, a group of over 200 input channels is summed in parts of at most 120, each
    /// part for every block before the next: the chunk's part of the input and a block's weights of the part then stay
    /// in L1 while the block's tiles read them (v2 x1.0 224 on a Zen 3 EPYC, the 232 to 232 convolution on 14x14 in
    /// 24-pixel chunks: 296 to 266 µs in a forward pass, 306 to 247 µs alone). Not on 7x7 planes, unchunked: alone, with
    /// the weights in L2, parts made conv5 (464 to 1024 channels) 5 % and the 232 to 232 convolutions 10 % faster, but in
    /// a forward pass, where each convolution's weights come from L3 and a part reads a run of each block's weights
    /// before it jumps to the next block, 6 % and 10 % slower (prefetching the next block's run into L2: slower still).
    /// Parts of 160 or 80 of 160 channels gained nothing. Where a walk packs its chunks (<see cref="PacksChunks"/>) the
    /// chunk is in L1 anyway, and it does not sum in parts (that 232 to 232 convolution now packs: 0.92–0.93x again).
    /// </summary>
    protected override int InputParts(Width width) => width == V256 && Op.InPerGroup > 200 ? (Op.InPerGroup + 119) / 120 : 1;

    protected override string InputPartShape(string shape, int part) => $"{InputsShape}<{shape}, {PartIndex}{part}>";

    private const string InputsShape = Prefix + "Inputs";

    private const string PartIndex = Prefix + "Part";

    protected override void EmitShapeExtras(SourceWriter w)
    {
        if (InputPartsOf(V256) > 1) w.Line($"public static int InputChunk => {InputPartChannels(V256)};");
    }

    private static void EmitInputsShape(SourceWriter w)
    {
        const string I = KernelSyntax.Inlined;
        w.Line("/// <summary>");
        w.Line("/// A convolution's shape narrowed to part <typeparamref name=\"TPart\"/> of its input channels: its tiles resume from the");
        w.Line("/// sums the part before stored, and only the last part's epilogue adds the residual and applies ReLU.");
        w.Line("/// </summary>");
        using (w.Open($"private readonly struct {InputsShape}<TShape, TPart> : {PointwiseShapeInterface} where TShape : struct, {PointwiseShapeInterface} where TPart : struct, {PartIndex}"))
        {
            // The members it computes are marked for inlining too (EmitForwardedShapeMembers says why).
            EmitForwardedShapeMembers(w, "Pixels");
            w.Line($"public static int InputsFrom {{ {I} get => TPart.Index * TShape.InputChunk; }}");
            w.Line($"public static int InPerGroup {{ {I} get => Math.Min(InputsFrom + TShape.InputChunk, TShape.InPerGroup); }}");
            EmitForwardedShapeMembers(w, "OutChannels", "ShuffleGroups", "OfficialShuffle");
            w.Line($"public static bool Residual {{ {I} get => TShape.Residual && InPerGroup == TShape.InPerGroup; }}");
            w.Line($"public static bool Relu {{ {I} get => TShape.Relu && InPerGroup == TShape.InPerGroup; }}");
            EmitForwardedShapeMembers(w, "InputTable", "InputPlane", "OutputTable", "OutputPlane");
        }
        w.Line();
        w.Line($"private interface {PartIndex} {{ static abstract int Index {{ get; }} }}");
        w.Line();
    }

    private const string StoreMethod = Prefix + "Store";

    private static void EmitStore(SourceWriter w, string vector)
    {
        bool scalar = vector == "float";
        string type = scalar ? "float" : vector + "<float>";
        w.Line("/// <summary>A tile's epilogue for one accumulator of row <paramref name=\"row\"/> at pixel <paramref name=\"at\"/>: residual, ReLU, store.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {StoreMethod}<TShape>({type} acc, ref float output, ref float residual, int row, int at) where TShape : struct, {PointwiseShapeInterface}"))
        {
            w.Line(scalar ? "if (TShape.Residual) acc += Unsafe.Add(ref residual, row * TShape.Pixels + at);" : $"if (TShape.Residual) acc += {vector}.LoadUnsafe(ref residual, (nuint)(row * TShape.Pixels + at));");
            w.Line(scalar ? "if (TShape.Relu) acc = MathF.Max(acc, 0f);" : "if (TShape.Relu) acc = Simd.Relu(acc);");
            w.Line(scalar ? "Unsafe.Add(ref output, at) = acc;" : "acc.StoreUnsafe(ref output, (nuint)at);");
        }
        w.Line();
    }

    private const string LaneTailMethod = Prefix + "LaneTail_V256";

    private const string LaneStoreMethod = Prefix + "LaneStore";

    protected override string LaneTailCall(string shape, string residual, string start, string stop) =>
        $"{LaneTailMethod}<{shape}>(ref source, ref destination, {residual}, ref weights, {Op.OutPerGroup / BlockRows}, {start}, {stop})";

    protected override IEnumerable<SharedDefinition> KindDefinitions
    {
        get
        {
            // The tiles' vector types: the variants' widths, and Vector256 for a Vector512 walk's tails (narrowest covering).
            var vectors = new List<string>();
            if (!HasVectorTiles) vectors.Add("float");
            foreach (var width in KernelWidths) vectors.Add(width.Vector);
            if (vectors.Contains(V512.Vector) && !vectors.Contains(V256.Vector)) vectors.Add(V256.Vector);
            foreach (string type in vectors)
            {
                string vector = type;
                yield return new SharedDefinition($"{StoreMethod}({vector})", w => EmitStore(w, vector));
            }
            int parts = InputPartsOf(V256);
            if (parts > 1) yield return new SharedDefinition(InputsShape, EmitInputsShape);
            for (int part = 0; parts > 1 && part < parts; part++)
            {
                int index = part;
                yield return new SharedDefinition(PartIndex + index, w => w.Line($"private readonly struct {PartIndex}{index} : {PartIndex} {{ public static int Index => {index}; }}"));
            }
            // Only where a width that takes them is emitted (an ARM64 or browser build emits Vector128 alone).
            if (!System.Linq.Enumerable.Any(KernelWidths, width => LaneTail(width) > 0)) yield break;
            yield return new SharedDefinition(LaneStoreMethod, EmitLaneStore);
            yield return new SharedDefinition(LaneTailMethod, EmitLaneTail);
        }
    }

    private static void EmitLaneTail(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line($"/// The last 1, 2 or 4 pixels of the planes of packed blocks [start, stop), <paramref name=\"blocks\"/> to a group, a block's {BlockRows} channels");
        w.Line("/// in the lanes (its biases, then its weights per input channel, are adjacent). Eight accumulators cover up to eight");
        w.Line("/// blocks of one group; past the group's (or the range's) last block they repeat it (the same values stored twice)");
        w.Line("/// rather than read past it.");
        w.Line("/// </summary>");
        w.Line(KernelSyntax.Optimized);
        w.Line($"private static void {LaneTailMethod}<TShape>(ref float source, ref float destination, ref float residual, ref float weights, int blocks, int start, int stop)");
        w.Line($"    where TShape : struct, {PointwiseShapeInterface}");
        using (w.OpenScope())
        {
            w.Line($"int tail = TShape.Pixels % 8, first = TShape.Pixels - tail, stride = {BlockRows} * (TShape.InPerGroup + 1);");
            using (w.Open("for (int item = start, last; item < stop; item += last + 1)"))
            {
                w.Line("int k = item / blocks;");
                w.Line("last = Math.Min(Math.Min(8 / tail, stop - item), (k + 1) * blocks - item) - 1;");
                w.Line("ref float groupInput = ref Unsafe.Add(ref source, k * TShape.InPerGroup * TShape.Pixels);");
                for (int c = 0; c < 8; c++) w.Line($"ref float w{c} = ref Unsafe.Add(ref weights, (item + Math.Min({c} / tail, last)) * stride);");
                for (int c = 0; c < 8; c++) w.Line($"var acc{c} = Vector256.LoadUnsafe(ref w{c});");
                w.Line("ref float x = ref Unsafe.Add(ref groupInput, first);");
                using (w.Open($"for (int ci = 0, o = {BlockRows}; ci < TShape.InPerGroup; ci++, o += {BlockRows})"))
                {
                    w.Line("if (TShape.InputTable) x = ref Unsafe.Add(ref groupInput, TShape.InputPlane(ci) * TShape.Pixels + first);");
                    for (int c = 0; c < 8; c++) w.Line($"acc{c} = Simd.MulAdd(Vector256.Create(Unsafe.Add(ref x, {c} % tail)), Vector256.LoadUnsafe(ref w{c}, (nuint)o), acc{c});");
                    w.Line("x = ref Unsafe.Add(ref x, TShape.Pixels);");
                }
                for (int c = 0; c < 8; c++) w.Line($"{LaneStoreMethod}<TShape>(acc{c}, ref destination, ref residual, {BlockRows} * (item + Math.Min({c} / tail, last)), first + {c} % tail);");
            }
        }
        w.Line();
    }

    private static void EmitLaneStore(SourceWriter w)
    {
        w.Line("/// <summary>A tile's epilogue for one pixel of eight channels held in lanes: residual, ReLU, then each lane into its channel's plane.</summary>");
        w.Line(KernelSyntax.Inlined);
        w.Line($"private static void {LaneStoreMethod}<TShape>(Vector256<float> acc, ref float destination, ref float residual, int channel, int pixel) where TShape : struct, {PointwiseShapeInterface}");
        using (w.OpenScope())
        {
            EmitLaneResidualAndRelu(w);
            w.Line($"for (int r = 0; r < {BlockRows}; r++) Unsafe.Add(ref destination, {PlaneMethod}<TShape>(channel + r) * TShape.Pixels + pixel) = acc.GetElement(r);");
        }
        w.Line();
    }

    protected override void EmitTile(SourceWriter w, Tile tile, string name, bool arm)
    {
        bool scalar = tile.Width is null;
        string V = tile.Width?.Vector ?? "float";
        int lanes = tile.Width?.Lanes ?? 1;
        w.Line($"/// <summary>{tile.Rows} × {tile.Pixels} {(scalar ? "scalar" : V)} tile{(arm ? ", AdvSimd FMLA by element (ARM64)" : "")}; see <see cref=\"{ShapeInterface}\"/>.</summary>");
        w.Line(KernelSyntax.Optimized);
        w.Line($"private static void {name}<TShape>({TileParameters})");
        w.Line($"    {TileConstraint}");
        using (w.OpenScope())
        {
            EmitOutputRows(w, tile);
            using (w.Open($"for (int p = start; p <= last; p{(tile.Pixels == 1 ? "++" : $" += {tile.Pixels}")})"))
            {
                for (int i = 0; i < tile.Rows; i++)
                {
                    string b = i == 0 ? "bias" : $"Unsafe.Add(ref bias, {i})";
                    if (scalar) { w.Line($"float acc{i} = {b};"); continue; }
                    w.Line($"var bias{i} = {V}.Create({b});");
                    for (int v = 0; v < tile.Vectors; v++) w.Line($"var acc{i}x{v} = bias{i};");
                }
                // Vector256's full tile also sums a part of the inputs (InputParts), from the sums of the parts before.
                bool resumes = tile.Width == V256 && tile.Rows == V256.Rows && tile.Vectors == AccumulatorBudget(V256) / V256.Rows;
                if (resumes)
                {
                    using (w.Open("if (TShape.InputsFrom > 0)"))
                        for (int i = 0; i < tile.Rows; i++)
                            for (int v = 0; v < tile.Vectors; v++) w.Line($"acc{i}x{v} = {V}.LoadUnsafe(ref out{i}, (nuint){(v == 0 ? "p" : $"(p + {v * lanes})")});");
                }
                string from = resumes ? "TShape.InputsFrom" : "0";
                w.Line(resumes ? "ref float x = ref Unsafe.Add(ref groupInput, TShape.InputsFrom * TShape.Pixels + TShape.InputPixel(p));" : "ref float x = ref Unsafe.Add(ref groupInput, TShape.InputPixel(p));");
                w.Line(resumes ? "ref float wk = ref Unsafe.Add(ref bias, (TShape.InputsFrom + 1) * blockRows);" : "ref float wk = ref Unsafe.Add(ref bias, blockRows);");
                using (w.Open($"for (int ci = {from}; ci < TShape.InPerGroup; ci++)"))
                {
                    // A plane table names each input channel's plane; a slice is stepped through (a constant test).
                    w.Line("if (TShape.InputTable) x = ref Unsafe.Add(ref groupInput, TShape.InputPlane(ci) * TShape.Pixels + p);");
                    if (scalar)
                    {
                        w.Line("float x0 = x;");
                        for (int i = 0; i < tile.Rows; i++) w.Line($"acc{i} += x0 * {(i == 0 ? "wk" : $"Unsafe.Add(ref wk, {i})")};");
                    }
                    else
                    {
                        for (int v = 0; v < tile.Vectors; v++)
                            w.Line(v == 0 ? $"var x0 = {V}.LoadUnsafe(ref x);" : $"var x{v} = {V}.LoadUnsafe(ref x, {v * lanes});");
                        if (arm)
                        {
                            // ARM64: one load brings the four channels' weights (they are adjacent in the packed block) and FMLA by
                            // element multiplies by a lane of it. Replaces four scalar loads + DUP broadcasts of the portable path.
                            w.Line("var w4 = Vector128.LoadUnsafe(ref wk);");
                            for (int i = 0; i < tile.Rows; i++)
                                for (int v = 0; v < tile.Vectors; v++)
                                    w.Line($"acc{i}x{v} = AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar(acc{i}x{v}, x{v}, w4, {i});");
                        }
                        else
                        {
                            EmitBroadcastFmas(w, tile);
                        }
                    }
                    w.Line("x = ref Unsafe.Add(ref x, TShape.PackedStep > 0 ? TShape.PackedStep : TShape.Pixels);");
                    w.Line("wk = ref Unsafe.Add(ref wk, blockRows);");
                }
                // One call per accumulator: the residual, ReLU and store, inlined (three statements each made the tiles a
                // third longer).
                for (int i = 0; i < tile.Rows; i++)
                    for (int v = 0; v < tile.Vectors; v++)
                        w.Line($"{StoreMethod}<TShape>({(scalar ? $"acc{i}" : $"acc{i}x{v}")}, ref out{i}, ref res, {i}, {(v == 0 ? "p" : $"p + {v * lanes}")});");
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
}
