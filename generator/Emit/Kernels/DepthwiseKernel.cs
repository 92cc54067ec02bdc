using System.Linq;
using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The 3x3 depthwise convolution of a unit's branch, stride 1 or 2: nine broadcast taps per channel stay in registers
/// for the whole plane. Outputs 7 to 31 columns wide (stride 1) or 7 to 15 (stride 2) add a Vector256 variant on a
/// zero-padded copy of each plane (a shared body, so v2's table kernels run it too).
/// </summary>
internal sealed class DepthwiseKernel : WindowKernel
{
    /// <summary>Padded copies above this many floats (64 KiB of stack, both buffers) keep the edge-split kernel.</summary>
    private const int MaxPaddedFloats = 16384;

    private readonly bool _padded;

    private readonly bool _flat;

    public DepthwiseKernel(WindowOp op, VectorWidths widths) : base(op, widths)
    {
        _padded = PaddedCopyApplies(op, widths);
        // The flat variant addresses planes as slices, so a table kernel (see WindowKernel.PlaneTables) has none.
        _flat = !PlaneTables && FlatPlaneApplies(op, widths);
    }

    /// <summary>Pixels of a flat-plane vector (Vector512).</summary>
    private const int FlatLanes = 16;

    /// <summary>Planes up to this many pixels take the flat variant: one unrolled vector per 16 pixels, two mask constants each.</summary>
    private const int MaxFlatPixels = 256;

    /// <summary>
    /// Stride 1 on planes narrower than a Vector512 row (7x7 and 14x14 in the 224 networks): each plane is one long
    /// row of pixels, sixteen per vector across row ends. Row-wise kernels spend most of such a plane on edge columns
    /// and part-empty vectors (measured, 1x g=3 224: 54 µs for 120 channels of 14x14 and 46 µs for 240 of 7x7).
    /// </summary>
    private static bool FlatPlaneApplies(WindowOp op, VectorWidths widths) =>
        op.Stride == 1 && (widths & VectorWidths.Vector512) != 0 && op.Input.Width < FlatLanes
        && op.Input.Pixels >= FlatLanes && op.Input.Pixels <= MaxFlatPixels;

    public const string Prefix = "Depthwise3x3_";

    protected override string GeometryName => $"{Prefix}s{Op.Stride}_{Op.Channels}ch_{Shape}{(Op.Relu ? "_Relu" : "")}";

    protected override string Summary => $"3x3 depthwise convolution, stride {Op.Stride}, {Op.Channels} channels on {Shape}, batch norm folded.";

    /// <summary>Stride-1 depthwise has nothing NEON does better than the portable code, which already compiles to FMLA.</summary>
    protected override string? NeonInstructions => Op.Stride == 2 ? "AdvSimd uzp1/uzp2, fmla" : null;

    protected override string WeightsParameter => ", ref float weights";

    public override string? PackStatement => WindowPackStatement;

    public override string CallStatement() => WeightedCallStatement();

    protected override string KindPrefix => Prefix;

    protected override bool WideDoneByOwnVariant => _flat || RowVectorsApply;

    protected override bool Vector256DoneByOwnVariant => _padded;

    protected override void AddOwnVariants(List<KernelVariant> variants)
    {
        if (_flat) variants.Add(new(RuntimeChecks.Vector512Accelerated, FlatMethodName, "Vector512 across rows of a copy with zero rows around it"));
        if (RowVectorsApply) variants.Add(new(RuntimeChecks.Vector512Accelerated, RowVectorsMethodName, "Vector512, a row per vector"));
    }

    protected override IEnumerable<SharedVariant> SharedOwnVariants
    {
        get
        {
            if (_padded) yield return new(PaddedBody, RuntimeChecks.Accelerated("Vector256"), "Vector256 on a zero-padded copy", EmitPaddedBody);
        }
    }

    protected override IEnumerable<SharedDefinition> SharedHelpers =>
        _padded ? new[] { new SharedDefinition(PaddedCopy, EmitPaddedCopy), new SharedDefinition(PaddedSum, EmitPaddedSum) } : System.Array.Empty<SharedDefinition>();

    private static void EmitPaddedCopy(SourceWriter w)
    {
        w.Line("/// <summary>Plane <paramref name=\"c\"/> into a buffer of the depthwise zero-padded copies, row y at (y + 1)·(width + 1) + 1.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {PaddedCopy}<TShape>(ref float source, ref float buffer, int c) where TShape : struct, {ShapeInterface}"))
        {
            w.Line("int width = TShape.InWidth, stride = TShape.InWidth + 1;");
            w.Line("ref float plane = ref Unsafe.Add(ref source, TShape.InputPlane(c) * (TShape.InHeight * TShape.InWidth));");
            using (w.Open("if (width >= 8)"))
            {
                using (w.Open("for (int y = 0; y < TShape.InHeight; y++)"))
                {
                    w.Line("ref float from = ref Unsafe.Add(ref plane, y * width);");
                    w.Line("ref float to = ref Unsafe.Add(ref buffer, y * stride + stride + 1);");
                    w.Line("for (int x = 0; x < width - 8; x += 8) Vector256.LoadUnsafe(ref from, (nuint)x).StoreUnsafe(ref to, (nuint)x);");
                    w.Line("Vector256.LoadUnsafe(ref from, (nuint)(width - 8)).StoreUnsafe(ref to, (nuint)(width - 8));");
                }
                w.Line("return;");
            }
            // Seven columns: a vector per row, whose eighth float (the next row's first pixel) is cleared to the zero
            // column; the last row is read from one float earlier, so that float is cleared to its left zero column.
            using (w.Open("for (int y = 0; y < TShape.InHeight - 1; y++)"))
                w.Line("(Vector256.LoadUnsafe(ref plane, (nuint)(y * 7)) & Vector256.Create(-1, -1, -1, -1, -1, -1, -1, 0).AsSingle()).StoreUnsafe(ref buffer, (nuint)(y * 8 + 9));");
            w.Line("(Vector256.LoadUnsafe(ref plane, (nuint)(TShape.InHeight * 7 - 8)) & Vector256.Create(0, -1, -1, -1, -1, -1, -1, -1).AsSingle()).StoreUnsafe(ref buffer, (nuint)(TShape.InHeight * 8));");
        }
        w.Line();
    }

    protected override bool FromBias => true;

    protected override void EmitSharedChannelStart(SourceWriter w) => w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");

    protected override string BandParameters => ", ref float taps";

    protected override string BandArguments => ", ref taps";

    /// <summary>Nine broadcast taps stay in registers for the band's rows.</summary>
    protected override void EmitBandStart(SourceWriter w, Interior interior)
    {
        w.Line("float bias = Unsafe.Add(ref taps, 9);");
        for (int t = 0; t < 9; t++)
            w.Line(interior is Interior.Vector512 or Interior.Vector256 ? $"float k{t} = Unsafe.Add(ref taps, {t});" : $"var k{t}V = Vector128.Create(Unsafe.Add(ref taps, {t}));");
    }

    protected override void EmitEdgesStart(SourceWriter w)
    {
        w.Line("float bias = Unsafe.Add(ref taps, 9);");
        for (int t = 0; t < 9; t++) w.Line($"float k{t} = Unsafe.Add(ref taps, {t});");
    }

    /// <summary>Fused as the vector bodies' taps are (<c>Simd.MulAdd</c>), so an edge pixel has the same bits whichever variant computes it.</summary>
    protected override string GuardedScalarCombine(string value, string weight) => $"acc = Simd.MulAdd({value}, {weight}, acc);";

    protected override string VectorCombine(VectorTaps taps, string value, string weight, int lane) => MultiplyAddTap(taps, value, weight, lane);

    protected override string VectorWeight(VectorTaps taps, int t, string tapsRef) => taps.IsWide ? $"{taps.V}.Create(k{t})" : $"k{t}V";

    protected override string ScalarCombine(ScalarTaps taps, string value, string weight) =>
        $"{(taps.First ? "float acc" : "acc")} = Simd.MulAdd({value}, {weight}, {(taps.First ? "bias" : "acc")});";

    protected override string ScalarWeight(int t, string tapsRef) => $"k{t}";

    /// <summary>
    /// Depthwise with Vector256 (x64 without AVX-512, or the next pick after a Vector512 variant): each plane is copied
    /// into a buffer with zero rows above and below and one zero column between its rows (the right padding of a row
    /// and the left of the next), so every output is nine loads at fixed offsets (stride 2: de-interleaving ones) with
    /// no edge cases, a row a few overlapping vectors (seven columns: one vector, whose eighth lane the next row's store
    /// overwrites). A padding tap multiplies a zero into the sum, which leaves it as the edge-split bodies leave it by
    /// skipping the tap, so the bits are theirs. Measured (--ops, medians of three runs alternated with the build
    /// before, which ran the edge-split Vector256 and Vector128 bodies): v2 x1.0 stride 1 28x28 28.3 -> 18.8 us, 14x14
    /// 18.4 -> 9.8 us, 7x7 16.1 -> 5.8 us; 1x g=3 28x28 28.7 -> 19.4 us, 7x7 16.2 -> 5.8 us, and 14x14 10.8 -> 10.1 us
    /// against the literal padded copy this replaced. Stride 2: 14x14 16.7 -> 12.9 us (v2) and 17.0 -> 13.0 us (1x),
    /// 28x28 about even (21.9 -> 21.2, 22.2 -> 21.9 us); 56x56 lost (v2 43.2 -> 50.1, 1x 49.5 -> 57.8 us, medians of
    /// two runs: the copy of a plane four times its output costs more than the scalar column it saves), so it keeps
    /// the edge-split body.
    /// </summary>
    private static bool PaddedCopyApplies(WindowOp op, VectorWidths widths) =>
        (widths & VectorWidths.Vector256) != 0 && 2 * ((long)(op.Input.Height + 2) * (op.Input.Width + 1) + 4) <= MaxPaddedFloats
        && (op.Output.Width == 7 ? op.Input.Height >= 2 : op.Output.Width >= 8 && op.Output.Width < (op.Stride == 1 ? 32 : 16));

    /// <summary>One body for both strides: a shape's stride is whether its output is as wide as its input.</summary>
    private const string PaddedBody = Prefix + "Padded_V256";

    private const string PaddedCopy = Prefix + "Padded_V256_Copy";

    private const string PaddedSum = PaddedBody + "_Sum";

    private static void EmitPaddedBody(SourceWriter w)
    {
        w.Line($"/// <summary>3x3 depthwise convolution, stride 1 or 2, any <see cref=\"{ShapeInterface}\"/> with 7 to 31 output columns: Vector256 on a copy of each plane with zero rows around it and a zero column between rows.</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {PaddedBody}<TShape>(ref float source, ref float destination, ref float weights{RangeParameters}) where TShape : struct, {ShapeInterface}"))
        {
            // Planes of seven columns alternate two buffers, the next plane copied before the current one is read, so no
            // load waits on a store it straddles (one buffer measured 5.7 -> 7.2-7.8 us on 7x7); wider planes take one
            // (two measured slower where the int8 models call this per slot of four channels: the stack clearing of
            // modules without [SkipLocalsInit] doubles). [SkipLocalsInit] may leave the stack dirty: the zero cells are
            // cleared once here, and the copies never write them (but seven columns, whose copy clears each row's
            // eighth float itself).
            w.Line("if (part.Start >= part.Stop) return;");
            w.Line("int stride = TShape.InWidth + 1, length = stride * (TShape.InHeight + 2) + 4, buffers = TShape.InWidth == 7 ? 2 : 1;");
            w.Line("Span<float> buffer = stackalloc float[(TShape.InWidth == 7 ? 2 : 1) * ((TShape.InWidth + 1) * (TShape.InHeight + 2) + 4)];");
            w.Line("ref float first = ref MemoryMarshal.GetReference(buffer);");
            using (w.Open("for (int b = 0; b < buffers * length; b += length)"))
            {
                w.Line("buffer.Slice(b, stride + 1).Clear();");
                w.Line("for (int r = 2; r <= TShape.InHeight; r++) buffer[b + r * stride] = 0f;");
                w.Line("buffer.Slice(b + length - stride - 4, stride + 4).Clear();");
            }
            w.Line($"if (buffers == 2) {PaddedCopy}<TShape>(ref source, ref Unsafe.Add(ref first, (part.Start & 1) * length), part.Start);");
            using (w.Open(WorkRange.ChannelLoop))
            {
                w.Line("ref float current = ref Unsafe.Add(ref first, (c & 1) * (buffers - 1) * length);");
                w.Line($"if (buffers == 1) {PaddedCopy}<TShape>(ref source, ref current, c);");
                w.Line($"else if (c + 1 < part.Stop) {PaddedCopy}<TShape>(ref source, ref Unsafe.Add(ref first, ((c + 1) & 1) * length), c + 1);");
                w.Line("ref float output = ref Unsafe.Add(ref destination, TShape.OutputPlane(c) * (TShape.OutHeight * TShape.OutWidth));");
                EmitChannelTaps(w, "Vector256");
                using (w.Open("for (int oy = 0; oy < TShape.OutHeight; oy++)"))
                {
                    w.Line("ref float row0 = ref Unsafe.Add(ref current, (TShape.OutWidth == TShape.InWidth ? 1 : 2) * oy * stride);");
                    w.Line("ref float row1 = ref Unsafe.Add(ref row0, stride);");
                    w.Line("ref float row2 = ref Unsafe.Add(ref row0, 2 * stride);");
                    w.Line("ref float outputRow = ref Unsafe.Add(ref output, oy * TShape.OutWidth);");
                    // A row's vectors are written out, not looped over (with a loop, 1x g=3's 14x14 took 11.6-13 us against
                    // the literal copy's 8.2 in the same runs); the JIT drops those the width does not reach.
                    string sum = $"{PaddedSum}<TShape>(ref row0, ref row1, ref row2, {{0}}, bias, k0, k1, k2, k3, k4, k5, k6, k7, k8)";
                    w.Line($"var acc = {string.Format(sum, "0")};");
                    w.Line("if (TShape.OutWidth >= 8 || oy < TShape.OutHeight - 1) acc.StoreUnsafe(ref outputRow);");
                    using (w.Open("else"))
                    {
                        // The last row of seven would put its eighth lane past the plane: lanes 0-3, then 3-6.
                        w.Line("acc.GetLower().StoreUnsafe(ref outputRow);");
                        w.Line("Vector256.Shuffle(acc, Vector256.Create(3, 4, 5, 6, 7, 7, 7, 7)).GetLower().StoreUnsafe(ref outputRow, 3);");
                    }
                    foreach (int x in new[] { 8, 16, 24 })
                        w.Line($"if (TShape.OutWidth > {x}) {string.Format(sum, $"(nuint)Math.Min({x}, TShape.OutWidth - 8)")}.StoreUnsafe(ref outputRow, (nuint)Math.Min({x}, TShape.OutWidth - 8));");
                }
            }
        }
        w.Line();
    }

    private static void EmitPaddedSum(SourceWriter w)
    {
        w.Line($"/// <summary>Eight outputs of <see cref=\"{PaddedBody}\"/> from output column <paramref name=\"at\"/> of three buffer rows.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static Vector256<float> {PaddedSum}<TShape>(ref float row0, ref float row1, ref float row2, nuint at, Vector256<float> bias, {string.Join(", ", Enumerable.Range(0, 9).Select(t => $"Vector256<float> k{t}"))}) where TShape : struct, {ShapeInterface}"))
        {
            using (w.Open("if (TShape.OutWidth == TShape.InWidth)"))
            {
                EmitNineTaps(w, t => $"Vector256.LoadUnsafe(ref row{t / 3}, {(t % 3 == 0 ? "at" : $"at + {t % 3}")})");
                w.Line("return acc;");
            }
            using (w.Open("else"))
            {
                // Input column 2·at − 1 + kx is buffer column 2·at + kx: the left and right taps are the even floats from
                // 2·at and 2·at + 2, the centre ones the odd floats from 2·at, in SHUFPS's order until the sum is put right.
                EmitNineTaps(w, t => $"Simd.Load{(t % 3 == 1 ? "Odd" : "Even")}Swizzled256(ref Unsafe.Add(ref row{t / 3}, 2 * at{(t % 3 == 2 ? " + 2" : "")}))");
                w.Line("return Simd.Unswizzle256(acc);");
            }
        }
        w.Line();
    }

    /// <summary>Channel <c>c</c>'s bias and nine taps as vectors.</summary>
    private static void EmitChannelTaps(SourceWriter w, string vector)
    {
        w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");
        w.Line($"var bias = {vector}.Create(Unsafe.Add(ref taps, 9));");
        for (int t = 0; t < 9; t++) w.Line($"var k{t} = {vector}.Create(Unsafe.Add(ref taps, {t}));");
    }

    /// <summary>
    /// <c>acc</c>: the bias and the nine taps in the edge-split bodies' order, each a fused multiply-add of the vector
    /// <paramref name="value"/>(t), then the ReLU where the shape has one.
    /// </summary>
    private static void EmitNineTaps(SourceWriter w, System.Func<int, string> value)
    {
        for (int t = 0; t < 9; t++)
            w.Line(t == 0 ? $"var acc = Simd.MulAdd({value(t)}, k0, bias);" : $"acc = Simd.MulAdd({value(t)}, k{t}, acc);");
        w.Line("if (TShape.Relu) acc = Simd.Relu(acc);");
    }

    private string FlatMethodName => $"{Name}_Flat_V512";

    /// <summary>Vector starts covering <paramref name="count"/> columns, the last one overlapping its neighbour when needed.</summary>
    private static List<int> CoveringStarts(int count, int lanes)
    {
        var starts = new List<int>();
        for (int x = 0; x + lanes <= count; x += lanes) starts.Add(x);
        if (count % lanes != 0) starts.Add(count - lanes);
        return starts;
    }

    protected override void EmitOwnVariantMethods(SourceWriter w)
    {
        if (RowVectorsApply) EmitRowVectorVariant(w);
        if (_flat) EmitFlatVariant(w);
    }

    /// <summary>
    /// <see cref="Name"/> with each plane as one row: a copy of the plane with a zero row above and below (and a zero
    /// cell at each end) gives every tap of every pixel an in-bounds address, so a vector of sixteen pixels is nine
    /// loads at fixed offsets. A pixel in column 0 or W − 1 would take a left or right tap from the neighbouring row;
    /// those taps sum in accumulators of their own, which a constant mask per vector position clears in the lanes
    /// where they do not exist (a bitwise AND, so even a NaN or infinity next door cannot leak in). Two copy buffers
    /// alternate, and the next plane is copied before the current one is read, so no load waits on a store it
    /// straddles.
    /// </summary>
    private void EmitFlatVariant(SourceWriter w)
    {
        int width = Op.Input.Width, pixels = Op.Input.Pixels;
        int origin = 1 + width;                 // where pixel 0 sits in a buffer
        int length = pixels + 2 * width + 2;    // a buffer: zero cell, zero row, plane, zero row, zero cell
        var starts = CoveringStarts(pixels, FlatLanes);
        w.Line($"/// <summary><see cref=\"{Name}\"/> with each {Shape} plane as one row of {pixels} pixels, Vector512 across row ends.</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {FlatMethodName}(ref float source, ref float destination, ref float weights{RangeParameters})"))
        {
            // [SkipLocalsInit] may leave the stack dirty: clear the borders of both buffers (the copies fill the rest).
            w.Line($"Span<float> buffers = stackalloc float[{2 * length}];");
            w.Line("ref float first = ref MemoryMarshal.GetReference(buffers);");
            w.Line($"buffers.Slice(0, {origin}).Clear();");
            w.Line($"buffers.Slice({origin + pixels}, {2 * origin}).Clear();");
            w.Line($"buffers.Slice({length + origin + pixels}, {origin}).Clear();");
            // The first plane of the range goes to the buffer its channel's parity picks, as the loop expects.
            w.Line($"ref float firstPlane = ref Unsafe.Add(ref source, part.Start * {pixels});");
            w.Line($"ref float firstBuffer = ref Unsafe.Add(ref first, (part.Start & 1) * {length});");
            EmitPlaneCopy(w, "firstPlane", "firstBuffer", origin, starts);
            using (w.Open(WorkRange.ChannelLoop))
            {
                w.Line($"ref float current = ref Unsafe.Add(ref first, (c & 1) * {length});");
                using (w.Open("if (c + 1 < part.Stop)"))
                {
                    w.Line($"ref float next = ref Unsafe.Add(ref first, ((c + 1) & 1) * {length});");
                    w.Line($"ref float nextPlane = ref Unsafe.Add(ref source, (c + 1) * {pixels});");
                    EmitPlaneCopy(w, "nextPlane", "next", origin, starts);
                }
                w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {pixels});");
                EmitChannelTaps(w, "Vector512");
                foreach (int p0 in starts)
                {
                    using (w.OpenScope())
                    {
                        string Tap(int dy, int dx) => $"Vector512.LoadUnsafe(ref current, {origin + p0 + dy * width + dx})";
                        w.Line($"var centre = Simd.MulAdd({Tap(-1, 0)}, k1, bias);");
                        w.Line($"centre = Simd.MulAdd({Tap(0, 0)}, k4, centre);");
                        w.Line($"centre = Simd.MulAdd({Tap(1, 0)}, k7, centre);");
                        w.Line($"var left = {Tap(-1, -1)} * k0;");
                        w.Line($"left = Simd.MulAdd({Tap(0, -1)}, k3, left);");
                        w.Line($"left = Simd.MulAdd({Tap(1, -1)}, k6, left);");
                        w.Line($"var right = {Tap(-1, 1)} * k2;");
                        w.Line($"right = Simd.MulAdd({Tap(0, 1)}, k5, right);");
                        w.Line($"right = Simd.MulAdd({Tap(1, 1)}, k8, right);");
                        w.Line($"var acc = centre + (left & {ColumnMask(p0, width, exclude: 0)}) + (right & {ColumnMask(p0, width, exclude: width - 1)});");
                        if (Op.Relu) w.Line("acc = Simd.Relu(acc);");
                        w.Line($"acc.StoreUnsafe(ref output, {p0});");
                    }
                }
            }
        }
        w.Line();
    }

    /// <summary>A plane's pixels into a buffer at <paramref name="origin"/>, a vector at a time (the last overlapping).</summary>
    private static void EmitPlaneCopy(SourceWriter w, string from, string to, int origin, List<int> starts)
    {
        foreach (int p in starts) w.Line($"Vector512.LoadUnsafe(ref {from}, {p}).StoreUnsafe(ref {to}, {origin + p});");
    }

    /// <summary>All ones in the lanes of pixels p0 … p0 + 15 whose column is not <paramref name="exclude"/>, zero in the others.</summary>
    private static string ColumnMask(int p0, int width, int exclude)
    {
        var lanes = new string[FlatLanes];
        for (int i = 0; i < FlatLanes; i++) lanes[i] = (p0 + i) % width == exclude ? "0" : "-1";
        return $"Vector512.Create({string.Join(", ", lanes)}).AsSingle()";
    }

    /// <summary>
    /// The row-vector variant (stride 2): per input row, the three tap columns permuted out of its vectors, each with
    /// its weight; the left and right columns sum apart from the centre, so one mask per side clears the padding.
    /// </summary>
    private void EmitRowVectorVariant(SourceWriter w)
    {
        EmitRowVectorMethod(w, $"<see cref=\"{Name}\"/> with one output row per Vector512.", ", ref float weights", () =>
        {
            EmitChannelTaps(w, "Vector512");
        }, rowMask =>
        {
            bool first = true;
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                EmitRowVectorLoad(w, "plane", ky);
                w.Line(first ? $"var centre = Simd.MulAdd({RowTap(ky, 1)}, k{3 * ky + 1}, bias);" : $"centre = Simd.MulAdd({RowTap(ky, 1)}, k{3 * ky + 1}, centre);");
                w.Line(first ? $"var left = {RowTap(ky, 0)} * k{3 * ky};" : $"left = Simd.MulAdd({RowTap(ky, 0)}, k{3 * ky}, left);");
                w.Line(first ? $"var right = {RowTap(ky, 2)} * k{3 * ky + 2};" : $"right = Simd.MulAdd({RowTap(ky, 2)}, k{3 * ky + 2}, right);");
                first = false;
            }
            string Masked(string sum, int dx) => TapMask(dx) is { } mask ? $"({sum} & {mask})" : sum;
            w.Line($"var acc = centre + {Masked("left", 0)} + {Masked("right", 2)};");
            if (Op.Relu) w.Line("acc = Simd.Relu(acc);");
            EmitRowVectorStore(w, "acc");
        });
    }
}
