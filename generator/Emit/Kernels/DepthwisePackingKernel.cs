using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// A depthwise convolution that packs the next 1x1 convolution's slots instead of storing its float output (see
/// <see cref="SlotFusion"/>): per slot, the plain depthwise kernel computes the slot's (up to) four channels into
/// planes on the stack, and the quantize step's own slot method packs them. The float output never reaches the arena,
/// and each float and byte is the one the separate depthwise and quantize steps compute, since the same code computes
/// it. A team splits it by slots.
/// </summary>
internal sealed class DepthwisePackingKernel : IKernelEmitter
{
    private readonly WindowOp _op;
    private readonly SlotPacking _packs;
    private readonly VectorWidths _widths;
    private readonly QuantizeKernel _quantize;

    public DepthwisePackingKernel(WindowOp op, VectorWidths widths)
    {
        _op = op;
        _packs = op.Packs!;
        _widths = widths;
        Inner = new DepthwiseKernel(op, widths);
        // The quantize layer the slots belong to, for its shared slot methods (it is no step of its own).
        _quantize = new QuantizeKernel(new QuantizeOp(_packs.QuantizeName, op.Section, op.Output, _packs.Slots, op.Channels / _packs.InPerGroup), widths);
    }

    /// <summary>The plain depthwise kernel it calls per slot, whose methods the model emits once among its kernels.</summary>
    public IKernelEmitter Inner { get; }

    private int Groups => _op.Channels / _packs.InPerGroup;

    private int Quads => QuantizeOp.Quads(_packs.InPerGroup);

    public string Name => $"{Inner.Name}_PacksSlots{_packs.InPerGroup}";

    public string PathKey => Name;

    public string PathExpression => Inner.PathExpression;

    public int WorkItems => Groups * Quads;

    public string? PackStatement => Inner.PackStatement;

    public string CallStatement() =>
        $"{Name}({OperandRefs.Of(_op.Input, _op.InputPlanes)}, {OperandRefs.Of(_packs.Slots)}, {OperandRefs.Weights(_op)}, ref Unsafe.Add(ref weights, {OperandRefs.WeightOffset(_packs.QuantizeName)}), {WorkRange.Arguments});";

    private string ShapeName => Name + "_Shape";

    private const string Parameters = "ref float source, ref float slots, ref float weights, ref float quantize, " + WorkRange.Parameters;

    private const string Arguments = "ref source, ref slots, ref weights, ref quantize, " + WorkRange.Arguments;

    private List<KernelVariant> Variants
    {
        get
        {
            var variants = new List<KernelVariant>();
            foreach (var (vector, lanes) in _widths.WidestFirst())
                if (_op.Output.Pixels >= lanes) variants.Add(new(RuntimeChecks.Accelerated(vector), $"{Name}_{Suffix(vector)}", vector));
            variants.Add(new(null, $"{Name}_Scalar", "scalar"));
            return variants;
        }
    }

    private static string Suffix(string vector) => vector.Replace("Vector", "V");

    public void EmitMethods(SourceWriter w)
    {
        w.Line($"/// <summary>The slots' geometry for <c>{_op.Name}</c>: the next convolution's {Groups} group(s) of {_packs.InPerGroup} channels, planes of {_op.Output.Pixels} pixels.</summary>");
        using (w.Open($"private readonly struct {ShapeName} : {QuantizeKernel.Prefix}Shape"))
        {
            w.Line($"public static int Groups => {Groups};");
            w.Line($"public static int InPerGroup => {_packs.InPerGroup};");
            w.Line($"public static int Pixels => {_op.Output.Pixels};");
        }
        w.Line();
        KernelSyntax.EmitDispatcher(w, $"{Inner.Name}, packed as the next convolution's slots ({Groups} group(s) of {_packs.InPerGroup} channels) on the widest vector its planes fill; its float output stays on the stack.",
            $"{Name}({Parameters})", Arguments, Variants);
        foreach (var variant in Variants) EmitVariant(w, variant.Method, variant.Method.Substring(Name.Length + 1));
    }

    private void EmitVariant(SourceWriter w, string method, string suffix)
    {
        int inPixels = _op.Input.Pixels, outPixels = _op.Output.Pixels;
        long perChannel = WindowOp.PackedLength(1, 1);
        w.Line(KernelSyntax.Optimized);
        using (w.Open($"private static void {method}({Parameters})"))
        {
            w.Line("float inverseScale = quantize;");
            w.Line("float zeroPoint = Unsafe.Add(ref quantize, 1);");
            // Four planes of one slot's channels, in L1 while they are packed: the float output the arena no longer holds.
            w.Line($"Span<float> planes = stackalloc float[{4 * outPixels}];");
            w.Line("ref float scratch = ref MemoryMarshal.GetReference(planes);");
            using (w.Open($"for (int {WorkRange.Item} = {WorkRange.Start}; {WorkRange.Item} < {WorkRange.Stop}; {WorkRange.Item}++)"))
            {
                w.Line($"int first = {WorkRange.Item} / {Quads} * {_packs.InPerGroup} + {WorkRange.Item} % {Quads} * 4;");
                w.Line($"int channels = Math.Min(4, {_packs.InPerGroup} - {WorkRange.Item} % {Quads} * 4);");
                w.Line($"{Inner.Name}(ref Unsafe.Add(ref source, first * {inPixels}), ref scratch, ref Unsafe.Add(ref weights, first * {perChannel}), new(0, channels));");
                w.Line($"{QuantizeKernel.Prefix}Slots_{suffix}<{ShapeName}>(ref scratch, 0, ref Unsafe.As<float, int>(ref Unsafe.Add(ref slots, {WorkRange.Item} * {outPixels})), channels, inverseScale, zeroPoint);");
            }
        }
        w.Line();
    }

    public IReadOnlyList<SharedDefinition> SharedDefinitions
    {
        get
        {
            var shared = new List<SharedDefinition>(Inner.SharedDefinitions);
            shared.AddRange(_quantize.SharedDefinitions);
            return shared;
        }
    }
}
