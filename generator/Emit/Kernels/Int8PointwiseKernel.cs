using System.Collections.Generic;
using System.Text;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// A 1x1 group convolution in integers: the input is its <see cref="QuantizeOp"/>'s packed 7-bit activations (four
/// channels of a pixel per 32-bit lane), the weights int8 (four per 32-bit slot, one broadcast per output channel), the
/// sums int32 from the cores' dot-product instructions (VPDPBUSD, VPMADDUBSW+VPMADDWD, SDOT; see
/// <c>ShuffleNetGen.Kernels.Int8Simd</c>), and the epilogue turns each sum back into a float with the channel's scale
/// and bias in one fused multiply-add before the float residual, ReLU and store.
/// </summary>
/// <remarks>
/// The walk, tiles and widths are the float kernel's (<see cref="PointwiseKernelBase"/>): a 32-bit lane is one pixel
/// in both, so the register blocking and the shuffled stores carry over; only the inner step and the epilogue differ.
/// </remarks>
internal sealed class Int8PointwiseKernel : PointwiseKernelBase
{
    public Int8PointwiseKernel(PointwiseOp op, VectorWidths widths) : base(op, widths)
    {
    }

    public const string Prefix = "Int8Pointwise_";

    protected override string KindPrefix => Prefix;

    protected override string ShapeInterface => Prefix + "Shape";

    protected override int InputSlotsPerGroup => Op.QuadsPerGroup;

    protected override string ArithmeticNote => " in int8 (packed 7-bit activations × int8 weights, int32 sums)";

    public override string? PackStatement =>
        $"{KernelEmitters.Packer}.Int8Pointwise(tensors, \"{Op.Name}\", \"{Op.BatchNorm}\", {Op.InChannels}, {Op.OutChannels}, {Op.Groups}, {BlockRows}, {KernelEmitters.PackedSpan(Op)});";

    private const string Int8Simd = KernelSyntax.Runtime + ".Kernels.Int8Simd";

    /// <summary>The variant and, from the runtime's own checks, the dot-product instruction it runs on.</summary>
    public override string PathExpression
    {
        get
        {
            var text = new StringBuilder();
            for (int i = 0; i < KernelWidths.Count - 1; i++)
            {
                var width = KernelWidths[i];
                text.Append($"{VariantCondition(width)} ? \"{VariantLabel(width)}, \" + {Int8Simd}.DotPath{width.Lanes * 32} : ");
            }
            // Planes narrower than a vector run scalar tiles, whatever the core has.
            if (!HasVectorTiles)
            {
                text.Append($"\"{VariantLabel(V128)}, scalar\"");
                return text.ToString();
            }
            // With SDOT, the four-channel sub-blocks take one weight vector and SDOT by element.
            if (Neon && Op.OutPerGroup >= V128.Rows)
                text.Append($"{Arm.Check} ? \"{VariantLabel(V128)}, Dp sdot by element; \" + {Int8Family}.Description : ");
            text.Append($"\"{VariantLabel(V128)}, \" + {Int8Simd}.DotPath128");
            return text.ToString();
        }
    }

    /// <summary>A wider variant runs only when the CPU's int8 family says so (see <c>ShuffleNetGen.Kernels.Int8Family</c>), not wherever the width is accelerated.</summary>
    protected override string VariantCondition(Width width) => Int8FamilyCondition(width);

    /// <summary>The check that picks an int8 kernel's <paramref name="width"/> variant (<see cref="PointwiseKernelBase.V256Vnni"/>: the 256-bit VNNI family runs).</summary>
    internal static string Int8FamilyCondition(Width width) => width == V256Vnni ? $"{Int8Family}.YmmVnni" : Int8FamilyCondition(width.Vector);

    /// <summary>
    /// The 256-bit VNNI family gets a walk of its own, 4 × 24 tiles (12 accumulators, enough for VPDPBUSD's latency)
    /// where V256's 4 × 16 keep 8: the VPMADDUBSW+VPMADDWD+VPADDD pair needs two more registers than 16 ymm leave
    /// beside 12 accumulators. Not emitted where it would walk as V256 does (planes under 24 pixels).
    /// </summary>
    protected override IReadOnlyList<Width> WithKindVariants(IReadOnlyList<Width> widths)
    {
        int v256 = -1;
        for (int i = 0; i < widths.Count; i++)
            if (widths[i] == V256) v256 = i;
        if (v256 < 0 || SameWalk(V256Vnni, V256)) return widths;
        var list = new List<Width>(widths);
        list.Insert(v256, V256Vnni);
        return list;
    }

    /// <summary>The check that picks an int8 kernel's <paramref name="vector"/> variant: the family runs on that width (which implies it is accelerated).</summary>
    internal static string Int8FamilyCondition(string vector) => vector switch
    {
        "Vector512" => $"{Int8Family}.Zmm",
        "Vector256" => $"{Int8Family}.Ymm",
        _ => RuntimeChecks.Accelerated(vector),
    };

    private const string Int8Family = KernelSyntax.Runtime + ".Kernels.Int8Family";

    protected override void EmitShapeExtras(SourceWriter w)
    {
        w.Line($"public static int Quads => {Op.QuadsPerGroup};");
        if (Op.Packs is not { } packs) return;
        w.Line("public static bool PacksSlots => true;");
        w.Line($"public static int SlotChannelOffset => {packs.ChannelOffset};");
        w.Line($"public static int SlotInPerGroup => {packs.InPerGroup};");
    }

    protected override IEnumerable<SharedDefinition> KindDefinitions
    {
        get
        {
            yield return new SharedDefinition(ShapeInterface, EmitShapeInterface);
            yield return new SharedDefinition(SlotMethod, EmitSlotMethod);
            if (LaneTail(V256) > 0) yield return new SharedDefinition(LaneTailMethod, EmitLaneTail);
        }
    }

    /// <summary>
    /// On Vector256 (both families' walks), the 1, 2 or 4 pixels left after a plane's vectors (7x7: 49 = 3 · 16 + 1;
    /// 14x14: 196 = 12 · 16 + 4) run with a block's eight channels in the lanes: per slot of input, one broadcast of the
    /// pixel's slot against the block's eight weight slots, which are adjacent. The tail tiles they replace ran two
    /// Vector128 tiles of four channels on four pixels, for one useful pixel of four on a 7x7 plane. Measured on the bench's
    /// 1x g=3 224 int8 model (Zen 3 EPYC, madd256, seven alternated runs): the 49-pixel convolutions 10 to 12 % faster,
    /// the 196-pixel ones 0 to 3 %.
    /// </summary>
    /// <remarks>
    /// A grouped convolution takes lane tails only where its groups have no tail block (the walk's work items are then
    /// whole blocks, group after group), as every grouped convolution of ShuffleNet's stages has.
    /// </remarks>
    protected override int LaneTail(Width width)
    {
        int left = Op.Output.Pixels % V256.Lanes;
        bool wholeBlocks = Op.OutPerGroup >= BlockRows && (Op.Groups == 1 || Op.OutPerGroup % BlockRows == 0);
        return (width == V256 || width == V256Vnni) && Op.Output.Pixels >= V256.Lanes && wholeBlocks && left is 1 or 2 or 4 ? left : 0;
    }

    private const string LaneTailMethod = Prefix + "LaneTail_V256";

    protected override string LaneTailCall(string shape, string residual, string start, string stop) =>
        $"{LaneTailMethod}<{shape}>(ref source, ref destination, {residual}, ref weights{(PacksSlots ? ", ref slots, ref quantize" : ", ref noSlots, ref noSlots")}, {Op.OutPerGroup / BlockRows}, {Op.OutPerGroup}, {start}, {stop})";

    private static void EmitLaneTail(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line($"/// The last 1, 2 or 4 pixels of the planes of packed blocks [start, stop), {BlockRows} channels of a block in the lanes (its");
        w.Line("/// scales, then its biases, then its weights per slot of input, are adjacent), <paramref name=\"blocks\"/> blocks of");
        w.Line("/// <paramref name=\"perGroup\"/> channels a group: the tiles' sums, dequantize, residual, ReLU, stores and slots, lane by lane.");
        w.Line("/// </summary>");
        w.Line(KernelSyntax.Optimized);
        w.Line($"private static void {LaneTailMethod}<TShape>(ref float source, ref float destination, ref float residual, ref float weights, ref float slots, ref float quantize, int blocks, int perGroup, int start, int stop)");
        w.Line($"    where TShape : struct, {Prefix}Shape");
        using (w.OpenScope())
        {
            w.Line("int tail = TShape.Pixels % 8, first = TShape.Pixels - tail;");
            w.Line($"{ConstantsMethod}<TShape>(ref quantize, out Vector256<float> slotInverse, out Vector256<float> slotLow, out Vector256<float> slotHigh, out Vector256<byte> slotZero);");
            using (w.Open("for (int item = start; item < stop; item++)"))
            {
                w.Line("int k = item / blocks, channel = k * perGroup + item % blocks * 8;");
                w.Line("ref int x = ref Unsafe.As<float, int>(ref Unsafe.Add(ref source, k * TShape.Quads * TShape.Pixels + first));");
                w.Line("ref float block = ref Unsafe.Add(ref weights, channel * (TShape.Quads + 2));");
                w.Line("ref int wk = ref Unsafe.As<float, int>(ref Unsafe.Add(ref block, 16));");
                w.Line("var sum0 = Vector256<int>.Zero;");
                w.Line("var sum1 = Vector256<int>.Zero;");
                w.Line("var sum2 = Vector256<int>.Zero;");
                w.Line("var sum3 = Vector256<int>.Zero;");
                using (w.Open("for (int q = 0; q < TShape.Quads; q++)"))
                {
                    w.Line("var wq = Vector256.LoadUnsafe(ref wk);");
                    w.Line($"sum0 = {Int8Simd}.DotAdd(sum0, Vector256.Create(x), wq);");
                    w.Line($"if (tail > 1) sum1 = {Int8Simd}.DotAdd(sum1, Vector256.Create(Unsafe.Add(ref x, 1)), wq);");
                    w.Line($"if (tail > 2) sum2 = {Int8Simd}.DotAdd(sum2, Vector256.Create(Unsafe.Add(ref x, 2)), wq);");
                    w.Line($"if (tail > 2) sum3 = {Int8Simd}.DotAdd(sum3, Vector256.Create(Unsafe.Add(ref x, 3)), wq);");
                    w.Line("x = ref Unsafe.Add(ref x, TShape.Pixels);");
                    w.Line("wk = ref Unsafe.Add(ref wk, 8);");
                }
                w.Line("var scale = Vector256.LoadUnsafe(ref block);");
                w.Line("var shift = Vector256.LoadUnsafe(ref block, 8);");
                w.Line($"{LaneStoreMethod}<TShape>({Int8Simd}.Dequantize(sum0, scale, shift), ref destination, ref residual, ref slots, channel, first, slotInverse, slotLow, slotHigh, slotZero);");
                w.Line($"if (tail > 1) {LaneStoreMethod}<TShape>({Int8Simd}.Dequantize(sum1, scale, shift), ref destination, ref residual, ref slots, channel, first + 1, slotInverse, slotLow, slotHigh, slotZero);");
                w.Line($"if (tail > 2) {LaneStoreMethod}<TShape>({Int8Simd}.Dequantize(sum2, scale, shift), ref destination, ref residual, ref slots, channel, first + 2, slotInverse, slotLow, slotHigh, slotZero);");
                w.Line($"if (tail > 2) {LaneStoreMethod}<TShape>({Int8Simd}.Dequantize(sum3, scale, shift), ref destination, ref residual, ref slots, channel, first + 3, slotInverse, slotLow, slotHigh, slotZero);");
            }
        }
        w.Line();
        w.Line("/// <summary>A tile's epilogue for one pixel of eight channels held in lanes: residual, ReLU, each lane into its channel's plane, then its two slots.</summary>");
        w.Line(KernelSyntax.Inlined);
        w.Line($"private static void {LaneStoreMethod}<TShape>(Vector256<float> acc, ref float destination, ref float residual, ref float slots, int channel, int pixel, Vector256<float> slotInverse, Vector256<float> slotLow, Vector256<float> slotHigh, Vector256<byte> slotZero) where TShape : struct, {Prefix}Shape");
        using (w.OpenScope())
        {
            EmitLaneResidualAndRelu(w);
            for (int r = 0; r < BlockRows; r++)
                w.Line($"Unsafe.Add(ref destination, {PlaneMethod}<TShape>({(r == 0 ? "channel" : $"channel + {r}")}) * TShape.Pixels + pixel) = acc.GetElement({r});");
            w.Line("if (!TShape.PacksSlots) return;");
            w.Line("// The quantize step's vector arithmetic per lane, then each lane's low byte in channel order: two slots.");
            w.Line($"var q = {Int8Simd}.Quantize(acc, slotInverse, slotLow, slotHigh);");
            w.Line("var halves = Vector256.Narrow(q, q);");
            w.Line("var bytes = Vector256.Narrow(halves, halves).AsByte() + slotZero;");
            w.Line($"Unsafe.Add(ref {SlotMethod}<TShape>(ref slots, channel), pixel) = bytes.AsInt32().GetElement(0);");
            w.Line($"Unsafe.Add(ref {SlotMethod}<TShape>(ref slots, channel + 4), pixel) = bytes.AsInt32().GetElement(1);");
        }
        w.Line();
    }

    private const string LaneStoreMethod = Prefix + "LaneStore";

    // Packing the next convolution's slots in the epilogue (see SlotFusion): its own names, shape and tile code.

    protected override bool PacksSlots => Op.Packs is not null;

    protected override bool TilesTakeSlots => true;

    protected override string GeometrySuffix => Op.Packs is { } packs ? $"_PacksSlots{packs.InPerGroup}" + (packs.ChannelOffset == 0 ? "" : $"_From{packs.ChannelOffset}") : "";

    protected override string SlotOperands =>
        $"{OperandRefs.Of(Op.Packs!.Slots)}, ref Unsafe.Add(ref weights, {OperandRefs.WeightOffset(Op.Packs.QuantizeName)})";

    private const string SlotMethod = Prefix + "Slot";

    private const string PackMethod = KernelSyntax.Runtime + ".Kernels.Int8Slots.Pack";

    private static void EmitSlotMethod(SourceWriter w)
    {
        w.Line("/// <summary>The next convolution's slot plane (of its packed input) holding logical channel <paramref name=\"channel\"/> and the three after it, from a multiple of four within its group; null where the shape packs none.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static ref int {SlotMethod}<TShape>(ref float slots, int channel) where TShape : struct, {Prefix}Shape"))
        {
            w.Line("if (!TShape.PacksSlots) return ref Unsafe.NullRef<int>();");
            w.Line("int consumer = channel + TShape.SlotChannelOffset;");
            w.Line("int slot = consumer / TShape.SlotInPerGroup * ((TShape.SlotInPerGroup + 3) / 4) + consumer % TShape.SlotInPerGroup / 4;");
            w.Line("return ref Unsafe.As<float, int>(ref Unsafe.Add(ref slots, slot * TShape.Pixels));");
        }
        w.Line();
        // The quantize step's constants, computed as it computes them, so each byte is the one it would pack; read only
        // where the shape packs slots (the quantize parameters are a null reference otherwise).
        foreach (var type in new[] { "Vector512", "Vector256", "Vector128", "float" })
        {
            string F = type == "float" ? "float" : type + "<float>", B = type == "float" ? "byte" : type + "<byte>";
            string Create(string value) => type == "float" ? value : $"{type}.Create({value})";
            w.Line(KernelSyntax.Inlined);
            using (w.Open($"private static void {ConstantsMethod}<TShape>(ref float quantize, out {F} inverse, out {F} low, out {F} high, out {B} zero) where TShape : struct, {Prefix}Shape"))
            {
                w.Line("float zeroPoint = TShape.PacksSlots ? Unsafe.Add(ref quantize, 1) : 0f;");
                w.Line($"inverse = {Create("TShape.PacksSlots ? quantize : 0f")};");
                w.Line($"low = {Create("-zeroPoint")};");
                w.Line($"high = {Create($"{Int8Simd}.MaxActivation - zeroPoint")};");
                w.Line($"zero = {Create("(byte)zeroPoint")};");
            }
            w.Line();
        }
    }

    private const string ConstantsMethod = Prefix + "SlotConstants";

    /// <summary>
    /// Whether <paramref name="tile"/> packs slots where its shape does: every packing convolution has a multiple of
    /// four channels per group (<see cref="SlotFusion"/> fuses no other), so its tiles hold whole slots, and a tile of
    /// fewer rows (a convolution with other groups sharing the body) packs nothing.
    /// </summary>
    private static bool PacksWholeSlots(Tile tile) => tile.Slots && tile.Rows % 4 == 0;

    /// <summary>The tile's slot planes, one per four of its channels, and the quantize constants, before the pixel loop (unused where the shape packs none).</summary>
    private static void EmitSlotRows(SourceWriter w, Tile tile)
    {
        for (int t = 0; 4 * t < tile.Rows; t++)
            w.Line($"ref int slots{t} = ref {SlotMethod}<TShape>(ref slots, {Loop.Sum("channel", (4 * t).ToString())});");
        string F = tile.Width is null ? "float" : tile.Width.Vector + "<float>", B = tile.Width is null ? "byte" : tile.Width.Vector + "<byte>";
        w.Line($"{ConstantsMethod}<TShape>(ref quantize, out {F} slotInverse, out {F} slotLow, out {F} slotHigh, out {B} slotZero);");
    }

    /// <summary>
    /// After the stores: each four channels' outputs (as stored, after residual and ReLU) quantized and packed into
    /// their slot, lowest channel in the lowest byte. Only tiles of whole slots pack (see <see cref="PacksWholeSlots"/>).
    /// </summary>
    private static void EmitPacking(SourceWriter w, Tile tile)
    {
        bool scalar = tile.Width is null;
        int lanes = tile.Width?.Lanes ?? 1;
        string V = tile.Width?.Vector ?? "";
        const string inverse = "slotInverse";
        for (int t = 0; 4 * t < tile.Rows; t++)
        {
            for (int v = 0; v < tile.Vectors; v++)
            {
                string Acc(int c) => scalar ? $"acc{4 * t + c}" : $"acc{4 * t + c}x{v}";
                string offset = v == 0 ? "p" : $"p + {v * lanes}";
                string target = scalar ? $"Unsafe.Add(ref slots{t}, {offset})" : $"ref slots{t}, (nuint)({offset})";
                string slot = $"{PackMethod}({Acc(0)}, {Acc(1)}, {Acc(2)}, {Acc(3)}, {inverse}, slotLow, slotHigh, slotZero)";
                w.Line(scalar ? $"{target} = {slot};" : $"{slot}.StoreUnsafe({target});");
            }
        }
    }

    private void EmitShapeInterface(SourceWriter w)
    {
        w.Line($"/// <summary>An int8 1x1 convolution's shape: <see cref=\"{PointwiseShapeInterface}\"/> and the 32-bit slots of four input channels per group. Its tiles read the scale, then the bias, then the weights, each <c>blockRows</c> apart, from <c>bias</c>.</summary>");
        using (w.Open($"private interface {ShapeInterface} : {PointwiseShapeInterface}"))
        {
            w.Line("static abstract int Quads { get; }");
            w.Line("// Packing the next convolution's slots in the epilogue: where logical channel 0 falls among its input channels, and its channels per group.");
            w.Line("static virtual bool PacksSlots => false;");
            w.Line("static virtual int SlotChannelOffset => 0;");
            w.Line("static virtual int SlotInPerGroup => 4;");
        }
        w.Line();
    }

    /// <summary>
    /// A tile: int32 accumulators from zero take one packed pixel vector per slot of four input channels for all rows
    /// at once; then each becomes a float (sum × scale + bias, fused) and gets the float epilogue.
    /// </summary>
    protected override (string Check, string Suffix) Arm => ($"global::System.Runtime.Intrinsics.Arm.Dp.IsSupported && {Int8Family}.SdotAllowed", "Dp");

    protected override void EmitTile(SourceWriter w, Tile tile, string name, bool arm)
    {
        bool scalar = tile.Width is null;
        string V = tile.Width?.Vector ?? "int";
        int lanes = tile.Width?.Lanes ?? 1;
        w.Line($"/// <summary>{tile.Rows} × {tile.Pixels} {(scalar ? "scalar" : V)} int8 tile{(arm ? ", SDOT by element (ARM64 with Dp)" : "")}; see <see cref=\"{ShapeInterface}\"/>.</summary>");
        w.Line(KernelSyntax.Optimized);
        w.Line($"private static void {name}<TShape>({TileParametersOf(tile)})");
        w.Line($"    {TileConstraint}");
        using (w.OpenScope())
        {
            EmitOutputRows(w, tile);
            if (PacksWholeSlots(tile)) EmitSlotRows(w, tile);
            using (w.Open($"for (int p = start; p <= last; p{(tile.Pixels == 1 ? "++" : $" += {tile.Pixels}")})"))
            {
                for (int i = 0; i < tile.Rows; i++)
                    for (int v = 0; v < tile.Vectors; v++)
                        w.Line(scalar ? $"int sum{i} = 0;" : $"var sum{i}x{v} = {V}<int>.Zero;");
                w.Line("ref int x = ref Unsafe.As<float, int>(ref Unsafe.Add(ref groupInput, p));");
                w.Line("ref int wk = ref Unsafe.As<float, int>(ref Unsafe.Add(ref bias, 2 * blockRows));");
                using (w.Open("for (int q = 0; q < TShape.Quads; q++)"))
                {
                    if (scalar)
                    {
                        w.Line("int x0 = x;");
                        for (int i = 0; i < tile.Rows; i++) w.Line($"sum{i} = {Int8Simd}.DotAdd(sum{i}, x0, {(i == 0 ? "wk" : $"Unsafe.Add(ref wk, {i})")});");
                    }
                    else
                    {
                        for (int v = 0; v < tile.Vectors; v++)
                            w.Line(v == 0 ? $"var x0 = {V}.LoadUnsafe(ref x);" : $"var x{v} = {V}.LoadUnsafe(ref x, {v * lanes});");
                        if (arm)
                        {
                            // ARM64 with SDOT: one load brings the four channels' weight slots (adjacent in the packed block)
                            // and SDOT by element takes a slot of it, as the float tile's FMLA by element does.
                            w.Line("var w4 = Vector128.LoadUnsafe(ref wk).AsSByte();");
                            for (int i = 0; i < tile.Rows; i++)
                                for (int v = 0; v < tile.Vectors; v++)
                                    w.Line($"sum{i}x{v} = global::System.Runtime.Intrinsics.Arm.Dp.DotProductBySelectedQuadruplet(sum{i}x{v}, x{v}.AsSByte(), w4, {i});");
                        }
                        else
                        {
                            EmitBroadcastDots(w, tile);
                        }
                    }
                    w.Line("x = ref Unsafe.Add(ref x, TShape.Pixels);");
                    w.Line("wk = ref Unsafe.Add(ref wk, blockRows);");
                }
                string F = tile.Width?.Vector ?? "float";
                for (int i = 0; i < tile.Rows; i++)
                {
                    string scale = i == 0 ? "bias" : $"Unsafe.Add(ref bias, {i})";
                    string shift = $"Unsafe.Add(ref bias, blockRows + {i})";
                    if (scalar)
                    {
                        w.Line($"float acc{i} = {Int8Simd}.Dequantize(sum{i}, {scale}, {shift});");
                        continue;
                    }
                    w.Line($"var scale{i} = {F}.Create({scale});");
                    w.Line($"var shift{i} = {F}.Create({shift});");
                    for (int v = 0; v < tile.Vectors; v++) w.Line($"var acc{i}x{v} = {Int8Simd}.Dequantize(sum{i}x{v}, scale{i}, shift{i});");
                }
                EmitEpilogue(w, tile, (i, v) => scalar ? $"acc{i}" : $"acc{i}x{v}");
                if (PacksWholeSlots(tile))
                    using (w.Open("if (TShape.PacksSlots)"))
                        EmitPacking(w, tile);
            }
        }
        w.Line();
    }

    private static void EmitBroadcastDots(SourceWriter w, Tile tile)
    {
        string V = tile.Width!.Vector;
        for (int i = 0; i < tile.Rows; i++)
        {
            w.Line($"var w{i} = {V}.Create({(i == 0 ? "wk" : $"Unsafe.Add(ref wk, {i})")});");
            for (int v = 0; v < tile.Vectors; v++) w.Line($"sum{i}x{v} = {Int8Simd}.DotAdd(sum{i}x{v}, x{v}, w{i});");
        }
    }
}
