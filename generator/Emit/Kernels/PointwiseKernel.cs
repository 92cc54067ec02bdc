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
        EmitDispatcher(w);
        foreach (var width in _widths) Emit(w, width);
    }

    private void Emit(SourceWriter w, Width width)
    {
        var op = _op;
        int pixels = op.Output.Pixels;
        int inPerGroup = op.InPerGroup;
        int outPerGroup = op.OutPerGroup;

        w.Line($"/// <summary><see cref=\"{Name}\"/> on {width.Vector}: register tiles of {width.Rows} channels × {TileVectors(width, width.Rows) * width.Lanes} pixels"
            + (width == V128 && _neon && op.OutPerGroup >= V128.Rows ? ", with an AdvSimd branch for ARM64" : "") + ".</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {KernelName(op, width)}({Parameters})"))
        {
            using (Loop.Open(w, "k", 0, op.Groups))
            {
                w.Line($"ref float groupInput = ref Unsafe.Add(ref source, k * {inPerGroup * pixels});");
                int fullBlocks = outPerGroup / BlockRows;
                int tailRows = outPerGroup % BlockRows;
                if (fullBlocks > 0)
                {
                    using (Loop.Open(w, "j", 0, fullBlocks * BlockRows, BlockRows))
                        EmitBlock(w, width, BlockRows, "j");
                }
                if (tailRows > 0)
                {
                    using (w.OpenScope())
                        EmitBlock(w, width, tailRows, (fullBlocks * BlockRows).ToString());
                }
            }
        }
        w.Line();
    }

    /// <summary>One packed block of <paramref name="blockRows"/> channels, in sub-blocks of the width's register rows.</summary>
    private void EmitBlock(SourceWriter w, Width width, int blockRows, string j)
    {
        var op = _op;
        int pixels = op.Output.Pixels;
        int outPerGroup = op.OutPerGroup;
        w.Line($"ref float block = ref Unsafe.Add(ref weights, ({Loop.Sum($"k * {outPerGroup}", j)}) * {1 + op.InPerGroup});");
        for (int r = 0; r < blockRows; r++)
        {
            string logical = Loop.Sum($"k * {outPerGroup}", j, r.ToString());
            // Shuffle on g·n channels: logical channel i·n + j' lands in plane j'·g + i; the official shuffle, its
            // inverse, sends i'·g + j to j·n + i'. Integer division by a constant, once per block, outside the pixel loop.
            int n = op.ShuffleGroups > 1 ? op.OutChannels / op.ShuffleGroups : 0;
            string plane = op.ShuffleGroups <= 1 ? logical
                : op.OfficialShuffle ? $"(({logical}) % {op.ShuffleGroups}) * {n} + ({logical}) / {op.ShuffleGroups}"
                : $"(({logical}) % {n}) * {op.ShuffleGroups} + ({logical}) / {n}";
            w.Line($"ref float out{r} = ref Unsafe.Add(ref destination, ({plane}) * {pixels});");
            if (op.Residual is not null)
                w.Line($"ref float res{r} = ref Unsafe.Add(ref residual, ({logical}) * {pixels});");
        }

        for (int r0 = 0; r0 < blockRows; r0 += width.Rows)
        {
            int rows = System.Math.Min(width.Rows, blockRows - r0);
            var sub = new SubBlock(op, width, blockRows, r0, rows, Neon: _neon);
            int lanes = width.Lanes;
            int tileVectors = TileVectors(width, rows);
            int tile = tileVectors * lanes;
            int done = 0;
            if (pixels >= tile)
            {
                using (Loop.Open(w, "p", 0, pixels - tile, tile, inclusive: true))
                    EmitVectorTile(w, sub, tileVectors, "p");
                done = pixels / tile * tile;
            }
            int rest = (pixels - done) / lanes;
            if (rest > 0)
            {
                using (w.OpenScope())
                    EmitVectorTile(w, sub, rest, done.ToString());
                done += rest * lanes;
            }
            if (done < pixels)
            {
                if (pixels >= lanes)
                {
                    // Recompute the last vector rather than run a scalar tail: overlapping lanes get the same values.
                    // The narrowest vector that covers the remainder does it (7x7 planes: 49 = 3·16 + 1, where a
                    // Vector512 tail would compute 16 pixels for one; a Vector128 tail computes 4).
                    var tailWidth = NarrowestCovering(pixels - done, width);
                    using (w.OpenScope())
                        EmitVectorTile(w, sub with { Width = tailWidth, Tail = tailWidth != width }, 1, (pixels - tailWidth.Lanes).ToString());
                }
                else
                {
                    using (Loop.Open(w, "p", done, pixels))
                        EmitScalarPixel(w, sub);
                }
            }
        }
    }

    /// <summary>The narrowest width, no wider than <paramref name="widest"/>, whose vector holds <paramref name="pixels"/> pixels.</summary>
    private static Width NarrowestCovering(int pixels, Width widest)
    {
        foreach (var candidate in new[] { V128, V256, V512 })
            if (candidate.Lanes >= pixels && candidate.Lanes <= widest.Lanes) return candidate;
        return widest;
    }

    /// <summary>
    /// Channels <c>R0 .. R0 + Rows − 1</c> of a packed block of <c>BlockRows</c> channels. <c>Tail</c>: a narrower
    /// remainder vector inside a wider kernel (no AdvSimd branch there: that kernel never runs on ARM64).
    /// </summary>
    private sealed record SubBlock(PointwiseOp Op, Width Width, int BlockRows, int R0, int Rows, bool Tail = false, bool Neon = true);

    private static void EmitVectorTile(SourceWriter w, SubBlock sub, int vectors, string p)
    {
        var op = sub.Op;
        string V = sub.Width.Vector;
        int lanes = sub.Width.Lanes;
        int pixels = op.Output.Pixels;
        for (int i = 0; i < sub.Rows; i++)
        {
            int r = sub.R0 + i;
            w.Line($"var bias{r} = {V}.Create(Unsafe.Add(ref block, {r}));");
            for (int v = 0; v < vectors; v++) w.Line($"var acc{r}x{v} = bias{r};");
        }
        w.Line($"ref float x = ref Unsafe.Add(ref groupInput, {p});");
        w.Line($"ref float wk = ref Unsafe.Add(ref block, {sub.BlockRows + sub.R0});");
        using (Loop.Open(w, "ci", 0, op.InPerGroup))
        {
            for (int v = 0; v < vectors; v++)
                w.Line(v == 0 ? $"var x0 = {V}.LoadUnsafe(ref x);" : $"var x{v} = {V}.LoadUnsafe(ref x, {v * lanes});");
            if (sub.Neon && sub.Width == V128 && sub.Rows == 4 && !sub.Tail)
            {
                // ARM64: one load brings the four channels' weights (they are adjacent in the packed block) and FMLA by
                // element multiplies by a lane of it. Replaces four scalar loads + DUP broadcasts of the portable path.
                using (w.Open($"if ({RuntimeChecks.AdvSimdArm64})"))
                {
                    w.Line("var w4 = Vector128.LoadUnsafe(ref wk);");
                    for (int i = 0; i < 4; i++)
                        for (int v = 0; v < vectors; v++)
                            w.Line($"acc{sub.R0 + i}x{v} = AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar(acc{sub.R0 + i}x{v}, x{v}, w4, {i});");
                }
                using (w.Open("else"))
                    EmitBroadcastFmas(w, sub, vectors);
            }
            else
            {
                EmitBroadcastFmas(w, sub, vectors);
            }
            w.Line($"x = ref Unsafe.Add(ref x, {pixels});");
            w.Line($"wk = ref Unsafe.Add(ref wk, {sub.BlockRows});");
        }
        for (int i = 0; i < sub.Rows; i++)
        {
            int r = sub.R0 + i;
            for (int v = 0; v < vectors; v++)
            {
                string at = v == 0 ? $"(nuint)({p})" : $"(nuint)({p} + {v * lanes})";
                string acc = $"acc{r}x{v}";
                if (op.Residual is not null) w.Line($"{acc} += {V}.LoadUnsafe(ref res{r}, {at});");
                if (op.Relu) w.Line($"{acc} = {V}.Max({acc}, {V}<float>.Zero);");
                w.Line($"{acc}.StoreUnsafe(ref out{r}, {at});");
            }
        }
    }

    private static void EmitBroadcastFmas(SourceWriter w, SubBlock sub, int vectors)
    {
        string V = sub.Width.Vector;
        for (int i = 0; i < sub.Rows; i++)
        {
            int r = sub.R0 + i;
            w.Line($"var w{r} = {V}.Create(Unsafe.Add(ref wk, {i}));");
            for (int v = 0; v < vectors; v++) w.Line($"acc{r}x{v} = Simd.MulAdd(x{v}, w{r}, acc{r}x{v});");
        }
    }

    private static void EmitScalarPixel(SourceWriter w, SubBlock sub)
    {
        var op = sub.Op;
        for (int i = 0; i < sub.Rows; i++) w.Line($"float acc{sub.R0 + i} = Unsafe.Add(ref block, {sub.R0 + i});");
        using (Loop.Open(w, "ci", 0, op.InPerGroup))
        {
            w.Line($"float x = Unsafe.Add(ref groupInput, ci * {op.Output.Pixels} + p);");
            for (int i = 0; i < sub.Rows; i++)
                w.Line($"acc{sub.R0 + i} += x * Unsafe.Add(ref block, {sub.BlockRows} + ci * {sub.BlockRows} + {sub.R0 + i});");
        }
        for (int i = 0; i < sub.Rows; i++)
        {
            int r = sub.R0 + i;
            if (op.Residual is not null) w.Line($"acc{r} += Unsafe.Add(ref res{r}, p);");
            if (op.Relu) w.Line($"acc{r} = MathF.Max(acc{r}, 0f);");
            w.Line($"Unsafe.Add(ref out{r}, p) = acc{r};");
        }
    }
}
