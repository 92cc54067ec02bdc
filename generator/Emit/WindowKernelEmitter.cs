using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// Emits a 3x3, padding-1 window kernel over NCHW planes: the stem convolution, depthwise convolutions and the max and
/// average pools share the access pattern and differ only in how taps combine. Rows and columns are split at
/// generation time into edge cases (where some taps fall in the padding, decided once here, not per pixel at run
/// time) and an interior that runs on Vector128 across four output columns, or on Vector512 across sixteen where that
/// is accelerated and the interior is wide enough. (The kernel names still end in _V128, the portable path; they
/// predate the Vector512 interior.)
/// </summary>
internal static class WindowKernelEmitter
{
    private const int Lanes = 4;

    public static string KernelName(WindowOp op)
    {
        string shape = $"{op.Input.Height}x{op.Input.Width}";
        return op.Kind switch
        {
            WindowKind.Convolution => $"Conv3x3_s{op.Stride}_{op.InputPlanes}to{op.Channels}_{shape}{(op.Relu ? "_Relu" : "")}_V128",
            WindowKind.Depthwise => $"Depthwise3x3_s{op.Stride}_{op.Channels}ch_{shape}{(op.Relu ? "_Relu" : "")}_V128",
            WindowKind.MaxPool => $"MaxPool3x3_s{op.Stride}_{op.Channels}ch_{shape}_V128",
            _ => $"AvgPool3x3_s{op.Stride}_{op.Channels}ch_{shape}{(op.Relu ? "_Relu" : "")}_V128",
        };
    }

    public static void Emit(SourceWriter w, WindowOp op, TargetWidths target)
    {
        var k = new Geometry(op, target);
        var paddedPlan = PaddedCopyPlan(op, target);
        string weightsParameter = op.HasWeights ? ", ref float weights" : "";
        w.Line($"/// <summary>{Describe(op)}</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float destination{weightsParameter})"))
        {
            if (k.BlockedInterior)
            {
                using (w.Open($"if ({RuntimeChecks.Vector512Accelerated})"))
                    EmitBlockedConvolution(w, k);
            }
            if (paddedPlan is { } plan)
            {
                using (w.Open($"if ({plan.Condition})"))
                {
                    w.Line($"{PaddedCopyMethodName(op, plan)}(ref source, ref destination, ref weights);");
                    w.Line("return;");
                }
            }
            using (w.Open($"for (int c = 0; c < {op.Channels}; c++)"))
            {
                string planeOffset = op.Kind == WindowKind.Convolution ? "0" : $"c * {k.InPixels}";
                w.Line($"ref float plane = ref Unsafe.Add(ref source, {planeOffset});");
                w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {k.OutPixels});");
                if (op.HasWeights)
                {
                    w.Line($"ref float taps = ref Unsafe.Add(ref weights, c * {op.InputPlanes * 9 + 1});");
                    w.Line($"float bias = Unsafe.Add(ref taps, {op.InputPlanes * 9});");
                    w.Line("var biasV = Vector128.Create(bias);");
                }
                if (op.Kind == WindowKind.Depthwise)
                {
                    // Nine broadcast taps stay in registers for the whole plane.
                    for (int t = 0; t < 9; t++) w.Line($"float k{t} = Unsafe.Add(ref taps, {t}); var k{t}V = Vector128.Create(k{t});");
                }
                foreach (var rows in Segments(op.Output.Height, k.RowMask))
                {
                    if (rows.Start + 1 == rows.End)
                    {
                        EmitRow(w, k, rows.Mask, oy: rows.Start.ToString());
                    }
                    else
                    {
                        using (w.Open($"for (int oy = {rows.Start}; oy < {rows.End}; oy++)"))
                            EmitRow(w, k, rows.Mask, oy: "oy");
                    }
                }
            }
        }
        w.Line();
        if (k.BlockedInterior)
        {
            foreach (int channels in BlockSizes(op))
                EmitConvolutionBlockMethod(w, k, channels);
        }
        if (paddedPlan is not null)
            EmitPaddedCopyMethod(w, k, paddedPlan);
    }

    /// <summary>Vector type, lanes and the runtime check of a stride-1 depthwise kernel that runs on a zero-padded copy.</summary>
    internal sealed record PaddedPlan(string Vector, int Lanes)
    {
        public string Condition => RuntimeChecks.Accelerated(Vector);
    }

    /// <summary>Padded planes above this many floats (64 KiB of stack) keep the edge-split kernel.</summary>
    private const int MaxPaddedFloats = 16384;

    /// <summary>
    /// Stride-1 depthwise on x64 with wide vectors: copying each plane into a zero-bordered buffer removes every edge
    /// case, so a row is a few overlapping vectors of nine FMAs (a 14-wide row: two Vector256) instead of a Vector128
    /// interior plus scalar edge columns.
    /// Null where it does not apply (ARM64 and narrower x64 keep the edge-split kernel, and its AdvSimd branches), and
    /// where the build's target cannot take it.
    /// </summary>
    internal static PaddedPlan? PaddedCopyPlan(WindowOp op, TargetWidths target)
    {
        if (op.Kind != WindowKind.Depthwise || op.Stride != 1) return null;
        int width = op.Input.Width;
        if ((long)(op.Input.Height + 2) * (width + 2) > MaxPaddedFloats) return null;
        // Measured on 1x g=3 (--ops, alternating builds): 14x14 planes 12.7 -> 9.3 us per kernel with Vector256;
        // 28x28 with Vector512 unchanged (17.0 us: a 26-column interior was already two vectors) and 7x7 with
        // Vector128 slower (9.1 -> 10.0 us), so only planes 8 to 15 columns wide take this path.
        var plan = width >= 8 && width < 16 ? new PaddedPlan("Vector256", 8) : null;
        return plan is not null && target.CanHold(plan.Condition) ? plan : null;
    }

    private static string PaddedCopyMethodName(WindowOp op, PaddedPlan plan) =>
        KernelName(op).Replace("_V128", $"_PaddedCopy_{plan.Vector.Replace("Vector", "V")}");

    /// <summary>Vector starts covering <paramref name="count"/> columns, the last one overlapping its neighbour when needed.</summary>
    private static List<int> CoveringStarts(int count, int lanes)
    {
        var starts = new List<int>();
        for (int x = 0; x + lanes <= count; x += lanes) starts.Add(x);
        if (count % lanes != 0) starts.Add(count - lanes);
        return starts;
    }

    private static void EmitPaddedCopyMethod(SourceWriter w, Geometry k, PaddedPlan plan)
    {
        var op = k.Op;
        int height = op.Input.Height, width = op.Input.Width, paddedWidth = width + 2;
        string V = plan.Vector;
        var starts = CoveringStarts(width, plan.Lanes);
        w.Line($"/// <summary><see cref=\"{KernelName(op)}\"/> on a zero-bordered copy of each plane, {V} ({plan.Lanes} columns per vector, no edge cases).</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {PaddedCopyMethodName(op, plan)}(ref float source, ref float destination, ref float weights)"))
        {
            // The consumer's module may have [SkipLocalsInit], so stackalloc memory holds whatever was on the stack. The
            // copies below overwrite the whole interior of every plane, so only the border is cleared, once: the top row
            // with the first left cell, each right cell with the next row's left cell (adjacent in memory), and the last
            // right cell with the bottom row.
            w.Line($"Span<float> paddedPlane = stackalloc float[{(height + 2) * paddedWidth}];");
            w.Line("ref float padded = ref MemoryMarshal.GetReference(paddedPlane);");
            w.Line($"paddedPlane.Slice(0, {paddedWidth + 1}).Clear();");
            using (w.Open($"for (int y = 1; y < {height}; y++)"))
            {
                w.Line($"Unsafe.Add(ref padded, y * {paddedWidth} + {paddedWidth - 1}) = 0f;");
                w.Line($"Unsafe.Add(ref padded, y * {paddedWidth} + {paddedWidth}) = 0f;");
            }
            w.Line($"paddedPlane.Slice({height * paddedWidth + paddedWidth - 1}).Clear();");
            using (w.Open($"for (int c = 0; c < {op.Channels}; c++)"))
            {
                w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {k.InPixels});");
                w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {k.OutPixels});");
                w.Line("ref float taps = ref Unsafe.Add(ref weights, c * 10);");
                w.Line($"var bias = {V}.Create(Unsafe.Add(ref taps, 9));");
                for (int t = 0; t < 9; t++) w.Line($"var k{t} = {V}.Create(Unsafe.Add(ref taps, {t}));");
                using (w.Open($"for (int y = 0; y < {height}; y++)"))
                {
                    w.Line($"ref float from = ref Unsafe.Add(ref plane, y * {width});");
                    w.Line($"ref float to = ref Unsafe.Add(ref padded, y * {paddedWidth} + {paddedWidth + 1});");
                    foreach (int x in starts) w.Line($"{V}.LoadUnsafe(ref from, {x}).StoreUnsafe(ref to, {x});");
                }
                using (w.Open($"for (int oy = 0; oy < {height}; oy++)"))
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
                            if (op.Relu) w.Line($"acc = {V}.Max(acc, {V}<float>.Zero);");
                            w.Line($"acc.StoreUnsafe(ref outputRow, {x});");
                        }
                    }
                }
            }
        }
        w.Line();
    }

    private static string Describe(WindowOp op) => op.Kind switch
    {
        WindowKind.Convolution => $"3x3 convolution, stride {op.Stride}, {op.InputPlanes} to {op.Channels} channels on {op.Input.Height}x{op.Input.Width}, batch norm folded{(op.Relu ? ", ReLU" : "")}.",
        WindowKind.Depthwise => $"3x3 depthwise convolution, stride {op.Stride}, {op.Channels} channels on {op.Input.Height}x{op.Input.Width}, batch norm folded.",
        WindowKind.MaxPool => $"3x3 max pool, stride {op.Stride}, {op.Channels} channels on {op.Input.Height}x{op.Input.Width}; padded cells never win.",
        _ => $"3x3 average pool, stride {op.Stride}, {op.Channels} channels on {op.Input.Height}x{op.Input.Width}; always divides by 9 (padding counted){(op.Relu ? ", then ReLU" : "")}.",
    };

    private static void EmitRow(SourceWriter w, Geometry k, int rowMask, string oy)
    {
        bool literal = oy != "oy";
        // A literal row needs its own scope so its locals do not clash with the next row's; a loop body has one.
        using (literal ? w.OpenScope() : default)
        {
            EmitRowOffsets(w, k, rowMask, oy);

            foreach (var cols in Segments(k.Op.Output.Width, k.ColumnMask))
            {
                int length = cols.End - cols.Start;
                if (cols.Mask == 0b111 && length >= WideLanes && k.BlockedInterior)
                {
                    // Done above for all channels at once where Vector512 is accelerated.
                    using (w.Open($"if (!{RuntimeChecks.Vector512Accelerated})"))
                        EmitInterior128WithNeon(w, k, rowMask, cols.Start, cols.End);
                }
                else if (cols.Mask == 0b111 && length >= WideLanes && k.Vector512OnTarget)
                {
                    // AVX-512: sixteen output columns per vector; the Vector128 code below is the portable path.
                    using (w.Open($"if ({RuntimeChecks.Vector512Accelerated})"))
                    {
                        using (w.Open($"for (int ox = {cols.Start}; ox <= {cols.End - WideLanes}; ox += {WideLanes})"))
                            EmitVector(w, k, rowMask, "ox", Wide);
                        if (length % WideLanes != 0)
                        {
                            using (w.OpenScope())
                                EmitVector(w, k, rowMask, (cols.End - WideLanes).ToString(), Wide);
                        }
                    }
                    using (w.Open("else"))
                        EmitInterior128WithNeon(w, k, rowMask, cols.Start, cols.End);
                }
                else if (cols.Mask == 0b111 && length >= Lanes)
                {
                    EmitInterior128WithNeon(w, k, rowMask, cols.Start, cols.End);
                }
                else if (length == 1)
                {
                    using (w.OpenScope())
                        EmitScalar(w, k, rowMask, cols.Mask, cols.Start.ToString());
                }
                else
                {
                    using (w.Open($"for (int ox = {cols.Start}; ox < {cols.End}; ox++)"))
                        EmitScalar(w, k, rowMask, cols.Mask, "ox");
                }
            }
        }
    }

    /// <summary><c>rowN</c> (start of input row ky) and <c>outRow</c> for output row <paramref name="oy"/> (a literal or <c>oy</c>).</summary>
    private static void EmitRowOffsets(SourceWriter w, Geometry k, int rowMask, string oy)
    {
        bool literal = oy != "oy";
        for (int ky = 0; ky < 3; ky++)
        {
            if ((rowMask & (1 << ky)) == 0) continue;
            string rowStart = literal
                ? ((int.Parse(oy) * k.Op.Stride + ky - 1) * k.Op.Input.Width).ToString()
                : $"({Affine("oy", k.Op.Stride, ky - 1)}) * {k.Op.Input.Width}";
            w.Line($"int row{ky} = {rowStart};");
        }
        w.Line($"int outRow = {(literal ? (int.Parse(oy) * k.Op.Output.Width).ToString() : $"oy * {k.Op.Output.Width}")};");
    }

    /// <summary>Output channels a blocked convolution interior computes per loaded input vector.</summary>
    private const int ConvolutionBlock = 8;

    /// <summary>
    /// The Vector512 interiors of a convolution, <see cref="ConvolutionBlock"/> output channels at a time (measured on
    /// the 224x224 stem: per-channel interiors spent most of their time re-loading and re-permuting the same input).
    /// Edges and narrow interiors stay in the per-channel loop that follows.
    /// </summary>
    private static void EmitBlockedConvolution(SourceWriter w, Geometry k)
    {
        var op = k.Op;
        int tapStride = op.InputPlanes * 9 + 1;
        int full = op.Channels / ConvolutionBlock;
        int tail = op.Channels % ConvolutionBlock;
        string Call(int channels, string c0) =>
            $"{BlockMethodName(op, channels)}(ref source, ref Unsafe.Add(ref destination, {c0} * {k.OutPixels}), ref Unsafe.Add(ref weights, {c0} * {tapStride}));";
        if (full > 0)
            w.Line($"for (int c0 = 0; c0 < {full * ConvolutionBlock}; c0 += {ConvolutionBlock}) {Call(ConvolutionBlock, "c0")}");
        if (tail > 0)
            w.Line(Call(tail, (full * ConvolutionBlock).ToString()));
    }

    private static IEnumerable<int> BlockSizes(WindowOp op)
    {
        if (op.Channels >= ConvolutionBlock) yield return ConvolutionBlock;
        if (op.Channels % ConvolutionBlock != 0) yield return op.Channels % ConvolutionBlock;
    }

    private static string BlockMethodName(WindowOp op, int channels) => KernelName(op).Replace("_V128", $"_Interior{channels}ch_V512");

    /// <summary>
    /// The Vector512 interiors of <paramref name="channels"/> output channels, as a method of its own: inlined into
    /// the kernel, a second block size (e.g. 8 + 4 for a 12-channel stem) made the 0.5x stem 13x slower (1222 µs
    /// against 93 µs as separate methods), most likely because the method outgrew the JIT's tracked-locals limit.
    /// </summary>
    private static void EmitConvolutionBlockMethod(SourceWriter w, Geometry k, int channels)
    {
        var op = k.Op;
        w.Line($"/// <summary>Vector512 interior columns of {channels} output channels of <see cref=\"{KernelName(op)}\"/>.</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {BlockMethodName(op, channels)}(ref float source, ref float blockOutput, ref float blockTaps)"))
            EmitConvolutionBlock(w, k, channels);
        w.Line();
    }

    private static void EmitConvolutionBlock(SourceWriter w, Geometry k, int channels)
    {
        var op = k.Op;
        foreach (var rows in Segments(op.Output.Height, k.RowMask))
        {
            bool single = rows.Start + 1 == rows.End;
            using (single ? w.OpenScope() : w.Open($"for (int oy = {rows.Start}; oy < {rows.End}; oy++)"))
            {
                string oy = single ? rows.Start.ToString() : "oy";
                EmitRowOffsets(w, k, rows.Mask, oy);
                foreach (var cols in Segments(op.Output.Width, k.ColumnMask))
                {
                    int length = cols.End - cols.Start;
                    if (cols.Mask != 0b111 || length < WideLanes) continue;
                    using (w.Open($"for (int ox = {cols.Start}; ox <= {cols.End - WideLanes}; ox += {WideLanes})"))
                        EmitConvolutionBlockVector(w, k, rows.Mask, "ox", channels);
                    if (length % WideLanes != 0)
                    {
                        using (w.OpenScope())
                            EmitConvolutionBlockVector(w, k, rows.Mask, (cols.End - WideLanes).ToString(), channels);
                    }
                }
            }
        }
    }

    private static void EmitConvolutionBlockVector(SourceWriter w, Geometry k, int rowMask, string ox, int channels)
    {
        var op = k.Op;
        int s = op.Stride;
        int tapStride = op.InputPlanes * 9 + 1;
        for (int j = 0; j < channels; j++)
            w.Line($"var acc{j} = Vector512.Create(Unsafe.Add(ref blockTaps, {j * tapStride + op.InputPlanes * 9}));");
        using (w.Open($"for (int ci = 0; ci < {op.InputPlanes}; ci++)"))
        {
            w.Line($"ref float inputPlane = ref Unsafe.Add(ref source, ci * {k.InPixels});");
            w.Line("ref float ciTaps = ref Unsafe.Add(ref blockTaps, ci * 9);");
            string column = Affine(ox, s, s == 1 ? -1 : 0);
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                w.Line($"ref float in{ky} = ref Unsafe.Add(ref inputPlane, row{ky} + {column});");
                for (int kx = 0; kx < 3; kx++)
                {
                    int t = ky * 3 + kx;
                    w.Line($"var x{t} = {TapLoad("Vector512", s, ky, kx)};");
                    for (int j = 0; j < channels; j++)
                        w.Line($"acc{j} = Simd.MulAdd(x{t}, Vector512.Create(Unsafe.Add(ref ciTaps, {j * tapStride + t})), acc{j});");
                }
            }
        }
        for (int j = 0; j < channels; j++)
        {
            if (op.Relu) w.Line($"acc{j} = Vector512.Max(acc{j}, Vector512<float>.Zero);");
            w.Line($"acc{j}.StoreUnsafe(ref blockOutput, (nuint)({(j == 0 ? "" : $"{j * k.OutPixels} + ")}outRow + {ox}));");
        }
    }

    private const int WideLanes = 16;
    private static readonly (string Vector, int Lanes) Narrow = ("Vector128", 4);
    private static readonly (string Vector, int Lanes) Wide = ("Vector512", 16);

    /// <summary>
    /// Whether the kernel has an AdvSimd interior: stride-2 windows (de-interleaving, and pairwise max/add for pools)
    /// and the stem convolution (FMLA by element on a vector of taps). Stride-1 depthwise has nothing NEON does better
    /// than the portable code, which already compiles to FMLA.
    /// </summary>
    internal static bool HasNeonVariant(WindowOp op) => op.Stride == 2 || op.Kind == WindowKind.Convolution;

    /// <summary>
    /// The input vector of tap (ky, kx) for the output columns at <c>ox</c>, from <c>in{ky}</c> (input row ky at the
    /// window's first column). Stride 2 de-interleaves: centre taps are the even lanes, left and right taps the odd ones.
    /// </summary>
    private static string TapLoad(string vector, int stride, int ky, int kx)
    {
        if (stride == 1) return kx == 0 ? $"{vector}.LoadUnsafe(ref in{ky})" : $"{vector}.LoadUnsafe(ref in{ky}, {kx})";
        string suffix = vector == "Vector512" ? "512" : "";
        return kx switch
        {
            0 => $"Simd.LoadOdd{suffix}(ref Unsafe.Subtract(ref in{ky}, 2))",
            1 => $"Simd.LoadEven{suffix}(ref in{ky})",
            _ => $"Simd.LoadOdd{suffix}(ref in{ky})",
        };
    }

    /// <summary>The path this kernel's interiors take, as a C# expression over the conditions they branch on.</summary>
    public static string PathExpression(WindowOp op, TargetWidths target)
    {
        var k = new Geometry(op, target);
        var paths = new List<(string?, string)>();
        if (PaddedCopyPlan(op, target) is { } plan) paths.Add((plan.Condition, plan.Vector + " on a zero-padded copy"));
        if (k.LongestInterior >= WideLanes) paths.Add((RuntimeChecks.Vector512Accelerated, "Vector512"));
        if (k.LongestInterior >= Lanes && HasNeonVariant(op)) paths.Add((RuntimeChecks.AdvSimdArm64, "Vector128, " + NeonDescription(op)));
        paths.Add((null, k.LongestInterior >= Lanes ? "Vector128" : "scalar (no interior of four columns)"));
        return ModelEmitter.ChoosePath(paths, target);
    }

    /// <summary>The instructions each path of this kernel uses, for the generated <c>KernelPaths</c> report.</summary>
    internal static string NeonDescription(WindowOp op) => op.Kind switch
    {
        WindowKind.MaxPool => "AdvSimd fmaxp+uzp2",
        WindowKind.AveragePool => "AdvSimd faddp+uzp2",
        WindowKind.Convolution => op.Stride == 2 ? "AdvSimd uzp1/uzp2, fmla by element" : "AdvSimd fmla by element",
        _ => "AdvSimd uzp1/uzp2, fmla",
    };

    private static void EmitInterior128WithNeon(SourceWriter w, Geometry k, int rowMask, int start, int end)
    {
        if (!k.NeonOnTarget)
        {
            EmitInterior128(w, k, rowMask, start, end, neon: false);
            return;
        }
        using (w.Open($"if ({RuntimeChecks.AdvSimdArm64})"))
            EmitInterior128(w, k, rowMask, start, end, neon: true);
        using (w.Open("else"))
            EmitInterior128(w, k, rowMask, start, end, neon: false);
    }

    /// <summary>Interior columns on Vector128: four columns per vector, the last four recomputed when the count is not a multiple.</summary>
    private static void EmitInterior128(SourceWriter w, Geometry k, int rowMask, int start, int end, bool neon)
    {
        int length = end - start;
        if (length < 2 * Lanes)
        {
            using (w.OpenScope())
                EmitVector(w, k, rowMask, start.ToString(), Narrow, neon);
        }
        else
        {
            using (w.Open($"for (int ox = {start}; ox <= {end - Lanes}; ox += {Lanes})"))
                EmitVector(w, k, rowMask, "ox", Narrow, neon);
        }
        if (length % Lanes != 0)
        {
            // Recompute the last four columns instead of a scalar tail: the overlap writes equal values.
            using (w.OpenScope())
                EmitVector(w, k, rowMask, (end - Lanes).ToString(), Narrow, neon);
        }
    }

    private static void EmitVector(SourceWriter w, Geometry k, int rowMask, string ox, (string Vector, int Lanes) width, bool neon = false)
    {
        string V = width.Vector;
        bool wide = width.Lanes != Lanes;
        var op = k.Op;
        int s = op.Stride;
        bool first = true;
        string column = Affine(ox, s, s == 1 ? -1 : 0);
        // lane >= 0: the weight is that lane of the tap vector weightExpr (AdvSimd only).
        void Tap(string value, string weightExpr, int lane = -1)
        {
            switch (op.Kind)
            {
                case WindowKind.Convolution:
                case WindowKind.Depthwise:
                    string addend = first ? (wide ? V + ".Create(bias)" : "biasV") : "acc";
                    string product = !neon ? $"Simd.MulAdd({value}, {weightExpr}, {addend})"
                        : lane >= 0 ? $"AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar({addend}, {value}, {weightExpr}, {lane})"
                        : $"AdvSimd.FusedMultiplyAdd({addend}, {value}, {weightExpr})";
                    w.Line(first ? $"var acc = {product};" : $"acc = {product};");
                    break;
                case WindowKind.MaxPool:
                    w.Line(first ? $"var acc = {value};" : neon ? $"acc = AdvSimd.Max(acc, {value});" : $"acc = {V}.Max(acc, {value});");
                    break;
                default:
                    w.Line(first ? $"var acc = {value};" : $"acc += {value};");
                    break;
            }
            first = false;
        }

        // Stride 2 on ARM64: the two vectors at 2·ox hold the centre taps in their even lanes and the right taps in
        // their odd lanes; UZP1/UZP2 split them (a shufps pair on x64 does the same in Simd.LoadEven/LoadOdd). Pools need
        // no split at all: FMAXP/FADDP combine neighbouring lanes, replacing UZP1 + UZP2 + FMAX/FADD by one instruction.
        // The left taps (2·ox − 1) are the odd lanes of the eight floats two earlier.
        void NeonStride2Row(int ky, string plane)
        {
            w.Line($"ref float in{ky} = ref Unsafe.Add(ref {plane}, row{ky} + {column});");
            w.Line($"var lo{ky} = Vector128.LoadUnsafe(ref in{ky});");
            w.Line($"var hi{ky} = Vector128.LoadUnsafe(ref in{ky}, 4);");
            w.Line($"var left{ky} = AdvSimd.Arm64.UnzipOdd(Vector128.LoadUnsafe(ref Unsafe.Subtract(ref in{ky}, 2)), Vector128.LoadUnsafe(ref in{ky}, 2));");
        }

        void PlaneTaps(string plane, string tapsRef)
        {
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                if (neon && s == 2 && op.Kind is WindowKind.MaxPool or WindowKind.AveragePool)
                {
                    NeonStride2Row(ky, plane);
                    Tap(op.Kind == WindowKind.MaxPool
                        ? $"AdvSimd.Max(left{ky}, AdvSimd.Arm64.MaxPairwise(lo{ky}, hi{ky}))"
                        : $"AdvSimd.Add(left{ky}, AdvSimd.Arm64.AddPairwise(lo{ky}, hi{ky}))", "");
                    continue;
                }
                if (neon && s == 2)
                    NeonStride2Row(ky, plane);
                else
                    w.Line($"ref float in{ky} = ref Unsafe.Add(ref {plane}, row{ky} + {column});");
                for (int kx = 0; kx < 3; kx++)
                {
                    string value = neon && s == 2
                        ? kx switch
                        {
                            0 => $"left{ky}",
                            1 => $"AdvSimd.Arm64.UnzipEven(lo{ky}, hi{ky})",
                            _ => $"AdvSimd.Arm64.UnzipOdd(lo{ky}, hi{ky})",
                        }
                        : TapLoad(V, s, ky, kx);
                    int t = ky * 3 + kx;
                    if (neon && op.Kind == WindowKind.Convolution && t < 8)
                    {
                        Tap(value, $"taps{t / 4}", lane: t % 4);
                        continue;
                    }
                    string weightExpr = op.Kind == WindowKind.Depthwise ? (wide ? $"{V}.Create(k{t})" : $"k{t}V") : $"{V}.Create(Unsafe.Add(ref {tapsRef}, {t}))";
                    Tap(value, weightExpr);
                }
            }
        }

        if (op.Kind == WindowKind.Convolution)
        {
            w.Line(wide ? $"var acc = {V}.Create(bias);" : "var acc = biasV;");
            first = false;
            using (w.Open($"for (int ci = 0; ci < {op.InputPlanes}; ci++)"))
            {
                w.Line($"ref float inputPlane = ref Unsafe.Add(ref plane, ci * {k.InPixels});");
                w.Line("ref float planeTaps = ref Unsafe.Add(ref taps, ci * 9);");
                if (neon)
                {
                    // Two loads bring taps 0-7 and FMLA by element reads them in place: replaces eight LD1R broadcasts
                    // per output vector. Tap 8 stays a broadcast (a third vector load would read past the last plane's taps).
                    w.Line("var taps0 = Vector128.LoadUnsafe(ref planeTaps);");
                    w.Line("var taps1 = Vector128.LoadUnsafe(ref planeTaps, 4);");
                }
                PlaneTaps("inputPlane", "planeTaps");
            }
        }
        else
        {
            PlaneTaps("plane", "taps");
        }

        if (op.Kind == WindowKind.AveragePool) w.Line($"acc *= {V}.Create(1f / 9f);");
        if (op.Relu) w.Line($"acc = {V}.Max(acc, {V}<float>.Zero);");
        w.Line($"acc.StoreUnsafe(ref output, (nuint)(outRow + {ox}));");
    }

    private static void EmitScalar(SourceWriter w, Geometry k, int rowMask, int columnMask, string ox)
    {
        var op = k.Op;
        bool first = true;

        void Tap(string value, string weightExpr)
        {
            switch (op.Kind)
            {
                case WindowKind.Convolution:
                case WindowKind.Depthwise:
                    w.Line(first ? $"float acc = bias + {value} * {weightExpr};" : $"acc += {value} * {weightExpr};");
                    break;
                case WindowKind.MaxPool:
                    w.Line(first ? $"float acc = {value};" : $"acc = MathF.Max(acc, {value});");
                    break;
                default:
                    w.Line(first ? $"float acc = {value};" : $"acc += {value};");
                    break;
            }
            first = false;
        }

        void PlaneTaps(string plane, string tapsRef)
        {
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                for (int kx = 0; kx < 3; kx++)
                {
                    if ((columnMask & (1 << kx)) == 0) continue;
                    string value = $"Unsafe.Add(ref {plane}, row{ky} + {Affine(ox, op.Stride, kx - 1)})";
                    int t = ky * 3 + kx;
                    string weightExpr = op.Kind == WindowKind.Depthwise ? $"k{t}" : $"Unsafe.Add(ref {tapsRef}, {t})";
                    Tap(value, weightExpr);
                }
            }
        }

        if (op.Kind == WindowKind.Convolution)
        {
            w.Line("float acc = bias;");
            first = false;
            using (w.Open($"for (int ci = 0; ci < {op.InputPlanes}; ci++)"))
            {
                w.Line($"ref float inputPlane = ref Unsafe.Add(ref plane, ci * {k.InPixels});");
                w.Line("ref float planeTaps = ref Unsafe.Add(ref taps, ci * 9);");
                PlaneTaps("inputPlane", "planeTaps");
            }
        }
        else
        {
            PlaneTaps("plane", "taps");
        }

        if (op.Kind == WindowKind.AveragePool) w.Line("acc *= 1f / 9f;");
        if (op.Relu) w.Line("acc = MathF.Max(acc, 0f);");
        w.Line($"Unsafe.Add(ref output, outRow + {ox}) = acc;");
    }

    /// <summary><c>variable · scale + offset</c>, folded to a literal when the variable is one.</summary>
    private static string Affine(string variable, int scale, int offset)
    {
        if (int.TryParse(variable, out int value)) return (value * scale + offset).ToString();
        string term = scale == 1 ? variable : $"{variable} * {scale}";
        return offset == 0 ? term : offset > 0 ? $"{term} + {offset}" : $"{term} - {-offset}";
    }

    /// <summary>Consecutive output positions with the same set of in-bounds taps.</summary>
    private static List<(int Start, int End, int Mask)> Segments(int count, System.Func<int, int> mask)
    {
        var result = new List<(int, int, int)>();
        int start = 0;
        for (int i = 1; i <= count; i++)
        {
            if (i == count || mask(i) != mask(start))
            {
                result.Add((start, i, mask(start)));
                start = i;
            }
        }
        return result;
    }

    private sealed class Geometry
    {
        public Geometry(WindowOp op, TargetWidths target)
        {
            Op = op;
            Vector512OnTarget = target.CanHold(RuntimeChecks.Vector512Accelerated);
            NeonOnTarget = HasNeonVariant(op) && target.CanHold(RuntimeChecks.AdvSimdArm64);
            foreach (var cols in Segments(op.Output.Width, ColumnMask))
                if (cols.Mask == 0b111) LongestInterior = System.Math.Max(LongestInterior, cols.End - cols.Start);
        }

        public WindowOp Op { get; }
        public int InPixels => Op.Input.Pixels;
        public int OutPixels => Op.Output.Pixels;

        /// <summary>Widest run of output columns whose three taps all exist (0 when none): what vector paths can cover.</summary>
        public int LongestInterior { get; }

        /// <summary>
        /// Whether the (stem) convolution runs its Vector512 interiors channel-blocked: a full convolution reads the
        /// same input taps for every output channel, so one de-interleaved load feeds eight FMAs instead of one.
        /// </summary>
        public bool BlockedInterior => Op.Kind == WindowKind.Convolution && LongestInterior >= WideLanes && Vector512OnTarget;

        /// <summary>Whether the build's target may take the Vector512 interiors.</summary>
        public bool Vector512OnTarget { get; }

        /// <summary>Whether the kernel has AdvSimd interiors and the build's target may take them.</summary>
        public bool NeonOnTarget { get; }

        /// <summary>Bit ky is set when input row stride·oy + ky − 1 exists.</summary>
        public int RowMask(int oy) => TapMask(oy, Op.Input.Height);

        public int ColumnMask(int ox) => TapMask(ox, Op.Input.Width);

        private int TapMask(int o, int size)
        {
            int mask = 0;
            for (int t = 0; t < 3; t++)
            {
                int i = o * Op.Stride + t - 1;
                if (i >= 0 && i < size) mask |= 1 << t;
            }
            return mask;
        }
    }
}
