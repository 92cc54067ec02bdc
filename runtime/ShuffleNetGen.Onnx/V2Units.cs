using System;
using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// What the importer matches an ONNX ShuffleNet v2 graph against, read from the model's
/// <see cref="ModelDescription.Layers"/> (the family's lowering) rather than derived again here: the stem and its
/// max pool, each unit's layers (names, widths, strides), which logical channels a stride-1 unit's branch reads and
/// which it passes, conv5 and the classifier.
/// </summary>
/// <remarks>
/// The lowering keeps a stage in one tensor of planes and says through plane maps where each layer reads. This class
/// follows those maps with the order of the unit's output channels ShuffleNet v2 defines (the concat puts the
/// untouched half, or branch1, first; a shuffle of 2 groups interleaves the halves), and checks that every layer reads
/// what that order says: a stride-2 unit's branches and conv5 read the whole previous output in order, a stride-1
/// unit's branch reads one contiguous half. Which half is the description's word (<see cref="V2UnitShape.BranchInput"/>);
/// a description whose maps follow another order is not one this importer knows, and is refused.
/// </remarks>
internal sealed class V2Units
{
    private V2Units(LayerDescription stem, LayerDescription? maxPool, List<V2UnitShape> units, LayerDescription conv5, string classifier)
    {
        Stem = stem;
        MaxPool = maxPool;
        Units = units;
        Conv5 = conv5;
        Classifier = classifier;
    }

    public LayerDescription Stem { get; }
    public LayerDescription? MaxPool { get; }
    public IReadOnlyList<V2UnitShape> Units { get; }

    /// <summary>The 1x1 convolution after the last unit (<c>conv5.0</c>, batch norm <c>conv5.1</c>, ReLU).</summary>
    public LayerDescription Conv5 { get; }

    public string Classifier { get; }

    /// <exception cref="ArgumentException">The description's layers are not a ShuffleNet v2's.</exception>
    public static V2Units Of(ModelDescription model)
    {
        // An int8 model quantizes each 1x1 convolution's input first: the float input is the quantize layer's.
        var layers = new List<(LayerDescription Layer, string Input, ChannelPlanes? Planes)>();
        (string Input, ChannelPlanes? Planes)? quantized = null;
        foreach (var layer in model.Layers)
        {
            if (layer.Kind == LayerKind.Quantize) quantized = (layer.Input, layer.InputPlanes);
            else if (layer.Kind == LayerKind.FeatureQuantize) continue;
            else
            {
                (string Input, ChannelPlanes? Planes) source = layer.Kind == LayerKind.Pointwise && quantized is { } q ? q : (layer.Input, layer.InputPlanes);
                layers.Add((layer, source.Input, source.Planes));
                quantized = null;
            }
        }

        ArgumentException Wrong(string what) =>
            new($"The description of {model.Name} does not list a ShuffleNet v2's layers: {what}.", nameof(model));
        int i = 0;
        (LayerDescription Layer, string Input, ChannelPlanes? Planes) Next(LayerKind kind)
        {
            if (i >= layers.Count || layers[i].Layer.Kind != kind)
                throw Wrong($"expected a {kind} layer at position {i}, found {(i < layers.Count ? layers[i].Layer.Kind + " " + layers[i].Layer.Name : "the end")}");
            return layers[i++];
        }
        bool At(LayerKind kind, int ahead = 0) => i + ahead < layers.Count && layers[i + ahead].Layer.Kind == kind;

        // Where each logical channel of the current activation is: tensor, and plane of channel c.
        string tensor;
        int[] planes;
        void Reads((LayerDescription Layer, string Input, ChannelPlanes? Planes) l, string t, IReadOnlyList<int> p, string what)
        {
            int count = l.Planes?.Count ?? p.Count;
            bool same = l.Input == t && count == p.Count;
            for (int c = 0; same && c < count; c++) same = (l.Planes is null ? c : l.Planes[c]) == p[c];
            if (!same) throw Wrong($"{l.Layer.Name} does not read {what}");
        }
        void Feeds((LayerDescription Layer, string Input, ChannelPlanes? Planes) from, (LayerDescription Layer, string Input, ChannelPlanes? Planes) to) =>
            Reads(to, from.Layer.Output, OutputPlanes(from.Layer), $"the output of {from.Layer.Name}");

        var stem = Next(LayerKind.Convolution3x3).Layer;
        int h = FloatForward.OutSize(model.InputHeight, stem.Stride), w = FloatForward.OutSize(model.InputWidth, stem.Stride);
        tensor = stem.Output;
        planes = OutputPlanes(stem);
        LayerDescription? maxPool = null;
        if (At(LayerKind.MaxPool3x3))
        {
            var pool = Next(LayerKind.MaxPool3x3);
            Reads(pool, tensor, planes, "the stem's output");
            maxPool = pool.Layer;
            h = FloatForward.OutSize(h, pool.Layer.Stride);
            w = FloatForward.OutSize(w, pool.Layer.Stride);
            tensor = pool.Layer.Output;
            planes = OutputPlanes(pool.Layer);
        }

        var units = new List<V2UnitShape>();
        int stage = -1, repeat = 0;
        while (!(At(LayerKind.Pointwise) && At(LayerKind.GlobalAveragePool, 1)))
        {
            int width = planes.Length;
            if (At(LayerKind.Pointwise) && At(LayerKind.Depthwise3x3, 1) && At(LayerKind.Pointwise, 2) && At(LayerKind.Depthwise3x3, 3))
            {
                // Stride 2, in the lowering's order: branch2 = 1x1, depthwise, 1x1, then branch1 = depthwise, 1x1; both
                // read the whole input.
                var b2a = Next(LayerKind.Pointwise);
                var b2dw = Next(LayerKind.Depthwise3x3);
                var b2b = Next(LayerKind.Pointwise);
                var b1dw = Next(LayerKind.Depthwise3x3);
                var b1pw = Next(LayerKind.Pointwise);
                Reads(b1dw, tensor, planes, "the unit's whole input");
                Feeds(b1dw, b1pw);
                Reads(b2a, tensor, planes, "the unit's whole input");
                Feeds(b2a, b2dw);
                Feeds(b2dw, b2b);
                if (b1pw.Layer.Output != b2b.Layer.Output) throw Wrong($"{b1pw.Layer.Name} and {b2b.Layer.Name} write different tensors");
                if (b1dw.Layer.Stride != b2dw.Layer.Stride) throw Wrong($"{b1dw.Layer.Name} and {b2dw.Layer.Name} have different strides");
                stage++;
                repeat = 0;
                var unit = new V2UnitShape(units.Count, stage, repeat++, UnitName(b2a.Layer.Name), width, b1pw.Layer.Channels + b2b.Layer.Channels, h, w, b1dw.Layer.Stride,
                    b1dw.Layer, b1pw.Layer, b2a.Layer, b2dw.Layer, b2b.Layer, new ChannelRange(0, width), new ChannelRange(0, 0));
                units.Add(unit);
                tensor = b2b.Layer.Output;
                planes = Interleave(OutputPlanes(b1pw.Layer), OutputPlanes(b2b.Layer));
                h = unit.OutHeight;
                w = unit.OutWidth;
            }
            else
            {
                // Stride 1: branch2 = 1x1, depthwise, 1x1 on one half; the other half passes.
                if (stage < 0) throw Wrong("its first unit is not a downsampling unit (with a branch1)");
                var b2a = Next(LayerKind.Pointwise);
                var b2dw = Next(LayerKind.Depthwise3x3);
                var b2b = Next(LayerKind.Pointwise);
                if (b2a.Input != tensor) throw Wrong($"{b2a.Layer.Name} does not read the unit's input");
                int count = b2a.Planes?.Count ?? planes.Length;
                int start = count == 0 ? -1 : Array.IndexOf(planes, b2a.Planes is null ? 0 : b2a.Planes[0]);
                if (start < 0 || start + count > width) throw Wrong($"{b2a.Layer.Name} does not read a contiguous range of the unit's input channels");
                Reads(b2a, tensor, planes.Skip(start).Take(count).ToArray(), $"channels {start}..{start + count - 1} of the unit's input");
                // The pass-through half is the rest, contiguous: before or after the branch's.
                if (start != 0 && start + count != width || 2 * count != width)
                    throw Wrong($"{b2a.Layer.Name} reads channels {start}..{start + count - 1} of {width}, not one half of them");
                var pass = start == 0 ? new ChannelRange(count, count) : new ChannelRange(0, count);
                Feeds(b2a, b2dw);
                Feeds(b2dw, b2b);
                if (b2b.Layer.Output != tensor) throw Wrong($"{b2b.Layer.Name} writes {b2b.Layer.Output}, not its unit's tensor {tensor}");
                var unit = new V2UnitShape(units.Count, stage, repeat++, UnitName(b2a.Layer.Name), width, pass.Count + b2b.Layer.Channels, h, w, b2dw.Layer.Stride,
                    null, null, b2a.Layer, b2dw.Layer, b2b.Layer, new ChannelRange(start, count), pass);
                if (unit.Stride != 1) throw Wrong($"{b2dw.Layer.Name} has stride {unit.Stride} in a unit without branch1");
                units.Add(unit);
                planes = Interleave(planes.Skip(pass.Start).Take(pass.Count).ToArray(), OutputPlanes(b2b.Layer));
            }
        }
        var conv5 = Next(LayerKind.Pointwise);
        Reads(conv5, tensor, planes, "the last unit's whole output");
        Next(LayerKind.GlobalAveragePool);
        var fc = Next(LayerKind.Linear);
        if (i != layers.Count) throw Wrong($"{layers[i].Layer.Name} follows the classifier");
        if (units.Count == 0) throw Wrong("it has no units");
        return new V2Units(stem, maxPool, units, conv5.Layer, fc.Layer.Name);
    }

    private static int[] OutputPlanes(LayerDescription layer) => Enumerable.Range(0, layer.Channels).Select(layer.OutputPlane).ToArray();

    /// <summary>ShuffleNet v2's concat of two halves then shuffle of 2 groups: output channel 2i is <paramref name="first"/>[i], 2i+1 <paramref name="second"/>[i].</summary>
    private static int[] Interleave(int[] first, int[] second)
    {
        if (first.Length != second.Length) throw new ArgumentException($"A ShuffleNet v2 unit's halves differ in width ({first.Length} and {second.Length}).");
        var planes = new int[first.Length * 2];
        for (int i = 0; i < first.Length; i++)
        {
            planes[2 * i] = first[i];
            planes[2 * i + 1] = second[i];
        }
        return planes;
    }

    /// <summary><c>stage2.1</c> of <c>stage2.1.branch2.0</c>.</summary>
    private static string UnitName(string layer)
    {
        int at = layer.IndexOf(".branch", StringComparison.Ordinal);
        return at < 0 ? layer : layer.Substring(0, at);
    }
}

/// <summary>Logical channels <c>Start..Start+Count-1</c> of a unit's input.</summary>
internal readonly record struct ChannelRange(int Start, int Count)
{
    public int End => Start + Count;

    public override string ToString() => $"channels {Start}..{End - 1}";
}

/// <summary>
/// One ShuffleNet v2 unit as the description lists it. Stride 2: branch1 (depthwise, 1x1) and branch2 (1x1, depthwise,
/// 1x1) both read the whole input. Stride 1: branch2 reads <see cref="BranchInput"/> and <see cref="Pass"/> goes
/// through untouched. Either way the concat puts branch1 or the untouched half first and a shuffle of 2 groups follows.
/// </summary>
internal sealed record V2UnitShape(
    int Index,
    int Stage,
    int Repeat,
    string Name,
    int InChannels,
    int OutChannels,
    int InHeight,
    int InWidth,
    int Stride,
    LayerDescription? Branch1Depthwise,
    LayerDescription? Branch1Pointwise,
    LayerDescription Branch2First,
    LayerDescription Branch2Depthwise,
    LayerDescription Branch2Last,
    ChannelRange BranchInput,
    ChannelRange Pass)
{
    public bool Downsamples => Branch1Depthwise is not null;
    public int OutHeight => FloatForward.OutSize(InHeight, Stride);
    public int OutWidth => FloatForward.OutSize(InWidth, Stride);
}
