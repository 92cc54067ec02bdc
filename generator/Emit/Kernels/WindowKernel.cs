using System.Linq;
using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// What the 3x3, padding-1 window kernels share (stem convolution, depthwise convolution, max and average pool): the
/// access pattern, and one dispatcher per kernel that picks a variant by the instruction sets the machine has
/// (<see cref="KernelSyntax.EmitDispatcher"/>). Edge outputs, where some taps fall in the padding, are scalar; the
/// interior columns run on Vector512 (sixteen columns per vector), on Vector256 (eight: AVX2 machines without AVX-512),
/// on Vector128 with AdvSimd (ARM64), or on portable Vector128 (four columns), each in a variant of its own.
/// </summary>
/// <remarks>
/// The depthwise and pooling variants are generic methods shared by every kernel of their kind, stride and width
/// (<c>Depthwise3x3_s2_V512&lt;TShape&gt;</c>, …), specialized through a struct of the plane's literals as the
/// pointwise tiles are: a plane is a top row (no row above it), the full rows, and a bottom row when its lower taps
/// are padding, each band of rows a call of one inlined method with those facts as constants. The stem convolution, one
/// per model, splits its rows and columns at generation time instead. A kind's own variants (row vectors, flat planes,
/// the blocked stem) are methods of the kernel, named by their width; those it shares (the depthwise zero-padded copy)
/// are generic bodies like the edge-split ones, so table kernels run them too.
/// </remarks>
internal abstract class WindowKernel : IKernelEmitter
{
    protected const int Lanes = 4;
    protected const int WideLanes = 16;
    protected const int MidLanes = 8;
    protected static readonly (string Vector, int Lanes) Narrow = ("Vector128", 4);
    protected static readonly (string Vector, int Lanes) Wide = ("Vector512", 16);
    protected static readonly (string Vector, int Lanes) Mid = ("Vector256", 8);

    protected WindowKernel(WindowOp op, VectorWidths widths)
    {
        Op = op;
        Widths = widths;
        foreach (var cols in Segments(op.Output.Width, ColumnMask))
            if (cols.Mask == 0b111) LongestInterior = System.Math.Max(LongestInterior, cols.End - cols.Start);
    }

    protected WindowOp Op { get; }
    protected VectorWidths Widths { get; }

    /// <summary>
    /// Whether the op reads or writes its planes through a table (ShuffleNet v2's halves). Such a kernel runs the
    /// shared bodies only, which find each channel's plane through the shape struct; the kind's own literal variants
    /// address planes as slices.
    /// </summary>
    protected bool PlaneTables => TableKernels.Applies(Op.InputPlanes, Op.OutputPlanes);

    /// <summary>
    /// The kernel's geometry, what its kind names it by; a table kernel's name adds its tables (its tables are literals
    /// of its shape struct, so it is a kernel, a shape and a dispatcher, of its own; the bodies stay shared).
    /// </summary>
    protected abstract string GeometryName { get; }

    public string Name => TableKernels.Name(GeometryName, Op.InputPlanes, Op.OutputPlanes);

    public string PathKey => TableKernels.PathKey(GeometryName, Op.InputPlanes, Op.OutputPlanes);
    protected int InPixels => Op.Input.Pixels;
    protected int OutPixels => Op.Output.Pixels;
    protected string Shape => $"{Op.Input.Height}x{Op.Input.Width}";

    /// <summary>Widest run of output columns whose three taps all exist (0 when none): what vector paths can cover.</summary>
    protected int LongestInterior { get; }

    /// <summary>Whether interiors of sixteen columns get a Vector512 path.</summary>
    protected bool WideInteriors => (Widths & VectorWidths.Vector512) != 0;


    /// <summary>The kernel's doc summary.</summary>
    protected abstract string Summary { get; }

    /// <summary>The AdvSimd instructions of this kind's ARM64 interior, or null when it has none.</summary>
    protected abstract string? NeonInstructions { get; }

    /// <summary>Whether the kernel has an AdvSimd interior.</summary>
    protected bool HasNeonVariant => NeonInstructions is not null && (Widths & VectorWidths.AdvSimd) != 0;

    public virtual string? PackStatement => null;

    public virtual string CallStatement() =>
        $"{CallTarget}({Source}, {Destination}{RangeArguments});";

    /// <summary>
    /// Whether the kernel has no dispatcher of its own but calls one its kind and stride share (or, with one variant,
    /// that variant): a table kernel's variants are the shared bodies only, so all that is its own is its shape. ShuffleNet
    /// v2 has a table kernel per unit, so per-kernel dispatchers were most of its window code.
    /// </summary>
    private bool SharedDispatch => PlaneTables && SharedBodies;

    /// <summary>What the op's call statement calls: the kernel's dispatcher, or the shared one instantiated with its shape.</summary>
    protected string CallTarget => SharedDispatch ? $"{SharedDispatcherName}<{ShapeName}>" : Name;

    /// <summary>
    /// The shared dispatcher of this kind and stride that picks among this kernel's variants: the set follows from the
    /// widest (every narrower one the model's widths and the kind have comes after it), so the name says that one. A
    /// single variant needs no dispatcher.
    /// </summary>
    private string SharedDispatcherName
    {
        get
        {
            var bodies = BodyVariants().ToList();
            return bodies.Count == 1 ? bodies[0].Body : $"{KindPrefix}s{Op.Stride}_UpTo{BodySuffix(bodies[0].Body)}";
        }
    }

    /// <summary>A shared body's name after its kind and stride, if it names one (<c>V512</c>, <c>Padded_V256</c>, …).</summary>
    private string BodySuffix(string body) =>
        body.Substring(body.StartsWith($"{KindPrefix}s{Op.Stride}_", System.StringComparison.Ordinal) ? $"{KindPrefix}s{Op.Stride}_".Length : KindPrefix.Length);

    /// <summary>
    /// Whether a team splits this kernel over its output rows (the stem: a few channels, each reading every input plane)
    /// rather than over its channels (each output channel reads its own planes only).
    /// </summary>
    protected virtual bool SplitsRows => false;

    public int WorkItems => SplitsRows ? Op.Output.Height : Op.Channels;

    /// <summary>The range parameters of the dispatcher and every variant.</summary>
    protected static string RangeParameters => ", " + WorkRange.Parameters;

    protected static string RangeArguments => ", " + WorkRange.Arguments;

    private static string RowInPart(int row) => $"if ({WorkRange.Start} <= {row} && {row} < {WorkRange.Stop})";

    /// <summary>
    /// Opens the rows of segment <paramref name="rows"/> a variant computes, naming the row <paramref name="oy"/> (a literal
    /// for a one-row segment): all of them, or where the kernel splits rows those of [part.Start, part.Stop).
    /// </summary>
    protected SourceWriter.Block OpenRows(SourceWriter w, (int Start, int End, int Mask) rows, out string oy)
    {
        bool single = rows.Start + 1 == rows.End;
        oy = single ? rows.Start.ToString() : "oy";
        if (!SplitsRows) return single ? w.OpenScope() : Loop.Open(w, "oy", rows.Start, rows.End);
        return single ? w.Open(RowInPart(rows.Start))
            : w.Open($"for (int oy = Math.Max({WorkRange.Start}, {rows.Start}); oy < Math.Min({WorkRange.Stop}, {rows.End}); oy++)");
    }

    /// <summary>The source argument: the input's first plane read, or the tensor itself when a table places them.</summary>
    protected string Source => OperandRefs.Of(Op.Input, Op.InputPlanes);

    /// <summary>The destination argument: the output's first plane written, or the tensor itself when a table places them.</summary>
    protected string Destination => OperandRefs.Of(Op.Output, Op.OutputPlanes);

    protected virtual string WeightsParameter => "";

    private string Parameters => "ref float source, ref float destination" + WeightsParameter + RangeParameters;

    private string Arguments => "ref source, ref destination" + (WeightsParameter.Length == 0 ? "" : ", ref weights") + RangeArguments;

    /// <summary>How the interior columns of a variant run.</summary>
    protected enum Interior
    {
        /// <summary>Not here: the variant computes them elsewhere (the blocked stem).</summary>
        None,
        Vector512,
        Vector256,
        AdvSimd,
        Vector128,
    }

    private static string Suffix(Interior interior) => interior switch
    {
        Interior.Vector512 => "V512",
        Interior.Vector256 => "V256",
        Interior.AdvSimd => "AdvSimd",
        _ => "V128",
    };

    /// <summary>The variants the dispatcher picks from, in its order: the kind's own, then the edge-split ones.</summary>
    protected IReadOnlyList<KernelVariant> Variants
    {
        get
        {
            var variants = new List<KernelVariant>();
            AddOwnVariants(variants);
            foreach (var body in BodyVariants())
                variants.Add(new KernelVariant(body.Condition, SharedBodies ? $"{body.Body}<{ShapeName}>" : body.Body, body.Label));
            return variants;
        }
    }

    /// <summary>
    /// A variant of this kind that is a generic body shared like the edge-split ones, so a table kernel runs it too:
    /// its name, the check it is picked under, what <c>KernelPaths</c> reports, and how it is written (once per model).
    /// </summary>
    protected sealed record SharedVariant(string Body, string? Condition, string Label, System.Action<SourceWriter> Emit);

    /// <summary>This kind's shared variants for this kernel: picked after a Vector512 edge-split interior, before the narrower ones.</summary>
    protected virtual IEnumerable<SharedVariant> SharedOwnVariants => System.Array.Empty<SharedVariant>();

    /// <summary>What this kernel's shared own variants call, written once per model like them.</summary>
    protected virtual IEnumerable<SharedDefinition> SharedHelpers => System.Array.Empty<SharedDefinition>();

    /// <summary>The variants with a body of the kind's (shared, or the stem's literal ones), in the dispatcher's order.</summary>
    private IEnumerable<SharedVariant> BodyVariants()
    {
        bool ownAdded = !SharedBodies;
        foreach (var (interior, condition, label) in EdgeSplitVariants())
        {
            if (!ownAdded && interior != Interior.Vector512)
            {
                foreach (var own in SharedOwnVariants) yield return own;
                ownAdded = true;
            }
            var body = interior;
            yield return new SharedVariant(SharedBodies ? SharedBody(interior) : $"{Name}_{Suffix(interior)}", condition, label, w => EmitSharedBody(w, body));
        }
    }

    /// <summary>The edge-split variants this kernel has: which interior, under which check, reported how.</summary>
    private IEnumerable<(Interior, string?, string)> EdgeSplitVariants()
    {
        if (WideInteriors && LongestInterior >= WideLanes && !WideDoneByOwnVariant) yield return (Interior.Vector512, RuntimeChecks.Vector512Accelerated, "Vector512");
        // Only the shared bodies have a Vector256 interior: the stem blocks its channels on Vector256 instead.
        if (SharedBodies && (Widths & VectorWidths.Vector256) != 0 && LongestInterior >= MidLanes && !Vector256DoneByOwnVariant)
            yield return (Interior.Vector256, RuntimeChecks.Accelerated("Vector256"), "Vector256");
        if (LongestInterior >= Lanes && HasNeonVariant) yield return (Interior.AdvSimd, RuntimeChecks.AdvSimdArm64, "Vector128, " + NeonInstructions);
        yield return (Interior.Vector128, null, LongestInterior >= Lanes ? "Vector128" : "scalar (no interior of four columns)");
    }

    /// <summary>Whether an own variant covers every machine with Vector512 (so no edge-split Vector512 variant is needed).</summary>
    protected virtual bool WideDoneByOwnVariant => false;

    /// <summary>Whether an own variant covers every machine with Vector256 (so no edge-split Vector256 variant is needed).</summary>
    protected virtual bool Vector256DoneByOwnVariant => false;

    /// <summary>The variants of this kind's own, checked before the edge-split ones.</summary>
    protected virtual void AddOwnVariants(List<KernelVariant> variants)
    {
    }

    /// <summary>Whether the edge-split variants are the shared generic methods (or, false, methods of this kernel).</summary>
    protected virtual bool SharedBodies => true;

    /// <summary>What the shared bodies of this kind are named with, e.g. <c>Depthwise3x3_s2_</c>.</summary>
    protected abstract string KindPrefix { get; }

    private string SharedBody(Interior interior) => $"{KindPrefix}s{Op.Stride}_{Suffix(interior)}";

    public string PathExpression => KernelSyntax.ChoosePath(Variants);

    /// <summary>The struct whose literals the shared bodies specialize on.</summary>
    protected string ShapeName => Name + "_Shape";

    public void EmitMethods(SourceWriter w)
    {
        if (SharedBodies) EmitShape(w);
        if (SharedDispatch && Variants.Count != BodyVariants().Count()) throw new System.InvalidOperationException("A table kernel runs the shared bodies only.");
        if (!SharedDispatch && OwnDispatcher) KernelSyntax.EmitDispatcher(w, Summary, $"{Name}({Parameters})", Arguments, Variants);
        EmitOwnVariantMethods(w);
        if (!SharedBodies)
        {
            foreach (var (interior, _, _) in EdgeSplitVariants())
            {
                w.Line(KernelSyntax.Optimized);
                using (w.Open($"private static void {Name}_{Suffix(interior)}({Parameters})"))
                    EmitLiteralBody(w, interior);
                w.Line();
            }
        }
    }

    /// <summary>Whether the kernel writes its dispatcher (false: a kernel of another kind calls its variants).</summary>
    protected virtual bool OwnDispatcher => true;

    /// <summary>This kind's own variant methods.</summary>
    protected virtual void EmitOwnVariantMethods(SourceWriter w)
    {
    }

    public IReadOnlyList<SharedDefinition> SharedDefinitions
    {
        get
        {
            if (!SharedBodies) return SharedDefinition.None;
            var shared = new List<SharedDefinition> { new(ShapeInterface, EmitShapeInterface), new(EdgesMethod, EmitEdgesMethod) };
            var bodies = BodyVariants().ToList();
            foreach (var body in bodies) shared.Add(new SharedDefinition(body.Body, body.Emit));
            // Each edge-split body's band is a definition of its own: the fused stem step calls the pool's bands alone.
            foreach (var (interior, _, _) in EdgeSplitVariants())
            {
                var bandOf = interior;
                shared.Add(new SharedDefinition(SharedBody(bandOf) + "_Band", w => EmitSharedBand(w, bandOf)));
            }
            shared.AddRange(SharedHelpers);
            if (SharedDispatch && bodies.Count > 1)
            {
                var variants = bodies.Select(v => new KernelVariant(v.Condition, $"{v.Body}<TShape>", v.Label)).ToList();
                string picks = string.Join(", else ", bodies.Select(v => v.Condition is null ? BodySuffix(v.Body) : $"{BodySuffix(v.Body)} where {v.Condition.Replace(".IsHardwareAccelerated", " is accelerated").Replace(".IsSupported", "")}"));
                shared.Add(new SharedDefinition(SharedDispatcherName, w => KernelSyntax.EmitDispatcher(w,
                    $"The {Summary.Split(',')[0]}, stride {Op.Stride}, of table kernels whose widest variant is {BodySuffix(bodies[0].Body)}: {picks}.",
                    $"{SharedDispatcherName}<TShape>({Parameters}) where TShape : struct, {ShapeInterface}", Arguments, variants)));
            }
            return shared;
        }
    }

    // ---- The shared generic bodies ----

    /// <summary>The interface every window shape struct implements.</summary>
    public const string ShapeInterface = ShapePrefix + "Shape";

    /// <summary>What the shape interface is named with; the name checks reserve it.</summary>
    public const string ShapePrefix = "Window3x3_";

    private static void EmitShapeInterface(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line("/// What a 3x3, padding-1 window kernel specializes on: its planes and, of its output, the end of the rows and of the");
        w.Line("/// columns whose three taps all exist (row 0 and column 0 never have theirs above or left; the row or column at");
        w.Line("/// that end, if any, is the last and has none below or right). Literals in each kernel's struct, so every bound and");
        w.Line("/// branch of a shared body is a constant in its machine code.");
        w.Line("/// </summary>");
        using (w.Open($"private interface {ShapeInterface}"))
        {
            foreach (string member in new[] { "Channels", "InHeight", "InWidth", "OutHeight", "OutWidth", "RowsEnd", "ColumnsEnd" })
                w.Line($"static abstract int {member} {{ get; }}");
            w.Line("static abstract bool Relu { get; }");
            w.Line("// Plane tables (ShuffleNet v2's halves): which plane holds each input or output channel, where that is no slice.");
            w.Line("static virtual int InputPlane(int channel) => channel;");
            w.Line("static virtual int OutputPlane(int channel) => channel;");
        }
        w.Line();
    }

    protected void EmitShape(SourceWriter w)
    {
        if (SharedDispatch) w.Line($"/// <summary>{Summary}</summary>");
        using (w.Open($"private readonly struct {ShapeName} : {ShapeInterface}"))
        {
            w.Line($"public static int Channels => {Op.Channels};");
            w.Line($"public static int InHeight => {Op.Input.Height};");
            w.Line($"public static int InWidth => {Op.Input.Width};");
            w.Line($"public static int OutHeight => {Op.Output.Height};");
            w.Line($"public static int OutWidth => {Op.Output.Width};");
            w.Line($"public static int RowsEnd => {RowsEnd};");
            w.Line($"public static int ColumnsEnd => {FullEnd(Op.Output.Width, ColumnMask)};");
            w.Line($"public static bool Relu => {(Op.Relu ? "true" : "false")};");
            TableKernels.EmitShapeMembers(w, Op.InputPlanes, Op.OutputPlanes, flags: false);
        }
        w.Line();
    }

    /// <summary>The end of the output rows after row 0 whose three taps all exist (the shape struct's <c>RowsEnd</c>).</summary>
    internal int RowsEnd => FullEnd(Op.Output.Height, RowMask);

    /// <summary>
    /// The end of the full positions after position 0 (which never has its first tap): only the last position can
    /// miss its third tap, which the shared bodies rely on, so this checks it.
    /// </summary>
    private static int FullEnd(int count, System.Func<int, int> mask)
    {
        int end = 1;
        while (end < count && mask(end) == 0b111) end++;
        if (end < count - 1 || (end == count - 1 && mask(end) != 0b011)) throw new System.InvalidOperationException("Only the last window position may miss its third tap.");
        return end;
    }

    /// <summary>The parameters of this kind's band method beyond the plane, the output and the rows.</summary>
    protected virtual string BandParameters => "";

    /// <summary>The arguments a shared body passes to its band method, from its channel's locals.</summary>
    protected virtual string BandArguments => "";

    /// <summary>A shared body's locals for channel <c>c</c> (beyond <c>plane</c> and <c>output</c>).</summary>
    protected virtual void EmitSharedChannelStart(SourceWriter w)
    {
    }

    /// <summary>A band's locals, before its rows: what its taps read.</summary>
    protected virtual void EmitBandStart(SourceWriter w, Interior interior)
    {
    }

    /// <summary>Whether the taps accumulate onto <c>bias</c> (convolutions) or the first tap starts the sum (pools).</summary>
    protected virtual bool FromBias => false;

    /// <summary>The scalar a pool's sum starts from at an edge, where the first tap may be padding (its identity).</summary>
    protected virtual string ScalarIdentity => "0f";

    private void EmitSharedBody(SourceWriter w, Interior interior)
    {
        string body = SharedBody(interior), band = body + "_Band";
        string constraint = $"where TShape : struct, {ShapeInterface}";
        string interiorNote = interior switch
        {
            Interior.Vector512 => "sixteen interior columns per Vector512 (for planes with at least sixteen)",
            Interior.Vector256 => "eight interior columns per Vector256 (for planes with at least eight)",
            Interior.AdvSimd => "four interior columns per Vector128, with AdvSimd (for planes with at least four)",
            _ => "four interior columns per Vector128 where there are at least four, else scalar",
        };
        w.Line($"/// <summary>{Summary.Split(',')[0]}, stride {Op.Stride}, any <see cref=\"{ShapeInterface}\"/>: {interiorNote}.</summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {body}<TShape>({Parameters}) {constraint}"))
        using (w.Open(WorkRange.ChannelLoop))
        {
            w.Line("ref float plane = ref Unsafe.Add(ref source, TShape.InputPlane(c) * (TShape.InHeight * TShape.InWidth));");
            w.Line("ref float output = ref Unsafe.Add(ref destination, TShape.OutputPlane(c) * (TShape.OutHeight * TShape.OutWidth));");
            EmitSharedChannelStart(w);
            w.Line($"{band}<TShape>(ref plane, ref output, 0, 1, false, TShape.InHeight > 1{BandArguments});");
            w.Line($"{band}<TShape>(ref plane, ref output, 1, TShape.RowsEnd, true, true{BandArguments});");
            w.Line($"{band}<TShape>(ref plane, ref output, TShape.RowsEnd, TShape.OutHeight, true, false{BandArguments});");
        }
        w.Line();
    }

    /// <summary>The band method of a shared body: its own definition, since a kernel may call the bands without the body.</summary>
    private void EmitSharedBand(SourceWriter w, Interior interior)
    {
        string body = SharedBody(interior), band = body + "_Band";
        string constraint = $"where TShape : struct, {ShapeInterface}";
        var width = interior switch { Interior.Vector512 => Wide, Interior.Vector256 => Mid, _ => Narrow };
        int s = Op.Stride;
        w.Line($"/// <summary>Output rows [first, end) of one plane of <c>{body}</c>; <paramref name=\"above\"/> and <paramref name=\"below\"/> say whether their upper and lower taps exist (constants where it is inlined).</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {band}<TShape>(ref float plane, ref float output, int first, int end, bool above, bool below{BandParameters}) {constraint}"))
        {
            w.Line($"{EdgesMethod}<TShape>(ref plane, ref output, first, end, above, below{BandArguments});");
            EmitBandStart(w, interior);
            using (w.Open("for (int oy = first; oy < end; oy++)"))
            {
                EmitBandRowOffsets(w);
                int lanes = width.Lanes;
                using (interior == Interior.Vector128 ? w.Open("if (TShape.ColumnsEnd > 4)") : default)
                using (w.Open($"for (int ox = 1; ox < TShape.ColumnsEnd; ox += {lanes})"))
                {
                    // The last vector ends at the last interior column, recomputing some of its neighbour's (equal values).
                    w.Line($"int at = Math.Min(ox, TShape.ColumnsEnd - {lanes});");
                    var taps = new VectorTaps(this, w, 0b111, "at", width, interior == Interior.AdvSimd)
                    {
                        RowConditions = new[] { "above", null, "below" },
                    };
                    if (FromBias) w.Line($"var acc = {width.Vector}.Create(bias);");
                    else w.Line($"var acc = {width.Vector}<float>.Zero;");
                    taps.First = false;
                    taps.StartsFromFirstTap = !FromBias;
                    EmitVectorTaps(w, taps);
                    EmitVectorEpilogue(w, taps.V);
                    w.Line("if (TShape.Relu) acc = Simd.Relu(acc);");
                    if (interior == Interior.Vector256 && s == 2) w.Line("acc = Simd.Unswizzle256(acc);");
                    w.Line($"acc.StoreUnsafe(ref output, (nuint)(outRow + at));");
                }
            }
        }
        w.Line();
    }

    /// <summary>The method of this kind and stride that computes a band row's scalar columns, shared by every interior width.</summary>
    private string EdgesMethod => $"{KindPrefix}s{Op.Stride}_Edges";

    /// <summary>The scalar taps of an edge read their weights through <c>taps</c> (kinds with weights).</summary>
    protected virtual void EmitEdgesStart(SourceWriter w)
    {
    }

    /// <summary>A band's <c>row0</c>, <c>row1</c>, <c>row2</c> (input rows oy·stride − 1, + 0, + 1, where they exist) and <c>outRow</c>.</summary>
    private void EmitBandRowOffsets(SourceWriter w)
    {
        int s = Op.Stride;
        w.Line($"int row0 = above ? ({Affine("oy", s, -1)}) * TShape.InWidth : 0;");
        w.Line($"int row1 = {(s == 1 ? "oy" : $"oy * {s}")} * TShape.InWidth;");
        w.Line($"int row2 = below ? ({Affine("oy", s, 1)}) * TShape.InWidth : 0;");
        w.Line("int outRow = oy * TShape.OutWidth;");
    }

    /// <summary>
    /// The scalar outputs of a band's rows, each tap checked against the padding: one method for all widths, since
    /// their edges are the same (every width's interior covers columns 1 to ColumnsEnd − 1 where ColumnsEnd > 4).
    /// A band calls it once, before its vectors, so a kind's scalar weights load once per band, not per row.
    /// </summary>
    private void EmitEdgesMethod(SourceWriter w)
    {
        int s = Op.Stride;
        w.Line($"/// <summary>The scalar columns of output rows [first, end) of the {Summary.Split(',')[0]} bands, stride {s}.</summary>");
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {EdgesMethod}<TShape>(ref float plane, ref float output, int first, int end, bool above, bool below{BandParameters}) where TShape : struct, {ShapeInterface}"))
        {
            EmitEdgesStart(w);
            using (w.Open("for (int oy = first; oy < end; oy++)"))
            {
                EmitBandRowOffsets(w);
                // Column 0, and ColumnsEnd when it misses its right tap (ColumnsEnd >= OutWidth - 1, so the step ends the
                // loop after it); every column when the interior has no vector of four.
                using (w.Open("for (int ox = 0; ox < TShape.OutWidth; ox += TShape.ColumnsEnd > 4 ? TShape.ColumnsEnd : 1)"))
                {
                    w.Line($"float acc = {(FromBias ? "bias" : ScalarIdentity)};");
                    for (int ky = 0; ky < 3; ky++)
                    {
                        string? row = ky switch { 0 => "above", 2 => "below", _ => null };
                        using (row is null ? default : w.Open($"if ({row})"))
                        {
                            for (int kx = 0; kx < 3; kx++)
                            {
                                string? column = kx switch { 0 => "ox > 0", 2 => $"{Affine("ox", s, 1)} < TShape.InWidth", _ => null };
                                string value = $"Unsafe.Add(ref plane, row{ky} + {Affine("ox", s, kx - 1)})";
                                string statement = GuardedScalarCombine(value, ScalarWeight(ky * 3 + kx, "taps"));
                                w.Line(column is null ? statement : $"if ({column}) {statement}");
                            }
                        }
                    }
                    EmitScalarEpilogue(w);
                    w.Line("if (TShape.Relu) acc = MathF.Max(acc, 0f);");
                    w.Line("Unsafe.Add(ref output, outRow + ox) = acc;");
                }
            }
        }
        w.Line();
    }

    /// <summary>The statement folding a scalar tap into an <c>acc</c> that is already declared.</summary>
    protected abstract string GuardedScalarCombine(string value, string weight);

    // ---- The literal (per-kernel) edge-split bodies: the stem ----

    /// <summary>An edge-split variant with this kernel's literals: rows and columns split at generation time.</summary>
    protected void EmitLiteralBody(SourceWriter w, Interior interior)
    {
        // The blocked stem may leave no column to the per-channel loop (an even width: its one edge joins the blocks).
        var columns = Segments(Op.Output.Width, ColumnMask).Where(cols => !DoneElsewhere(cols, interior)).ToList();
        if (columns.Count == 0) return;
        using (SplitsRows ? Loop.Open(w, "c", 0, Op.Channels) : w.Open(WorkRange.ChannelLoop))
        {
            EmitChannelStart(w, interior);
            foreach (var rows in Segments(Op.Output.Height, RowMask))
            {
                if (rows.Start + 1 == rows.End)
                {
                    // EmitRow scopes a literal row itself; a kernel split by rows computes it in the part holding it only.
                    if (SplitsRows) w.Line(RowInPart(rows.Start));
                    EmitRow(w, rows.Mask, rows.Start.ToString(), interior);
                }
                else
                {
                    using (OpenRows(w, rows, out string oy))
                        EmitRow(w, rows.Mask, oy, interior);
                }
            }
        }
    }

    /// <summary>The locals of channel <c>c</c> in a literal variant: at least <c>plane</c> and <c>output</c>.</summary>
    protected virtual void EmitChannelStart(SourceWriter w, Interior interior)
    {
        w.Line($"ref float plane = ref Unsafe.Add(ref source, c * {InPixels});");
        w.Line($"ref float output = ref Unsafe.Add(ref destination, c * {OutPixels});");
    }

    /// <summary>Whether the Vector512 variant computes the one-column edge at <paramref name="start"/> (tap mask <paramref name="mask"/>) elsewhere.</summary>
    protected virtual bool EdgeDoneElsewhere(int start, int mask) => false;

    /// <summary>Whether a column segment is computed by the variant's own interior methods (<see cref="Interior.None"/>).</summary>
    private bool DoneElsewhere((int Start, int End, int Mask) cols, Interior interior) =>
        interior == Interior.None && (cols.Mask == 0b111 && cols.End - cols.Start >= Lanes || cols.End - cols.Start == 1 && EdgeDoneElsewhere(cols.Start, cols.Mask));

    private void EmitRow(SourceWriter w, int rowMask, string oy, Interior interior)
    {
        bool literal = oy != "oy";
        // A literal row needs its own scope so its locals do not clash with the next row's; a loop body has one.
        using (literal ? w.OpenScope() : default)
        {
            EmitRowOffsets(w, rowMask, oy);

            foreach (var cols in Segments(Op.Output.Width, ColumnMask))
            {
                int length = cols.End - cols.Start;
                if (DoneElsewhere(cols, interior)) continue;
                if (cols.Mask == 0b111 && length >= Lanes)
                {
                    if (interior == Interior.Vector512 && length >= WideLanes)
                    {
                        using (Loop.Open(w, "ox", cols.Start, cols.End - WideLanes, WideLanes, inclusive: true))
                            EmitVector(w, rowMask, "ox", Wide);
                        if (length % WideLanes != 0)
                        {
                            using (w.OpenScope())
                                EmitVector(w, rowMask, (cols.End - WideLanes).ToString(), Wide);
                        }
                    }
                    else
                    {
                        EmitInterior128(w, rowMask, cols.Start, cols.End, neon: interior == Interior.AdvSimd);
                    }
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
        !PlaneTables && Op.Stride == 2 && WideInteriors && Op.Input.Width >= 8 && Op.Input.Width <= 32 && Op.Output.Width >= 4 && Op.Output.Width <= 16;

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

    private static readonly string[] s_tapColumns = { "left", "centre", "right" };

    /// <summary>The local holding <see cref="TapPermute"/>'s indices for tap column <paramref name="dx"/>.</summary>
    protected static string TapIndices(int dx) => s_tapColumns[dx] + "Columns";

    /// <summary>The local holding <see cref="TapPermute"/>'s padding mask for tap column <paramref name="dx"/>, or null when it has none.</summary>
    protected string? TapMask(int dx) => TapPermute(dx).Mask is null ? null : s_tapColumns[dx] + "Inside";

    /// <summary>Tap column <paramref name="dx"/> of input row ky for every output lane.</summary>
    protected string RowTap(int ky, int dx) => $"Simd.Permute(lo{ky}, {TapIndices(dx)}, hi{ky})";

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
        using (w.Open($"private static void {RowVectorsMethodName}(ref float source, ref float destination{parameters}{RangeParameters})"))
        {
            // Every row permutes and masks with the same constants: named once, not spelled out at each of the rows' taps.
            for (int dx = 0; dx < 3; dx++)
            {
                var (indices, mask) = TapPermute(dx);
                w.Line($"var {TapIndices(dx)} = {indices};");
                if (mask is not null) w.Line($"var {TapMask(dx)} = {mask};");
            }
            EmitRowVectorChannels(w, channelStart, row);
        }
        w.Line();
    }

    private void EmitRowVectorChannels(SourceWriter w, System.Action channelStart, System.Action<int> row)
    {
        using (w.Open(WorkRange.ChannelLoop))
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
        w.Line($"int outRow = {OutputRow(oy)};");
    }

    /// <summary>Where output row <paramref name="oy"/> (a literal or <c>oy</c>) starts in its plane of the destination.</summary>
    protected virtual string OutputRow(string oy) => oy != "oy" ? (int.Parse(oy) * Op.Output.Width).ToString() : $"oy * {Op.Output.Width}";

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

        /// <summary>
        /// Per input row, the constant its taps are under (<c>above</c>, <c>below</c>: a shared band's rows), or null
        /// when they always exist.
        /// </summary>
        public string?[] RowConditions { get; set; } = new string?[3];

        /// <summary>
        /// A pool's shared band: <c>acc</c> is declared, and its first existing tap sets it (row 0's first tap when
        /// <c>above</c>, else row 1's), so the taps combine in the same order as where rows are split at generation time.
        /// </summary>
        public bool StartsFromFirstTap { get; set; }

        private int _ky;
        private bool _rowFirst;

        /// <summary>The taps of one input plane, weighted from <paramref name="tapsRef"/> where the kind has weights.</summary>
        public void Plane(string plane, string tapsRef)
        {
            for (int ky = 0; ky < 3; ky++)
            {
                if ((_rowMask & (1 << ky)) == 0) continue;
                _ky = ky;
                _rowFirst = true;
                using (RowConditions[ky] is { } condition ? _w.Open($"if ({condition})") : default)
                    PlaneRow(plane, tapsRef, ky);
            }
        }

        private void PlaneRow(string plane, string tapsRef, int ky)
        {
            int s = _kernel.Op.Stride;
            if (Neon && s == 2 && _kernel.NeonPairwiseRow(ky) is { } pairwise)
            {
                NeonStride2Row(ky, plane);
                Combine(pairwise, "");
                return;
            }
            if (!Neon && _kernel.VectorRowCombine(V, "") is not null)
            {
                _w.Line($"ref float in{ky} = ref Unsafe.Add(ref {plane}, {Loop.Sum($"row{ky}", _column)});");
                CombineRow(string.Join(", ", new[] { 0, 1, 2 }.Select(kx => TapLoad(V, s, ky, kx))));
                return;
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

        private void CombineRow(string taps)
        {
            string first = _kernel.VectorRowCombine(V, taps)!, next = _kernel.VectorRowCombine(V, "acc, " + taps)!;
            if (StartsFromFirstTap && _ky < 2)
                _w.Line(_ky == 0 ? $"acc = {first};" : $"acc = {RowConditions[0]} ? {next} : {first};");
            else
                _w.Line(First ? $"var acc = {first};" : $"acc = {next};");
            First = false;
            _rowFirst = false;
        }

        private void Combine(string value, string weight, int lane = -1)
        {
            if (StartsFromFirstTap && _rowFirst && _ky < 2)
                _w.Line(_ky == 0 ? $"acc = {value};" : $"acc = {RowConditions[0]} ? {_kernel.VectorAccumulate(this, value)} : {value};");
            else
                _w.Line(_kernel.VectorCombine(this, value, weight, lane));
            First = false;
            _rowFirst = false;
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

    /// <summary>A pool's <c>acc</c> combined with <paramref name="value"/>, as an expression (kinds whose first tap starts the sum).</summary>
    protected virtual string VectorAccumulate(VectorTaps taps, string value) => throw new System.NotSupportedException();

    /// <summary>The weight of tap <paramref name="t"/> as a vector (unused by unweighted kinds).</summary>
    protected virtual string VectorWeight(VectorTaps taps, int t, string tapsRef) => $"{taps.V}.Create(Unsafe.Add(ref {tapsRef}, {t}))";

    /// <summary>Off ARM64: the call combining the values <paramref name="arguments"/> (a row's three taps, after <c>acc</c> when it is set), where the kind combines a row at a time on <paramref name="vector"/>; else null.</summary>
    protected virtual string? VectorRowCombine(string vector, string arguments) => null;

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
        $"{CallTarget}({Source}, {Destination}, {OperandRefs.Weights(Op)}{RangeArguments});";

    /// <summary>
    /// The input vector of tap (ky, kx) for the output columns at <c>ox</c>, from <c>in{ky}</c> (input row ky at the
    /// window's first column). Stride 2 de-interleaves: centre taps are the even lanes, left and right taps the odd ones.
    /// </summary>
    protected static string TapLoad(string vector, int stride, int ky, int kx)
    {
        if (stride == 1) return kx == 0 ? $"{vector}.LoadUnsafe(ref in{ky})" : $"{vector}.LoadUnsafe(ref in{ky}, {kx})";
        // Vector256 keeps SHUFPS's order (see Simd.LoadEvenSwizzled256): its shared band puts the sum right before storing.
        string suffix = vector switch { "Vector512" => "512", "Vector256" => "Swizzled256", _ => "" };
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
