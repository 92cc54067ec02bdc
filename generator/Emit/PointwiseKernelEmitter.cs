using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// Emits a 1x1 group convolution over NCHW planes as a register-blocked GEMM: <see cref="BlockRows"/> output channels
/// × <see cref="TileVectors"/> vectors of pixels are accumulated at once, so each input vector loaded is reused for
/// several output channels and each broadcast weight for several pixel vectors. The epilogue adds the residual,
/// applies ReLU and stores each output channel into its plane; with a folded channel shuffle that plane is the
/// shuffled position, so the shuffle costs nothing.
/// </summary>
internal static class PointwiseKernelEmitter
{
    /// <summary>Output channels per block; the weight packer lays weights out in the same blocks.</summary>
    public const int BlockRows = 4;

    /// <summary>Pixel vectors per tile: 4×2 accumulators, 2 inputs and a broadcast fit the 16 SSE/AVX registers.</summary>
    public const int TileVectors = 2;

    private const int Lanes = 4;

    public static string KernelName(PointwiseOp op)
    {
        string name = $"Pointwise_g{op.Groups}_{op.InChannels}to{op.OutChannels}_{op.Output.Pixels}px";
        if (op.ShuffleGroups > 1) name += $"_Shuffle{op.ShuffleGroups}";
        if (op.Residual is not null) name += "_Residual";
        if (op.Relu) name += "_Relu";
        return name + $"_{BlockRows}x{TileVectors * Lanes}_V128";
    }

    public static void Emit(SourceWriter w, PointwiseOp op)
    {
        int pixels = op.Output.Pixels;
        int inPerGroup = op.InPerGroup;
        int outPerGroup = op.OutPerGroup;
        bool shuffled = op.ShuffleGroups > 1;
        string residualParameter = op.Residual is null ? "" : ", ref float residual";

        w.Line($"/// <summary>1x1 convolution, {op.Groups} group(s), {op.InChannels} to {op.OutChannels} channels over {pixels} pixels, batch norm folded"
            + (op.Residual is null ? "" : ", plus residual") + (op.Relu ? ", ReLU" : "")
            + (shuffled ? $"; output stored in channel-shuffled order ({op.ShuffleGroups} groups)" : "") + ".</summary>");
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float destination, ref float weights{residualParameter})"))
        {
            using (w.Open($"for (int k = 0; k < {op.Groups}; k++)"))
            {
                w.Line($"ref float groupInput = ref Unsafe.Add(ref source, k * {inPerGroup * pixels});");
                int fullBlocks = outPerGroup / BlockRows;
                int tailRows = outPerGroup % BlockRows;
                if (fullBlocks > 0)
                {
                    using (w.Open($"for (int j = 0; j < {fullBlocks * BlockRows}; j += {BlockRows})"))
                        EmitBlock(w, op, BlockRows, "j");
                }
                if (tailRows > 0)
                {
                    using (w.OpenScope())
                        EmitBlock(w, op, tailRows, (fullBlocks * BlockRows).ToString());
                }
            }
        }
        w.Line();
    }

    private static void EmitBlock(SourceWriter w, PointwiseOp op, int rows, string j)
    {
        int pixels = op.Output.Pixels;
        int outPerGroup = op.OutPerGroup;
        w.Line($"ref float block = ref Unsafe.Add(ref weights, (k * {outPerGroup} + {j}) * {1 + op.InPerGroup});");
        for (int r = 0; r < rows; r++)
        {
            string logical = $"k * {outPerGroup} + {j} + {r}";
            // Shuffle on g·n channels: logical channel i·n + j' lands in plane j'·g + i. Integer division by a
            // constant, once per block, outside the pixel loop.
            string plane = op.ShuffleGroups > 1
                ? $"(({logical}) % {op.OutChannels / op.ShuffleGroups}) * {op.ShuffleGroups} + ({logical}) / {op.OutChannels / op.ShuffleGroups}"
                : logical;
            w.Line($"ref float out{r} = ref Unsafe.Add(ref destination, ({plane}) * {pixels});");
            if (op.Residual is not null)
                w.Line($"ref float res{r} = ref Unsafe.Add(ref residual, (k * {outPerGroup} + {j} + {r}) * {pixels});");
        }

        int tile = TileVectors * Lanes;
        int done = 0;
        if (pixels >= tile)
        {
            using (w.Open($"for (int p = 0; p <= {pixels - tile}; p += {tile})"))
                EmitVectorTile(w, op, rows, TileVectors, "p");
            done = pixels / tile * tile;
        }
        int rest = (pixels - done) / Lanes;
        if (rest > 0)
        {
            using (w.OpenScope())
                EmitVectorTile(w, op, rows, rest, done.ToString());
            done += rest * Lanes;
        }
        if (done < pixels)
        {
            if (pixels >= Lanes)
            {
                // Recompute the last vector rather than run a scalar tail: overlapping lanes get the same values.
                using (w.OpenScope())
                    EmitVectorTile(w, op, rows, 1, (pixels - Lanes).ToString());
            }
            else
            {
                using (w.Open($"for (int p = {done}; p < {pixels}; p++)"))
                    EmitScalarPixel(w, op, rows);
            }
        }
    }

    private static void EmitVectorTile(SourceWriter w, PointwiseOp op, int rows, int vectors, string p)
    {
        int pixels = op.Output.Pixels;
        for (int r = 0; r < rows; r++)
        {
            w.Line($"var bias{r} = Vector128.Create(Unsafe.Add(ref block, {r}));");
            for (int v = 0; v < vectors; v++) w.Line($"var acc{r}x{v} = bias{r};");
        }
        w.Line($"ref float x = ref Unsafe.Add(ref groupInput, {p});");
        w.Line($"ref float wk = ref Unsafe.Add(ref block, {rows});");
        using (w.Open($"for (int ci = 0; ci < {op.InPerGroup}; ci++)"))
        {
            for (int v = 0; v < vectors; v++)
                w.Line(v == 0 ? "var x0 = Vector128.LoadUnsafe(ref x);" : $"var x{v} = Vector128.LoadUnsafe(ref x, {v * Lanes});");
            for (int r = 0; r < rows; r++)
            {
                w.Line($"var w{r} = Vector128.Create(Unsafe.Add(ref wk, {r}));");
                for (int v = 0; v < vectors; v++) w.Line($"acc{r}x{v} = Simd.MulAdd(x{v}, w{r}, acc{r}x{v});");
            }
            w.Line($"x = ref Unsafe.Add(ref x, {pixels});");
            w.Line($"wk = ref Unsafe.Add(ref wk, {rows});");
        }
        for (int r = 0; r < rows; r++)
        {
            for (int v = 0; v < vectors; v++)
            {
                string at = v == 0 ? $"(nuint)({p})" : $"(nuint)({p} + {v * Lanes})";
                string acc = $"acc{r}x{v}";
                if (op.Residual is not null) w.Line($"{acc} += Vector128.LoadUnsafe(ref res{r}, {at});");
                if (op.Relu) w.Line($"{acc} = Vector128.Max({acc}, Vector128<float>.Zero);");
                w.Line($"{acc}.StoreUnsafe(ref out{r}, {at});");
            }
        }
    }

    private static void EmitScalarPixel(SourceWriter w, PointwiseOp op, int rows)
    {
        for (int r = 0; r < rows; r++) w.Line($"float acc{r} = Unsafe.Add(ref block, {r});");
        using (w.Open($"for (int ci = 0; ci < {op.InPerGroup}; ci++)"))
        {
            w.Line($"float x = Unsafe.Add(ref groupInput, ci * {op.Output.Pixels} + p);");
            for (int r = 0; r < rows; r++) w.Line($"acc{r} += x * Unsafe.Add(ref block, {rows} + ci * {rows} + {r});");
        }
        for (int r = 0; r < rows; r++)
        {
            if (op.Residual is not null) w.Line($"acc{r} += Unsafe.Add(ref res{r}, p);");
            if (op.Relu) w.Line($"acc{r} = MathF.Max(acc{r}, 0f);");
            w.Line($"Unsafe.Add(ref out{r}, p) = acc{r};");
        }
    }
}
