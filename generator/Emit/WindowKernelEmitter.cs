using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

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

    public static void Emit(SourceWriter w, WindowOp op)
    {
        var k = new Geometry(op);
        string weightsParameter = op.HasWeights ? ", ref float weights" : "";
        w.Line($"/// <summary>{Describe(op)}</summary>");
        w.Line(ModelEmitter.KernelAttribute);
        using (w.Open($"private static void {KernelName(op)}(ref float source, ref float destination{weightsParameter})"))
        {
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
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                string rowStart = literal
                    ? ((int.Parse(oy) * k.Op.Stride + ky - 1) * k.Op.Input.Width).ToString()
                    : $"({Affine("oy", k.Op.Stride, ky - 1)}) * {k.Op.Input.Width}";
                w.Line($"int row{ky} = {rowStart};");
            }
            w.Line($"int outRow = {(literal ? (int.Parse(oy) * k.Op.Output.Width).ToString() : $"oy * {k.Op.Output.Width}")};");

            foreach (var cols in Segments(k.Op.Output.Width, k.ColumnMask))
            {
                int length = cols.End - cols.Start;
                if (cols.Mask == 0b111 && length >= WideLanes)
                {
                    // AVX-512: sixteen output columns per vector; the Vector128 code below is the portable path.
                    using (w.Open("if (Vector512.IsHardwareAccelerated)"))
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
                        EmitInterior128(w, k, rowMask, cols.Start, cols.End);
                }
                else if (cols.Mask == 0b111 && length >= Lanes)
                {
                    EmitInterior128(w, k, rowMask, cols.Start, cols.End);
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

    private const int WideLanes = 16;
    private static readonly (string Vector, int Lanes) Narrow = ("Vector128", 4);
    private static readonly (string Vector, int Lanes) Wide = ("Vector512", 16);

    /// <summary>Interior columns on Vector128: four columns per vector, the last four recomputed when the count is not a multiple.</summary>
    private static void EmitInterior128(SourceWriter w, Geometry k, int rowMask, int start, int end)
    {
        int length = end - start;
        if (length < 2 * Lanes)
        {
            using (w.OpenScope())
                EmitVector(w, k, rowMask, start.ToString(), Narrow);
        }
        else
        {
            using (w.Open($"for (int ox = {start}; ox <= {end - Lanes}; ox += {Lanes})"))
                EmitVector(w, k, rowMask, "ox", Narrow);
        }
        if (length % Lanes != 0)
        {
            // Recompute the last four columns instead of a scalar tail: the overlap writes equal values.
            using (w.OpenScope())
                EmitVector(w, k, rowMask, (end - Lanes).ToString(), Narrow);
        }
    }

    private static void EmitVector(SourceWriter w, Geometry k, int rowMask, string ox, (string Vector, int Lanes) width)
    {
        string V = width.Vector;
        bool wide = width.Lanes != Lanes;
        var op = k.Op;
        int s = op.Stride;
        bool first = true;
        string column = Affine(ox, s, s == 1 ? -1 : 0);
        void Tap(string value, string weightExpr)
        {
            switch (op.Kind)
            {
                case WindowKind.Convolution:
                case WindowKind.Depthwise:
                    w.Line(first ? $"var acc = Simd.MulAdd({value}, {weightExpr}, {(wide ? V + ".Create(bias)" : "biasV")});" : $"acc = Simd.MulAdd({value}, {weightExpr}, acc);");
                    break;
                case WindowKind.MaxPool:
                    w.Line(first ? $"var acc = {value};" : $"acc = {V}.Max(acc, {value});");
                    break;
                default:
                    w.Line(first ? $"var acc = {value};" : $"acc += {value};");
                    break;
            }
            first = false;
        }

        void PlaneTaps(string plane, string tapsRef)
        {
            for (int ky = 0; ky < 3; ky++)
            {
                if ((rowMask & (1 << ky)) == 0) continue;
                w.Line($"ref float in{ky} = ref Unsafe.Add(ref {plane}, row{ky} + {column});");
                for (int kx = 0; kx < 3; kx++)
                {
                    string value = s == 1
                        ? (kx == 0 ? $"{V}.LoadUnsafe(ref in{ky})" : $"{V}.LoadUnsafe(ref in{ky}, {kx})")
                        : kx switch
                        {
                            0 => $"Simd.LoadOdd{(wide ? "512" : "")}(ref Unsafe.Subtract(ref in{ky}, 2))",
                            1 => $"Simd.LoadEven{(wide ? "512" : "")}(ref in{ky})",
                            _ => $"Simd.LoadOdd{(wide ? "512" : "")}(ref in{ky})",
                        };
                    int t = ky * 3 + kx;
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
        public Geometry(WindowOp op) => Op = op;

        public WindowOp Op { get; }
        public int InPixels => Op.Input.Pixels;
        public int OutPixels => Op.Output.Pixels;

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
