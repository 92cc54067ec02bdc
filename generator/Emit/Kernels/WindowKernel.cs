using System.Linq;
using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// What the 3x3, padding-1 window kernels share (stem convolution, depthwise convolution, max and average pool): the
/// access pattern. Rows and columns are split at generation time into edge cases (where some taps fall in the
/// padding, decided once here, not per pixel at run time) and an interior that runs on Vector128 across four output
/// columns, or on Vector512 across sixteen where that is accelerated and the interior is wide enough. The edges are
/// the same code on every machine, so the kernel is one method that picks its interior path inside (by JIT-constant
/// checks); a variant that is a method of its own is named by its width. Each kind says how its taps combine, what
/// it keeps per channel, and which variants of its own it adds.
/// </summary>
internal abstract class WindowKernel : IKernelEmitter
{
    protected const int Lanes = 4;
    protected const int WideLanes = 16;
    protected static readonly (string Vector, int Lanes) Narrow = ("Vector128", 4);
    protected static readonly (string Vector, int Lanes) Wide = ("Vector512", 16);

    protected WindowKernel(WindowOp op, VectorWidths widths)
    {
        Op = op;
        Widths = widths;
        foreach (var cols in Segments(op.Output.Width, ColumnMask))
            if (cols.Mask == 0b111) LongestInterior = System.Math.Max(LongestInterior, cols.End - cols.Start);
    }

    protected WindowOp Op { get; }
    protected VectorWidths Widths { get; }
    protected int InPixels => Op.Input.Pixels;
    protected int OutPixels => Op.Output.Pixels;
    protected string Shape => $"{Op.Input.Height}x{Op.Input.Width}";

    /// <summary>Widest run of output columns whose three taps all exist (0 when none): what vector paths can cover.</summary>
    protected int LongestInterior { get; }

    /// <summary>Whether interiors of sixteen columns get a Vector512 path.</summary>
    protected bool WideInteriors => (Widths & VectorWidths.Vector512) != 0;

    public abstract string Name { get; }

    /// <summary>The kernel's doc summary.</summary>
    protected abstract string Summary { get; }

    /// <summary>The AdvSimd instructions of this kind's ARM64 interior, or null when it has none.</summary>
    protected abstract string? NeonInstructions { get; }

    /// <summary>Whether the kernel has an AdvSimd interior.</summary>
    protected bool HasNeonVariant => NeonInstructions is not null && (Widths & VectorWidths.AdvSimd) != 0;

    public virtual string? PackStatement => null;

    public IReadOnlyList<SharedDefinition> SharedDefinitions => SharedDefinition.None;

    public virtual string CallStatement() =>
        $"{Name}({OperandRefs.Of(Op.Input)}, {OperandRefs.Of(Op.Output, Op.OutputChannelOffset)});";

    /// <summary>The path this kernel's interiors take, as a C# expression over the conditions they branch on.</summary>
    public virtual string PathExpression
    {
        get
        {
            var paths = new List<(string?, string)>();
            AddPaths(paths);
            if (WideInteriors && LongestInterior >= WideLanes) paths.Add((RuntimeChecks.Vector512Accelerated, "Vector512"));
            if (LongestInterior >= Lanes && HasNeonVariant) paths.Add((RuntimeChecks.AdvSimdArm64, "Vector128, " + NeonInstructions));
            paths.Add((null, LongestInterior >= Lanes ? "Vector128" : "scalar (no interior of four columns)"));
            return KernelSyntax.ChoosePath(paths);
        }
    }

    /// <summary>Paths of this kind's own variants, checked before the shared ones.</summary>
    protected virtual void AddPaths(List<(string?, string)> paths)
    {
    }

    protected virtual string WeightsParameter => "";

    public void EmitMethods(SourceWriter w)
    {
        w.Line($"/// <summary>{Summary}</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {Name}(ref float source, ref float destination{WeightsParameter})"))
        {
            EmitVariantDispatch(w);
            using (Loop.Open(w, "c", 0, Op.Channels))
            {
                EmitChannelStart(w);
                foreach (var rows in Segments(Op.Output.Height, RowMask))
                {
                    if (rows.Start + 1 == rows.End)
                    {
                        EmitRow(w, rows.Mask, oy: rows.Start.ToString());
                    }
                    else
                    {
                        using (Loop.Open(w, "oy", rows.Start, rows.End))
                            EmitRow(w, rows.Mask, oy: "oy");
                    }
                }
            }
        }
        w.Line();
        EmitVariantMethods(w);
    }

    /// <summary>Before the per-channel loop: calls to this kind's own variant methods.</summary>
    protected virtual void EmitVariantDispatch(SourceWriter w)
    {
    }

    /// <summary>After the kernel: this kind's own variant methods.</summary>
    protected virtual void EmitVariantMethods(SourceWriter w)
    {
    }

    /// <summary>The locals of channel <c>c</c>: at least <c>plane</c> and <c>output</c>.</summary>
    protected virtual void EmitChannelStart(SourceWriter w)
    {
        w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {InPixels});");
        w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {OutPixels});");
    }

    /// <summary>Whether the Vector512 path elsewhere also computes the one-column edge at <paramref name="start"/> (tap mask <paramref name="mask"/>).</summary>
    protected virtual bool EdgeDoneElsewhere(int start, int mask) => false;

    /// <summary>Whether a Vector512 path elsewhere already covers the wide interiors, so rows keep only the narrow one.</summary>
    protected virtual bool WideInteriorsDoneElsewhere => false;

    private void EmitRow(SourceWriter w, int rowMask, string oy)
    {
        bool literal = oy != "oy";
        // A literal row needs its own scope so its locals do not clash with the next row's; a loop body has one.
        using (literal ? w.OpenScope() : default)
        {
            EmitRowOffsets(w, rowMask, oy);

            foreach (var cols in Segments(Op.Output.Width, ColumnMask))
            {
                int length = cols.End - cols.Start;
                bool wide = cols.Mask == 0b111 && length >= WideLanes && WideInteriors;
                if (wide && WideInteriorsDoneElsewhere)
                {
                    // Done above for all channels at once where Vector512 is accelerated.
                    using (w.Open($"if (!{RuntimeChecks.Vector512Accelerated})"))
                        EmitInterior128WithNeon(w, rowMask, cols.Start, cols.End);
                }
                else if (wide)
                {
                    // AVX-512: sixteen output columns per vector; the Vector128 code below is the portable path.
                    using (w.Open($"if ({RuntimeChecks.Vector512Accelerated})"))
                    {
                        using (Loop.Open(w, "ox", cols.Start, cols.End - WideLanes, WideLanes, inclusive: true))
                            EmitVector(w, rowMask, "ox", Wide);
                        if (length % WideLanes != 0)
                        {
                            using (w.OpenScope())
                                EmitVector(w, rowMask, (cols.End - WideLanes).ToString(), Wide);
                        }
                    }
                    using (w.Open("else"))
                        EmitInterior128WithNeon(w, rowMask, cols.Start, cols.End);
                }
                else if (cols.Mask == 0b111 && length >= Lanes)
                {
                    EmitInterior128WithNeon(w, rowMask, cols.Start, cols.End);
                }
                else if (length == 1 && EdgeDoneElsewhere(cols.Start, cols.Mask))
                {
                    using (w.Open($"if (!{RuntimeChecks.Vector512Accelerated})"))
                        EmitScalar(w, rowMask, cols.Mask, cols.Start.ToString());
                }
                else if (length == 1)
                {
                    using (w.OpenScope())
                        EmitScalar(w, rowMask, cols.Mask, cols.Start.ToString());
                }
                else
                {
                    using (Loop.Open(w, "ox", cols.Start, cols.End))
                        EmitScalar(w, rowMask, cols.Mask, "ox");
                }
            }
        }
    }

    /// <summary>
    /// Stride 2 on small planes (input rows of 8 to 32 columns, output rows of 4 to 16), where Vector512 is
    /// accelerated: one output row is one vector. An input row is at most two vector loads (<c>lo</c>, <c>hi</c>, the
    /// second overlapping the first), and each tap column comes out of them by one two-source permute with indices
    /// fixed here, instead of four-column vectors with de-interleaving loads and scalar edges per row. Output lanes
    /// 0 … G − 1 are columns 0 … G − 1 and lanes G … 2G − 1 the row's last G columns (G = 8, or 4 for rows under
    /// eight), stored as two halves, so nothing is written outside the row.
    /// </summary>
    protected bool RowVectorsApply =>
        Op.Stride == 2 && WideInteriors && Op.Input.Width >= 8 && Op.Input.Width <= 32 && Op.Output.Width >= 4 && Op.Output.Width <= 16;

    protected string RowVectorsMethodName => $"{Name}_Rows_V512";

    private int RowStoreLanes => Op.Output.Width >= 8 ? 8 : 4;

    private int OutputColumnOfLane(int lane)
    {
        int g = RowStoreLanes;
        return lane < g ? lane : lane < 2 * g ? Op.Output.Width - g + lane - g : 0;
    }

    /// <summary><c>lo{ky}</c> and <c>hi{ky}</c>: input row ky (from <c>row{ky}</c>) as one or two vectors.</summary>
    protected void EmitRowVectorLoad(SourceWriter w, string plane, int ky)
    {
        int width = Op.Input.Width;
        if (width >= 16)
        {
            w.Line($"var lo{ky} = Vector512.LoadUnsafe(ref {plane}, (nuint)row{ky});");
            w.Line($"var hi{ky} = Vector512.LoadUnsafe(ref {plane}, (nuint)(row{ky} + {width - 16}));");
        }
        else
        {
            w.Line($"var lo{ky} = Vector512.Create(Vector256.LoadUnsafe(ref {plane}, (nuint)row{ky}), Vector256.LoadUnsafe(ref {plane}, (nuint)(row{ky} + {width - 8})));");
            w.Line($"var hi{ky} = lo{ky};");
        }
    }

    /// <summary>
    /// The permute indices that give each output lane its tap column <paramref name="dx"/> (0 left, 1 centre, 2
    /// right) from <c>lo</c>/<c>hi</c>, and a mask clearing the lanes whose tap is padding (null when none is).
    /// </summary>
    protected (string Indices, string? Mask) TapPermute(int dx)
    {
        int width = Op.Input.Width;
        var indices = new int[16];
        var inside = new bool[16];
        bool padding = false;
        for (int lane = 0; lane < 16; lane++)
        {
            int column = 2 * OutputColumnOfLane(lane) - 1 + dx;
            if (column < 0 || column >= width)
            {
                padding = true;
                continue;
            }
            inside[lane] = true;
            indices[lane] = width >= 16 ? (column < 16 ? column : 16 + column - (width - 16)) : (column < 8 ? column : 8 + column - (width - 8));
        }
        string mask = $"Vector512.Create({string.Join(", ", inside.Select(i => i ? "-1" : "0"))}).AsSingle()";
        return ($"Vector512.Create({string.Join(", ", indices)})", padding ? mask : null);
    }

    /// <summary>Tap column <paramref name="dx"/> of input row ky for every output lane.</summary>
    protected string RowTap(int ky, int dx) => $"Simd.Permute(lo{ky}, {TapPermute(dx).Indices}, hi{ky})";

    /// <summary>Stores the row vector <paramref name="acc"/> as its two halves (see <see cref="RowVectorsApply"/>).</summary>
    protected void EmitRowVectorStore(SourceWriter w, string acc)
    {
        int width = Op.Output.Width;
        if (RowStoreLanes == 8)
        {
            w.Line($"{acc}.GetLower().StoreUnsafe(ref output, (nuint)outRow);");
            w.Line($"{acc}.GetUpper().StoreUnsafe(ref output, (nuint)(outRow + {width - 8}));");
        }
        else
        {
            w.Line($"{acc}.GetLower().GetLower().StoreUnsafe(ref output, (nuint)outRow);");
            w.Line($"{acc}.GetLower().GetUpper().StoreUnsafe(ref output, (nuint)(outRow + {width - 4}));");
        }
    }

    /// <summary>The row-vector variant: per channel <paramref name="channelStart"/>, then per output row <paramref name="row"/> (given the row mask).</summary>
    protected void EmitRowVectorMethod(SourceWriter w, string summary, string parameters, System.Action channelStart, System.Action<int> row)
    {
        w.Line($"/// <summary>{summary}</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {RowVectorsMethodName}(ref float source, ref float destination{parameters})"))
        using (Loop.Open(w, "c", 0, Op.Channels))
        {
            w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {InPixels});");
            w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {OutPixels});");
            channelStart();
            foreach (var rows in Segments(Op.Output.Height, RowMask))
            {
                bool single = rows.Start + 1 == rows.End;
                using (single ? w.OpenScope() : Loop.Open(w, "oy", rows.Start, rows.End))
                {
                    EmitRowOffsets(w, rows.Mask, single ? rows.Start.ToString() : "oy");
                    row(rows.Mask);
                }
            }
        }
        w.Line();
    }

    /// <summary><c>rowN</c> (start of input row ky) and <c>outRow</c> for output row <paramref name="oy"/> (a literal or <c>oy</c>).</summary>
    protected void EmitRowOffsets(SourceWriter w, int rowMask, string oy)
    {
        bool literal = oy != "oy";
        for (int ky = 0; ky < 3; ky++)
        {
            if ((rowMask & (1 << ky)) == 0) continue;
            string rowStart = literal
                ? ((int.Parse(oy) * Op.Stride + ky - 1) * Op.Input.Width).ToString()
                : $"({Affine("oy", Op.Stride, ky - 1)}) * {Op.Input.Width}";
            w.Line($"int row{ky} = {rowStart};");
        }
        w.Line($"int outRow = {(literal ? (int.Parse(oy) * Op.Output.Width).ToString() : $"oy * {Op.Output.Width}")};");
    }

    private void EmitInterior128WithNeon(SourceWriter w, int rowMask, int start, int end)
    {
        if (!HasNeonVariant)
        {
            EmitInterior128(w, rowMask, start, end, neon: false);
            return;
        }
        using (w.Open($"if ({RuntimeChecks.AdvSimdArm64})"))
            EmitInterior128(w, rowMask, start, end, neon: true);
        using (w.Open("else"))
            EmitInterior128(w, rowMask, start, end, neon: false);
    }

    /// <summary>Interior columns on Vector128: four columns per vector, the last four recomputed when the count is not a multiple.</summary>
    private void EmitInterior128(SourceWriter w, int rowMask, int start, int end, bool neon)
    {
        int length = end - start;
        if (length < 2 * Lanes)
        {
            using (w.OpenScope())
                EmitVector(w, rowMask, start.ToString(), Narrow, neon);
        }
        else
        {
            using (Loop.Open(w, "ox", start, end - Lanes, Lanes, inclusive: true))
                EmitVector(w, rowMask, "ox", Narrow, neon);
        }
        if (length % Lanes != 0)
        {
            // Recompute the last four columns instead of a scalar tail: the overlap writes equal values.
            using (w.OpenScope())
                EmitVector(w, rowMask, (end - Lanes).ToString(), Narrow, neon);
        }
    }

    /// <summary>One vector of output columns at <c>ox</c>: the taps of the rows in <paramref name="rowMask"/>, combined, stored.</summary>
    protected sealed class VectorTaps
    {
        private readonly WindowKernel _kernel;
        private readonly SourceWriter _w;
        private readonly int _rowMask;
        private readonly string _column;

        public VectorTaps(WindowKernel kernel, SourceWriter w, int rowMask, string ox, (string Vector, int Lanes) width, bool neon)
        {
            _kernel = kernel;
            _w = w;
            _rowMask = rowMask;
            V = width.Vector;
            IsWide = width.Lanes != Lanes;
            Neon = neon;
            int s = kernel.Op.Stride;
            _column = Affine(ox, s, s == 1 ? -1 : 0);
        }

        public string V { get; }
        public bool IsWide { get; }
        public bool Neon { get; }

        /// <summary>Whether <c>acc</c> is declared yet: the first tap declares it.</summary>
        public bool First { get; set; } = true;

        /// <summary>The taps of one input plane, weighted from <paramref name="tapsRef"/> where the kind has weights.</summary>
        public void Plane(string plane, string tapsRef)
        {
            int s = _kernel.Op.Stride;
            for (int ky = 0; ky < 3; ky++)
            {
                if ((_rowMask & (1 << ky)) == 0) continue;
                if (Neon && s == 2 && _kernel.NeonPairwiseRow(ky) is { } pairwise)
                {
                    NeonStride2Row(ky, plane);
                    Combine(pairwise, "");
                    continue;
                }
                if (Neon && s == 2)
                    NeonStride2Row(ky, plane);
                else
                    _w.Line($"ref float in{ky} = ref Unsafe.Add(ref {plane}, {Loop.Sum($"row{ky}", _column)});");
                for (int kx = 0; kx < 3; kx++)
                {
                    string value = Neon && s == 2
                        ? kx switch
                        {
                            0 => $"left{ky}",
                            1 => $"AdvSimd.Arm64.UnzipEven(lo{ky}, hi{ky})",
                            _ => $"AdvSimd.Arm64.UnzipOdd(lo{ky}, hi{ky})",
                        }
                        : TapLoad(V, s, ky, kx);
                    int t = ky * 3 + kx;
                    if (Neon && _kernel.NeonTapLane(t) is { } lane)
                    {
                        Combine(value, lane.Vector, lane.Lane);
                        continue;
                    }
                    Combine(value, _kernel.VectorWeight(this, t, tapsRef));
                }
            }
        }

        private void Combine(string value, string weight, int lane = -1)
        {
            _w.Line(_kernel.VectorCombine(this, value, weight, lane));
            First = false;
        }

        // Stride 2 on ARM64: the two vectors at 2·ox hold the centre taps in their even lanes and the right taps in
        // their odd lanes; UZP1/UZP2 split them (a shufps pair on x64 does the same in Simd.LoadEven/LoadOdd). Pools need
        // no split at all: FMAXP/FADDP combine neighbouring lanes, replacing UZP1 + UZP2 + FMAX/FADD by one instruction.
        // The left taps (2·ox − 1) are the odd lanes of the eight floats two earlier.
        private void NeonStride2Row(int ky, string plane)
        {
            _w.Line($"ref float in{ky} = ref Unsafe.Add(ref {plane}, {Loop.Sum($"row{ky}", _column)});");
            _w.Line($"var lo{ky} = Vector128.LoadUnsafe(ref in{ky});");
            _w.Line($"var hi{ky} = Vector128.LoadUnsafe(ref in{ky}, 4);");
            _w.Line($"var left{ky} = AdvSimd.Arm64.UnzipOdd(Vector128.LoadUnsafe(ref Unsafe.Subtract(ref in{ky}, 2)), Vector128.LoadUnsafe(ref in{ky}, 2));");
        }
    }

    private void EmitVector(SourceWriter w, int rowMask, string ox, (string Vector, int Lanes) width, bool neon = false)
    {
        var taps = new VectorTaps(this, w, rowMask, ox, width, neon);
        EmitVectorTaps(w, taps);
        EmitVectorEpilogue(w, taps.V);
        if (Op.Relu) w.Line("acc = Simd.Relu(acc);");
        w.Line($"acc.StoreUnsafe(ref output, (nuint)({Loop.Sum("outRow", ox)}));");
    }

    /// <summary>All taps of one output vector; kinds with several input planes loop over them here.</summary>
    protected virtual void EmitVectorTaps(SourceWriter w, VectorTaps taps) => taps.Plane("plane", "taps");

    /// <summary>The statement folding <paramref name="value"/> (weighted by <paramref name="weight"/>, or its lane <paramref name="lane"/> when at least 0) into <c>acc</c>.</summary>
    protected abstract string VectorCombine(VectorTaps taps, string value, string weight, int lane);

    /// <summary>The weight of tap <paramref name="t"/> as a vector (unused by unweighted kinds).</summary>
    protected virtual string VectorWeight(VectorTaps taps, int t, string tapsRef) => $"{taps.V}.Create(Unsafe.Add(ref {tapsRef}, {t}))";

    /// <summary>On ARM64 at stride 2: one value for a whole row of three taps, where the kind combines neighbouring lanes pairwise.</summary>
    protected virtual string? NeonPairwiseRow(int ky) => null;

    /// <summary>On ARM64: the tap vector and lane tap <paramref name="t"/>'s weight is read from by FMLA by element, or null.</summary>
    protected virtual (string Vector, int Lane)? NeonTapLane(int t) => null;

    /// <summary>After all taps, before ReLU and the store.</summary>
    protected virtual void EmitVectorEpilogue(SourceWriter w, string vector)
    {
    }

    /// <summary>One edge output at <c>ox</c>: only the taps in <paramref name="rowMask"/> and <paramref name="columnMask"/> exist.</summary>
    protected sealed class ScalarTaps
    {
        private readonly WindowKernel _kernel;
        private readonly SourceWriter _w;
        private readonly int _rowMask, _columnMask;
        private readonly string _ox;

        public ScalarTaps(WindowKernel kernel, SourceWriter w, int rowMask, int columnMask, string ox)
        {
            _kernel = kernel;
            _w = w;
            _rowMask = rowMask;
            _columnMask = columnMask;
            _ox = ox;
        }

        public bool First { get; set; } = true;

        public void Plane(string plane, string tapsRef)
        {
            for (int ky = 0; ky < 3; ky++)
            {
                if ((_rowMask & (1 << ky)) == 0) continue;
                for (int kx = 0; kx < 3; kx++)
                {
                    if ((_columnMask & (1 << kx)) == 0) continue;
                    string value = $"Unsafe.Add(ref {plane}, {Loop.Sum($"row{ky}", Affine(_ox, _kernel.Op.Stride, kx - 1))})";
                    _w.Line(_kernel.ScalarCombine(this, value, _kernel.ScalarWeight(ky * 3 + kx, tapsRef)));
                    First = false;
                }
            }
        }
    }

    private void EmitScalar(SourceWriter w, int rowMask, int columnMask, string ox)
    {
        var taps = new ScalarTaps(this, w, rowMask, columnMask, ox);
        EmitScalarTaps(w, taps);
        EmitScalarEpilogue(w);
        if (Op.Relu) w.Line("acc = MathF.Max(acc, 0f);");
        w.Line($"Unsafe.Add(ref output, {Loop.Sum("outRow", ox)}) = acc;");
    }

    protected virtual void EmitScalarTaps(SourceWriter w, ScalarTaps taps) => taps.Plane("plane", "taps");

    protected abstract string ScalarCombine(ScalarTaps taps, string value, string weight);

    protected virtual string ScalarWeight(int t, string tapsRef) => $"Unsafe.Add(ref {tapsRef}, {t})";

    protected virtual void EmitScalarEpilogue(SourceWriter w)
    {
    }

    /// <summary>Convolutions: a fused multiply-add onto <c>acc</c>, or onto the bias for the first tap.</summary>
    protected static string MultiplyAddTap(VectorTaps taps, string value, string weight, int lane)
    {
        string addend = taps.First ? (taps.IsWide ? taps.V + ".Create(bias)" : "biasV") : "acc";
        string product = !taps.Neon ? $"Simd.MulAdd({value}, {weight}, {addend})"
            : lane >= 0 ? $"AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar({addend}, {value}, {weight}, {lane})"
            : $"AdvSimd.FusedMultiplyAdd({addend}, {value}, {weight})";
        return taps.First ? $"var acc = {product};" : $"acc = {product};";
    }

    /// <summary>Convolutions at an edge: <c>acc</c> starts from the bias.</summary>
    protected static string MultiplyAddTap(ScalarTaps taps, string value, string weight) =>
        taps.First ? $"float acc = bias + {value} * {weight};" : $"acc += {value} * {weight};";

    /// <summary>The packing of a 3x3 convolution's weights (taps then folded bias, per output channel).</summary>
    protected string WindowPackStatement =>
        $"{KernelEmitters.Packer}.Window3x3(tensors, \"{Op.Name}\", \"{Op.BatchNorm}\", {Op.Channels}, {Op.PlanesPerOutput}, {KernelEmitters.PackedSpan(Op)});";

    /// <summary>Convolutions: the call passes the op's packed weights.</summary>
    protected string WeightedCallStatement() =>
        $"{Name}({OperandRefs.Of(Op.Input)}, {OperandRefs.Of(Op.Output, Op.OutputChannelOffset)}, {OperandRefs.Weights(Op)});";

    /// <summary>
    /// The input vector of tap (ky, kx) for the output columns at <c>ox</c>, from <c>in{ky}</c> (input row ky at the
    /// window's first column). Stride 2 de-interleaves: centre taps are the even lanes, left and right taps the odd ones.
    /// </summary>
    protected static string TapLoad(string vector, int stride, int ky, int kx)
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

    /// <summary><c>variable · scale + offset</c>, folded to a literal when the variable is one.</summary>
    protected static string Affine(string variable, int scale, int offset)
    {
        if (int.TryParse(variable, out int value)) return (value * scale + offset).ToString();
        string term = scale == 1 ? variable : $"{variable} * {scale}";
        return offset == 0 ? term : offset > 0 ? $"{term} + {offset}" : $"{term} - {-offset}";
    }

    /// <summary>Consecutive output positions with the same set of in-bounds taps.</summary>
    protected static List<(int Start, int End, int Mask)> Segments(int count, System.Func<int, int> mask)
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

    /// <summary>Bit ky is set when input row stride·oy + ky − 1 exists.</summary>
    protected int RowMask(int oy) => TapMask(oy, Op.Input.Height);

    protected int ColumnMask(int ox) => TapMask(ox, Op.Input.Width);

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
