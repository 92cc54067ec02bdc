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

    public DepthwiseKernel(WindowOp op, VectorWidths widths) : base(op, widths) => _padded = PaddedCopyPlan(op, widths);

    public const string Prefix = "Depthwise3x3_";

    public override string Name => $"{Prefix}s{Op.Stride}_{Op.Channels}ch_{Shape}{(Op.Relu ? "_Relu" : "")}";

    protected override string Summary => $"3x3 depthwise convolution, stride {Op.Stride}, {Op.Channels} channels on {Shape}, batch norm folded.";

    /// <summary>Stride-1 depthwise has nothing NEON does better than the portable code, which already compiles to FMLA.</summary>
    protected override string? NeonInstructions => Op.Stride == 2 ? "AdvSimd uzp1/uzp2, fmla" : null;

    protected override string WeightsParameter => ", ref float weights";

    public override string? PackStatement => WindowPackStatement;

    public override string CallStatement() => WeightedCallStatement();

    protected override void AddPaths(List<(string?, string)> paths)
    {
        if (_padded is { } plan) paths.Add((plan.Condition, plan.Vector + " on a zero-padded copy"));
    }

    protected override void EmitChannelStart(SourceWriter w)
    {
        base.EmitChannelStart(w);
        w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");
        w.Line("float bias = Unsafe.Add(ref taps, 9);");
        w.Line("var biasV = Vector128.Create(bias);");
        // Nine broadcast taps stay in registers for the whole plane.
        for (int t = 0; t < 9; t++) w.Line($"float k{t} = Unsafe.Add(ref taps, {t}); var k{t}V = Vector128.Create(k{t});");
    }

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

    protected override void EmitVariantDispatch(SourceWriter w)
    {
        if (_padded is not { } plan) return;
        using (w.Open($"if ({plan.Condition})"))
        {
            w.Line($"{PaddedCopyMethodName(plan)}(ref source, ref destination, ref weights);");
            w.Line("return;");
        }
    }

    /// <summary>Vector starts covering <paramref name="count"/> columns, the last one overlapping its neighbour when needed.</summary>
    private static List<int> CoveringStarts(int count, int lanes)
    {
        var starts = new List<int>();
        for (int x = 0; x + lanes <= count; x += lanes) starts.Add(x);
        if (count % lanes != 0) starts.Add(count - lanes);
        return starts;
    }

    protected override void EmitVariantMethods(SourceWriter w)
    {
        if (_padded is not { } plan) return;
        var op = Op;
        int height = op.Input.Height, width = op.Input.Width, paddedWidth = width + 2;
        string V = plan.Vector;
        var starts = CoveringStarts(width, plan.Lanes);
        w.Line($"/// <summary><see cref=\"{Name}\"/> on a zero-bordered copy of each plane, {V} ({plan.Lanes} columns per vector, no edge cases).</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {PaddedCopyMethodName(plan)}(ref float source, ref float destination, ref float weights)"))
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
            using (Loop.Open(w, "c", 0, op.Channels))
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
}
