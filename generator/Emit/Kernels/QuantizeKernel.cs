using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// Quantizes the float input of an int8 1x1 convolution: each activation becomes
/// <c>round(clamp(x / scale, -zeroPoint, 127 - zeroPoint)) + zeroPoint</c> (ties to even), and four channels of a
/// group go into one 32-bit slot per pixel, lowest channel in the lowest byte, which is the operand layout of VPDPBUSD
/// and SDOT. A group's last slot is zero-padded where its channel count is not a multiple of four; the packed weights
/// are zero there too.
/// </summary>
/// <remarks>
/// One generic method serves every shape (<c>Quantize_Planes&lt;TShape&gt;</c>), specialized through a struct of the
/// op's literals like the pointwise tiles. Each width computes lanes independently with the same float operations, so
/// the widths, the overlapping last vector and the scalar tail all give the same bytes. The convolution's input
/// channels are a slice of the source tensor (the call site passes its first plane) or, in ShuffleNet v2, a table of
/// planes (a stride-1 unit's branch reads the second half wherever the shuffles left it): a table is a literal of the
/// shape struct (<c>InputPlane</c>), so such a kernel has a shape and a dispatcher of its own, named by its table as
/// the pointwise and window kernels are, and shares the width methods.
/// </remarks>
internal sealed class QuantizeKernel : IKernelEmitter
{
    private readonly QuantizeOp _op;
    private readonly VectorWidths _widths;

    public QuantizeKernel(QuantizeOp op, VectorWidths widths)
    {
        _op = op;
        _widths = widths;
    }

    public const string Prefix = "Quantize_";

    /// <summary>The channels, groups and plane size: what the width methods' code depends on, tables aside.</summary>
    private string GeometryName => $"{Prefix}g{_op.Groups}_{_op.InputChannels}ch_{_op.Input.Pixels}px";

    /// <summary>Whether the input channels are read through a plane table (a literal of the shape, so part of the name).</summary>
    private bool TableKernel => TableKernels.Applies(_op.InputPlanes, _op.OutputPlanes);

    public string Name => TableKernels.Name(GeometryName, _op.InputPlanes, _op.OutputPlanes);

    /// <summary>The slots of four channels, group by group: each packs planes of its own, so a team splits by them.</summary>
    public int WorkItems => _op.OwnSlots;

    /// <summary>Every table kernel of one geometry runs the same width methods, so <c>KernelPaths</c> reports them once.</summary>
    public string PathKey => TableKernels.PathKey(GeometryName, _op.InputPlanes, _op.OutputPlanes);

    private string ShapeName => Name + "_Shape";

    private const string ShapeInterface = Prefix + "Shape";

    private const string Method = Prefix + "Planes";

    private const string Int8Simd = KernelSyntax.Runtime + ".Kernels.Int8Simd";

    public string? PackStatement =>
        $"{KernelEmitters.Packer}.Quantize(tensors, \"{_op.Convolution}\", {KernelEmitters.PackedSpan(_op)});";

    public string CallStatement() =>
        $"{Name}({OperandRefs.Of(_op.Input, _op.InputPlanes.IsTable ? 0 : _op.InputPlanes.ContiguousStart)}, {OperandRefs.Of(_op.Output)}, {OperandRefs.Weights(_op)}, {WorkRange.Arguments});";

    /// <summary>The widths this model has, widest first, each with the pixels it needs.</summary>
    private IEnumerable<(string Vector, int Lanes)> Widths => _widths.WidestFirst();

    /// <summary>The widths wide enough for this plane, widest first, then the scalar loop.</summary>
    private List<KernelVariant> Variants
    {
        get
        {
            var variants = new List<KernelVariant>();
            foreach (var (vector, lanes) in Widths)
                if (_op.Input.Pixels >= lanes) variants.Add(new(RuntimeChecks.Accelerated(vector), $"{PlanesMethod(Suffix(vector))}<{ShapeName}>", vector));
            variants.Add(new(null, $"{PlanesMethod("Scalar")}<{ShapeName}>", "scalar"));
            return variants;
        }
    }

    public string PathExpression => KernelSyntax.ChoosePath(Variants);

    public void EmitMethods(SourceWriter w)
    {
        w.Line($"/// <summary>The literals of quantizing {_op.InputChannels} channels in {_op.Groups} group(s) of {_op.Input.Pixels} pixels for <c>{_op.Convolution}</c>.</summary>");
        using (w.Open($"private readonly struct {ShapeName} : {ShapeInterface}"))
        {
            w.Line($"public static int Groups => {_op.Groups};");
            w.Line($"public static int InPerGroup => {_op.InPerGroup};");
            w.Line($"public static int Pixels => {_op.Input.Pixels};");
            TableKernels.EmitShapeMembers(w, _op.InputPlanes, _op.OutputPlanes, flags: false);
        }
        w.Line();
        KernelSyntax.EmitDispatcher(w, $"Quantizes a 1x1 convolution's input, {_op.InputChannels} channels in {_op.Groups} group(s) of {_op.Input.Pixels} pixels{(TableKernel ? " read through a plane table" : "")}, on the widest vector its planes fill.",
            $"{Name}(ref float source, ref float destination, ref float parameters, {WorkRange.Parameters})", $"ref source, ref destination, ref parameters, {WorkRange.Arguments}", Variants);
    }

    public IReadOnlyList<SharedDefinition> SharedDefinitions
    {
        get
        {
            var shared = new List<SharedDefinition> { new(ShapeInterface, EmitShapeInterface) };
            foreach (var (vector, lanes) in Widths)
            {
                shared.Add(new SharedDefinition(PlanesMethod(Suffix(vector)), w => EmitPlanes(w, Suffix(vector))));
                shared.Add(new SharedDefinition(SlotsMethod(Suffix(vector)), w => EmitSlots(w, vector, lanes)));
            }
            shared.Add(new SharedDefinition(PlanesMethod("Scalar"), w => EmitPlanes(w, "Scalar")));
            shared.Add(new SharedDefinition(SlotsMethod("Scalar"), EmitScalarSlots));
            return shared;
        }
    }

    private static void EmitShapeInterface(SourceWriter w)
    {
        w.Line("/// <summary>What quantizing a convolution's input specializes on: its groups, channels per group and plane size, and which plane of the source holds each channel.</summary>");
        using (w.Open($"private interface {ShapeInterface}"))
        {
            w.Line("static abstract int Groups { get; }");
            w.Line("static abstract int InPerGroup { get; }");
            w.Line("static abstract int Pixels { get; }");
            w.Line("// A plane table (ShuffleNet v2's halves) where the channels are no slice of the source.");
            w.Line("static virtual int InputPlane(int channel) => channel;");
        }
        w.Line();
    }

    /// <summary>A width's variant: every group's slots of four channels, each plane by that width's slot method.</summary>
    private static void EmitPlanes(SourceWriter w, string suffix)
    {
        w.Line("/// <summary>");
        w.Line($"/// Packs a convolution's float input as 7-bit activations, four channels of a group per 32-bit slot and pixel ({(suffix == "Scalar" ? "one pixel at a time" : suffix)});");
        w.Line("/// <paramref name=\"parameters\"/> holds the inverse scale and the zero point (a whole number, 0 to 127).");
        w.Line("/// </summary>");
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {PlanesMethod(suffix)}<TShape>(ref float source, ref float destination, ref float parameters, {WorkRange.Parameters}) where TShape : struct, {ShapeInterface}"))
        {
            w.Line("float inverseScale = parameters;");
            w.Line("float zeroPoint = Unsafe.Add(ref parameters, 1);");
            w.Line("int quads = (TShape.InPerGroup + 3) / 4;");
            // Slots [Start, Stop), group by group: a team's thread packs a contiguous range of them.
            using (w.Open($"for (int {WorkRange.Item} = {WorkRange.Start}; {WorkRange.Item} < {WorkRange.Stop}; {WorkRange.Item}++)"))
            {
                w.Line($"int k = {WorkRange.Item} / quads;");
                w.Line($"int q = {WorkRange.Item} % quads;");
                w.Line("int channels = Math.Min(4, TShape.InPerGroup - 4 * q);");
                w.Line("ref int slots = ref Unsafe.As<float, int>(ref Unsafe.Add(ref destination, (k * quads + q) * TShape.Pixels));");
                w.Line($"{SlotsMethod(suffix)}<TShape>(ref source, k * TShape.InPerGroup + 4 * q, ref slots, channels, inverseScale, zeroPoint);");
            }
        }
        w.Line();
    }

    private static string Suffix(string vector) => vector.Replace("Vector", "V");

    private static string PlanesMethod(string suffix) => Method + "_" + suffix;

    /// <summary>A width's slots of one plane group (<c>Quantize_Slots_V512</c>, …), inlined into its planes method.</summary>
    private static string SlotsMethod(string suffix) => Prefix + "Slots_" + suffix;

    /// <summary>
    /// One vector width: whole vectors, then one vector over the last pixels (recomputing some, identically). The slot's
    /// channels start at logical channel <c>first</c>; each one's plane is found once, before the pixels, through the
    /// shape (a slice or its table). A group's last slot may have fewer than four channels; its missing planes repeat
    /// the first one and are not read.
    /// </summary>
    private static void EmitSlots(SourceWriter w, string V, int lanes)
    {
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {SlotsMethod(Suffix(V))}<TShape>(ref float source, int first, ref int slots, int channels, float inverseScale, float zeroPoint) where TShape : struct, {ShapeInterface}"))
        {
            w.Line($"var inverse = {V}.Create(inverseScale);");
            w.Line($"var low = {V}.Create(-zeroPoint);");
            w.Line($"var high = {V}.Create({Int8Simd}.MaxActivation - zeroPoint);");
            w.Line($"var zero = {V}.Create((int)zeroPoint);");
            if (V == "Vector512") w.Line($"var zeroBytes = {V}.Create((byte)zeroPoint);");
            EmitSlotPlanes(w);
            using (w.Open($"for (int p = 0; p < TShape.Pixels; p += {lanes})"))
            {
                w.Line($"int at = Math.Min(p, TShape.Pixels - {lanes});");
                if (V == "Vector512")
                {
                    // Whole slots: four quantized planes packed by byte permutes, then the zero point added to every
                    // byte at once (each byte ends in 0..127, so no carry crosses a byte).
                    using (w.Open("if (channels == 4)"))
                    {
                        for (int c = 0; c < 4; c++)
                            w.Line($"var q{c} = {Int8Simd}.Quantize({V}.LoadUnsafe(ref plane{c}, (nuint)at), inverse, low, high);");
                        w.Line($"({Int8Simd}.PackLowBytes(q0, q1, q2, q3).AsByte() + zeroBytes).AsInt32().StoreUnsafe(ref slots, (nuint)at);");
                        w.Line("continue;");
                    }
                }
                w.Line($"var slot = {Int8Simd}.Quantize({V}.LoadUnsafe(ref plane0, (nuint)at), inverse, low, high) + zero;");
                // Whole slots (all but a group's last, at most) unrolled; the last one's channels by count.
                using (w.Open("if (channels == 4)"))
                {
                    for (int c = 1; c < 4; c++)
                        w.Line($"slot |= {V}.ShiftLeft({Int8Simd}.Quantize({V}.LoadUnsafe(ref plane{c}, (nuint)at), inverse, low, high) + zero, {8 * c});");
                }
                using (w.Open("else"))
                {
                    for (int c = 1; c < 3; c++)
                        w.Line($"if (channels > {c}) slot |= {V}.ShiftLeft({Int8Simd}.Quantize({V}.LoadUnsafe(ref plane{c}, (nuint)at), inverse, low, high) + zero, {8 * c});");
                }
                w.Line("slot.StoreUnsafe(ref slots, (nuint)at);");
            }
        }
        w.Line();
    }

    private static void EmitScalarSlots(SourceWriter w)
    {
        w.Line(KernelSyntax.Inlined);
        using (w.Open($"private static void {SlotsMethod("Scalar")}<TShape>(ref float source, int first, ref int slots, int channels, float inverseScale, float zeroPoint) where TShape : struct, {ShapeInterface}"))
        {
            // The planes are found once, as the vector widths find them, not per pixel and channel.
            EmitSlotPlanes(w);
            using (w.Open("for (int p = 0; p < TShape.Pixels; p++)"))
            {
                for (int c = 0; c < 4; c++)
                {
                    string value = $"{Int8Simd}.Quantize(Unsafe.Add(ref plane{c}, p), inverseScale, -zeroPoint, {Int8Simd}.MaxActivation - zeroPoint) + (int)zeroPoint";
                    w.Line(c == 0 ? $"int slot = {value};" : $"if (channels > {c}) slot |= ({value}) << {8 * c};");
                }
                w.Line("Unsafe.Add(ref slots, p) = slot;");
            }
        }
        w.Line();
    }

    /// <summary>
    /// The planes of a slot's channels (<c>plane0</c> … <c>plane3</c>), from logical channel <c>first</c>, each found
    /// through the shape (a slice or its table) before the pixel loop; a missing channel's repeats the first and is not read.
    /// </summary>
    private static void EmitSlotPlanes(SourceWriter w)
    {
        w.Line("ref float plane0 = ref Unsafe.Add(ref source, TShape.InputPlane(first) * TShape.Pixels);");
        for (int c = 1; c < 4; c++)
            w.Line($"ref float plane{c} = ref Unsafe.Add(ref source, TShape.InputPlane(channels > {c} ? first + {c} : first) * TShape.Pixels);");
    }
}
