using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The 3x3 depthwise convolution of a unit's branch, stride 1 or 2: nine broadcast taps per channel stay in registers
/// for the whole plane. Stride 1 on mid-sized planes adds a variant that runs on a zero-padded copy of each plane.
/// </summary>
internal sealed class DepthwiseKernel : WindowKernel
{
    /// <summary>Padded planes above this many floats (64 KiB of stack) keep the edge-split kernel.</summary>
    private const int MaxPaddedFloats = 16384;

    private readonly PaddedPlan? _padded;

    private readonly bool _flat;

    public DepthwiseKernel(WindowOp op, VectorWidths widths) : base(op, widths)
    {
        // A table kernel runs the shared bodies only (see WindowKernel.PlaneTables).
        _padded = PlaneTables ? null : PaddedCopyPlan(op, widths);
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

    protected override bool Vector256DoneByOwnVariant => _padded is { Vector: "Vector256" };

    protected override void AddOwnVariants(List<KernelVariant> variants)
    {
        if (_flat) variants.Add(new(RuntimeChecks.Vector512Accelerated, FlatMethodName, "Vector512 across rows of a copy with zero rows around it"));
        if (RowVectorsApply) variants.Add(new(RuntimeChecks.Vector512Accelerated, RowVectorsMethodName, "Vector512, a row per vector"));
        if (_padded is { } plan) variants.Add(new(plan.Condition, PaddedCopyMethodName(plan), plan.Vector + " on a zero-padded copy"));
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

    protected override string GuardedScalarCombine(string value, string weight) => $"acc += {value} * {weight};";

    protected override string VectorCombine(VectorTaps taps, string value, string weight, int lane) => MultiplyAddTap(taps, value, weight, lane);

    protected override string VectorWeight(VectorTaps taps, int t, string tapsRef) => taps.IsWide ? $"{taps.V}.Create(k{t})" : $"k{t}V";

    protected override string ScalarCombine(ScalarTaps taps, string value, string weight) => MultiplyAddTap(taps, value, weight);

    protected override string ScalarWeight(int t, string tapsRef) => $"k{t}";

    /// <summary>Vector type, lanes and the runtime check of a stride-1 depthwise kernel that runs on a zero-padded copy.</summary>
    private sealed record PaddedPlan(string Vector, int Lanes)
    {
        public string Condition => RuntimeChecks.Accelerated(Vector);
    }

    /// <summary>
    /// Stride-1 depthwise on x64 with wide vectors: copying each plane into a zero-bordered buffer removes every edge
    /// case, so a row is a few overlapping vectors of nine FMAs (a 14-wide row: two Vector256) instead of a Vector128
    /// interior plus scalar edge columns.
    /// Null where it does not apply (ARM64 and narrower x64 keep the edge-split kernel, and its AdvSimd branches).
    /// </summary>
    private static PaddedPlan? PaddedCopyPlan(WindowOp op, VectorWidths widths)
    {
        if (op.Stride != 1 || (widths & VectorWidths.Vector256) == 0) return null;
        int width = op.Input.Width;
        if ((long)(op.Input.Height + 2) * (width + 2) > MaxPaddedFloats) return null;
        // Measured on 1x g=3 (--ops, alternating builds): 14x14 planes 12.7 -> 9.3 us per kernel with Vector256;
        // 28x28 with Vector512 unchanged (17.0 us: a 26-column interior was already two vectors) and 7x7 with
        // Vector128 slower (9.1 -> 10.0 us), so only planes 8 to 15 columns wide take this path.
        if (width >= 8 && width < 16) return new PaddedPlan("Vector256", 8);
        return null;
    }

    private string PaddedCopyMethodName(PaddedPlan plan) => $"{Name}_PaddedCopy_{plan.Vector.Replace("Vector", "V")}";

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
        if (_padded is not { } plan) return;
        var op = Op;
        int height = op.Input.Height, width = op.Input.Width, paddedWidth = width + 2;
        string V = plan.Vector;
        var starts = CoveringStarts(width, plan.Lanes);
        w.Line($"/// <summary><see cref=\"{Name}\"/> on a zero-bordered copy of each plane, {V} ({plan.Lanes} columns per vector, no edge cases).</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {PaddedCopyMethodName(plan)}(ref float source, ref float destination, ref float weights{RangeParameters})"))
        {
            // The consumer's module may have [SkipLocalsInit], so stackalloc memory holds whatever was on the stack. The
            // copies below overwrite the whole interior of every plane, so only the border is cleared, once: the top row
            // with the first left cell, each right cell with the next row's left cell (adjacent in memory), and the last
            // right cell with the bottom row.
            w.Line($"Span<float> paddedPlane = stackalloc float[{(height + 2) * paddedWidth}];");
            w.Line("ref float padded = ref MemoryMarshal.GetReference(paddedPlane);");
            w.Line($"paddedPlane.Slice(0, {paddedWidth + 1}).Clear();");
            using (Loop.Open(w, "y", 1, height))
            {
                w.Line($"Unsafe.Add(ref padded, y * {paddedWidth} + {paddedWidth - 1}) = 0f;");
                w.Line($"Unsafe.Add(ref padded, y * {paddedWidth} + {paddedWidth}) = 0f;");
            }
            w.Line($"paddedPlane.Slice({height * paddedWidth + paddedWidth - 1}).Clear();");
            using (w.Open(WorkRange.ChannelLoop))
            {
                w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {InPixels});");
                w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {OutPixels});");
                w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");
                w.Line($"var bias = {V}.Create(Unsafe.Add(ref taps, 9));");
                for (int t = 0; t < 9; t++) w.Line($"var k{t} = {V}.Create(Unsafe.Add(ref taps, {t}));");
                using (Loop.Open(w, "y", 0, height))
                {
                    w.Line($"ref float from = ref Unsafe.Add(ref plane, y * {width});");
                    w.Line($"ref float to = ref Unsafe.Add(ref padded, y * {paddedWidth} + {paddedWidth + 1});");
                    foreach (int x in starts) w.Line($"{V}.LoadUnsafe(ref from, {x}).StoreUnsafe(ref to, {x});");
                }
                using (Loop.Open(w, "oy", 0, height))
                {
                    w.Line($"ref float row0 = ref Unsafe.Add(ref padded, oy * {paddedWidth});");
                    w.Line($"ref float row1 = ref Unsafe.Add(ref row0, {paddedWidth});");
                    w.Line($"ref float row2 = ref Unsafe.Add(ref row0, {2 * paddedWidth});");
                    w.Line($"ref float outputRow = ref Unsafe.Add(ref output, oy * {width});");
                    foreach (int x in starts)
                    {
                        using (w.OpenScope())
                        {
                            for (int t = 0; t < 9; t++)
                            {
                                string value = $"{V}.LoadUnsafe(ref row{t / 3}, {x + t % 3})";
                                w.Line(t == 0 ? $"var acc = Simd.MulAdd({value}, k0, bias);" : $"acc = Simd.MulAdd({value}, k{t}, acc);");
                            }
                            if (op.Relu) w.Line("acc = Simd.Relu(acc);");
                            w.Line($"acc.StoreUnsafe(ref outputRow, {x});");
                        }
                    }
                }
            }
        }
        w.Line();
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
                w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");
                w.Line("var bias = Vector512.Create(Unsafe.Add(ref taps, 9));");
                for (int t = 0; t < 9; t++) w.Line($"var k{t} = Vector512.Create(Unsafe.Add(ref taps, {t}));");
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
            w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");
            w.Line("var bias = Vector512.Create(Unsafe.Add(ref taps, 9));");
            for (int t = 0; t < 9; t++) w.Line($"var k{t} = Vector512.Create(Unsafe.Add(ref taps, {t}));");
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
