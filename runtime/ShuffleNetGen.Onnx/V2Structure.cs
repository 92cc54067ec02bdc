using System;
using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// The ShuffleNet v2 structure matcher, for what torch.onnx.export writes for torchvision's <c>ShuffleNetV2</c>: the
/// stem (Conv, optional BatchNormalization, Relu, MaxPool); per unit either two branches reading the whole input
/// (stride 2: depthwise Conv, 1x1 Conv, Relu; and 1x1 Conv, Relu, depthwise Conv, 1x1 Conv, Relu) or a split of the
/// channels (a Split, or two Slices whose bounds may be computed through Shape/Gather/Add/Div/Mul) whose one half goes
/// through branch2 (1x1, depthwise, 1x1); then the Concat and the channel shuffle of 2 groups (Reshape to
/// [N, 2, C/2, H, W], Transpose perm [0, 2, 1, 3, 4], Reshape back, targets constant or computed through
/// Shape/Gather/Unsqueeze/Concat for a dynamic batch); then conv5 (1x1 Conv, Relu) and the shared head. Names,
/// widths, strides and which half a branch reads come from the description's layers (<see cref="V2Units"/>).
/// </summary>
/// <remarks>
/// Int8: a model declared <c>Precision.Int8</c> takes each 1x1 convolution's activation range (branch1's and branch2's
/// 1x1 convolutions and conv5) from the QuantizeLinear/DequantizeLinear pair on its input, as v1 does: the pair sits
/// between the convolution and what it reads (the unit's input, a half of the split, the depthwise output), because
/// the int8 kernel quantizes exactly that input; for a half of the split, a pair before the split serves too. A float file gives it float weights for
/// <c>Int8Calibration.Calibrate</c>. A float model reads a QDQ file's dequantized weights.
/// </remarks>
internal sealed class V2Structure
{
    private readonly OnnxReader _r;
    private readonly OnnxGraph _g;
    private readonly ModelDescription _model;
    private readonly V2Units _network;
    private readonly ShapeValues _shapes;
    private ShapeDim _batch;

    public V2Structure(ModelProto proto, ModelDescription model)
    {
        _network = V2Units.Of(model);
        _r = new OnnxReader(proto, model);
        _g = _r.G;
        _model = model;
        _shapes = new ShapeValues(_g);
    }

    private string Expects => _r.Expects;

    private static string Q(string? name) => OnnxText.Q(name);

    private string Stages => $"stages {OnnxText.Dims(_model.StageRepeats)}";

    public TensorSet Run()
    {
        string x = _r.Input();
        _batch = _r.BatchIsStatic ? ShapeDim.Of(_r.Batch) : ShapeDim.Batch;
        int h = _model.InputHeight, w = _model.InputWidth;

        // Stem.
        var stem = _network.Stem;
        var conv = _r.Single(x, "Conv", $"the stem 3x3 convolution ({stem.Name})");
        x = _r.ConvBn(conv, new ConvSpec($"the stem convolution ({stem.Name})", 3, stem.Stride, 1, _model.InputChannels, stem.Channels, h, w), stem.Name, stem.BatchNorm!);
        h = FloatForward.OutSize(h, stem.Stride);
        w = FloatForward.OutSize(w, stem.Stride);
        x = _r.Relu(x, $"the ReLU after the stem convolution ({stem.Name})");
        if (_network.MaxPool is { } maxPool)
        {
            var pool = _r.Single(x, "MaxPool", "the 3x3 stride-2 max pool after the stem");
            _r.CheckPool(pool, "the stem max pool", padded: true);
            x = _g.Resolve(pool.Output[0]);
            h = FloatForward.OutSize(h, maxPool.Stride);
            w = FloatForward.OutSize(w, maxPool.Stride);
        }
        else
        {
            var next = _g.ConsumersOf(x);
            if (next.Count == 1 && next[0].Node.OpType == "MaxPool")
                throw _g.Bad(next[0].Node, $"{Expects} no max pool after the stem, but the graph has one");
        }
        _shapes.Know(x, _batch, ShapeDim.Of(stem.Channels), ShapeDim.Of(h), ShapeDim.Of(w));

        foreach (var unit in _network.Units) x = Unit(x, unit);

        // conv5, then the global pool and the classifier.
        var last = _network.Units[^1];
        var conv5 = _network.Conv5;
        var consumers = DataConsumers(x);
        if (consumers.Count != 1 || consumers[0].Node.OpType != "Conv" || consumers[0].Input != 0)
            throw Unexpected(x, consumers, null, $"conv5 (the 1x1 Conv {conv5.Name}) after the last of its {_network.Units.Count} units ({Stages})");
        _g.MarkVisited(consumers[0].Node);
        x = Pointwise(consumers[0].Node, conv5, last.OutChannels, last.OutHeight, last.OutWidth, $"conv5 ({conv5.Name})");
        x = _r.Head(x, conv5.Channels, last.OutHeight, last.OutWidth, _network.Classifier);
        return _r.Finish(x, "ShuffleNet v2");
    }

    /// <summary>A value's readers, without the Shape nodes that read only its shape (they are followed from where their result is used).</summary>
    private List<(NodeProto Node, int Input)> DataConsumers(string value) =>
        _g.ConsumersOf(value).Where(c => c.Node.OpType != "Shape").ToList();

    private string Where(V2UnitShape u)
    {
        int repeats = u.Stage < _model.StageRepeats.Count ? _model.StageRepeats[u.Stage] : 0;
        return u.Downsamples
            ? $"unit {u.Index} ({u.Name}, the first of stage {u.Stage + 2}, stride {u.Stride})"
            : $"unit {u.Index} ({u.Name}, unit {u.Repeat + 1} of {repeats} of stage {u.Stage + 2}, stride 1)";
    }

    private string Unit(string x, V2UnitShape u)
    {
        string where = Where(u);
        var consumers = DataConsumers(x);
        string expected = u.Downsamples
            ? $"{where}: branch1's depthwise 3x3 Conv and branch2's 1x1 Conv, both reading the previous output"
            : $"{where}: the split of its {u.InChannels} channels (Split, or two Slices)";
        if (u.Downsamples)
        {
            if (consumers.Count != 2 || consumers.Any(c => c.Node.OpType != "Conv" || c.Input != 0))
                throw Unexpected(x, consumers, u, expected);
            foreach (var c in consumers) _g.MarkVisited(c.Node);
            return DownsamplingUnit(consumers[0].Node, consumers[1].Node, u, where);
        }
        if (consumers.Count == 0 || consumers.Any(c => c.Node.OpType is not ("Split" or "Slice") || c.Input != 0))
            throw Unexpected(x, consumers, u, expected);
        return StrideOneUnit(x, consumers.Select(c => c.Node).ToList(), u, where);
    }

    /// <summary>
    /// What reads <paramref name="x"/> is not what the declaration expects next: named as precisely as the readers
    /// allow (another unit count per stage, conv5 too early or too late, a ShuffleNet v1 unit).
    /// </summary>
    private OnnxFormatException Unexpected(string x, List<(NodeProto Node, int Input)> consumers, V2UnitShape? u, string expected)
    {
        var convs = consumers.Where(c => c.Node.OpType == "Conv" && c.Input == 0).ToList();
        var split = consumers.FirstOrDefault(c => c.Node.OpType is "Split" or "Slice").Node;
        var shortcut = consumers.FirstOrDefault(c => c.Node.OpType is "Pad" or "AveragePool" or "Add").Node;
        int done = u?.Index ?? _network.Units.Count;
        string after = done == 0 ? "after the stem" : $"after unit {done - 1} ({_network.Units[done - 1].Name})";
        if (shortcut is not null && convs.Count == 1)
            return _g.Bad(shortcut, $"this node and the Conv {Q(_g.Label(convs[0].Node))} read the output {after}, as a ShuffleNet v1 unit's shortcut and first pointwise convolution do; {Expects} {expected}. The file holds a ShuffleNet v1: declare the model with [ShuffleNet(...)]");
        if (u is null)
        {
            if (split is not null)
                return _g.Bad(split, $"{Expects} {_network.Units.Count} units ({Stages}), then conv5; the graph splits the channels {after} for another stride-1 unit, so its last stage has more units than the declared {_model.StageRepeats[^1]}");
            if (convs.Count == 2)
                return _g.Bad(convs[0].Node, $"{Expects} {_network.Units.Count} units ({Stages}), then conv5; the graph has two Convs reading the output {after}, a downsampling unit: it has more stages than the declared {_model.StageRepeats.Count}");
        }
        else if (u.Downsamples)
        {
            if (split is not null && u.Stage > 0)
                return _g.Bad(split, $"{Expects} {expected} ({Stages}); the graph splits the channels {after} for a stride-1 unit, so its stage {u.Stage + 1} has more units than the declared {_model.StageRepeats[u.Stage - 1]}");
            if (convs.Count == 1)
                return _g.Bad(convs[0].Node, $"{Expects} {expected} ({Stages}, {_network.Units.Count} units); the graph has one Conv reading the output {after}, its conv5: it has fewer stages");
        }
        else
        {
            if (convs.Count == 2)
                return _g.Bad(convs[0].Node, $"{Expects} {expected} ({Stages}); the graph has two Convs reading the output {after}, a downsampling unit that starts a new stage: its stage {u.Stage + 2} has {u.Repeat} units, not the declared {_model.StageRepeats[u.Stage]}");
            if (convs.Count == 1)
                return _g.Bad(convs[0].Node, $"{Expects} {expected} ({Stages}); the graph has one Conv reading the output {after}, its conv5: its stage {u.Stage + 2} has {u.Repeat} units, not the declared {_model.StageRepeats[u.Stage]}");
        }
        if (consumers.Count == 1)
            return _g.Bad(consumers[0].Node, $"{Expects} {expected} here, reading {Q(x)}; the graph has {OnnxText.Op(consumers[0].Node.OpType)}");
        return new OnnxFormatException(x, $"value {Q(x)}, the output {after}, feeds {consumers.Count} nodes{(consumers.Count == 0 ? "" : $" ({_r.Describe(consumers)})")}; {Expects} {expected}.");
    }

    private string DownsamplingUnit(NodeProto first, NodeProto second, V2UnitShape u, string where)
    {
        // Which Conv is branch1's depthwise: the 3x3 one (torch writes it first).
        var (depthwise, pointwise) = IsWindow(second) && !IsWindow(first) ? (second, first) : (first, second);
        var b1dw = u.Branch1Depthwise!;
        var b1pw = u.Branch1Pointwise!;
        int c = u.InChannels, h = u.InHeight, w = u.InWidth, oh = u.OutHeight, ow = u.OutWidth;

        string b1 = _r.ConvBn(depthwise, new ConvSpec($"branch1's depthwise convolution ({b1dw.Name}) of {where}", 3, u.Stride, c, c, c, h, w), b1dw.Name, b1dw.BatchNorm!);
        var conv = _r.Single(b1, "Conv", $"branch1's 1x1 convolution ({b1pw.Name}) of {where} (no ReLU after the depthwise convolution)");
        b1 = Pointwise(conv, b1pw, c, oh, ow, $"branch1's 1x1 convolution ({b1pw.Name}) of {where}");

        string b2 = Branch2(pointwise, u, c, where);
        return Join(b1, b2, u, where, $"branch1 ({b1pw.Name})", $"branch2 ({u.Branch2Last.Name})");
    }

    /// <summary>
    /// branch2 from its first 1x1 Conv: 1x1 + ReLU, depthwise, 1x1 + ReLU. <paramref name="split"/> is a stride-1
    /// unit's Split or Slice, whose input may carry the pair for the first 1x1's input (see <see cref="Pointwise"/>).
    /// </summary>
    private string Branch2(NodeProto conv, V2UnitShape u, int inChannels, string where, NodeProto? split = null)
    {
        var first = u.Branch2First;
        var dw = u.Branch2Depthwise;
        var last = u.Branch2Last;
        string y = Pointwise(conv, first, inChannels, u.InHeight, u.InWidth, $"branch2's first 1x1 convolution ({first.Name}) of {where}", split);
        var node = _r.Single(y, "Conv", $"branch2's depthwise 3x3 convolution ({dw.Name}) of {where}");
        y = _r.ConvBn(node, new ConvSpec($"branch2's depthwise convolution ({dw.Name}) of {where}", 3, u.Stride, dw.Channels, first.Channels, dw.Channels, u.InHeight, u.InWidth), dw.Name, dw.BatchNorm!);
        node = _r.Single(y, "Conv", $"branch2's last 1x1 convolution ({last.Name}) of {where} (no ReLU after the depthwise convolution)");
        return Pointwise(node, last, dw.Channels, u.OutHeight, u.OutWidth, $"branch2's last 1x1 convolution ({last.Name}) of {where}");
    }

    /// <summary>
    /// A 1x1 Conv with its batch norm and the ReLU after it. An int8 model takes the activation range from the pair on
    /// its input; for branch2's first 1x1 of a stride-1 unit, failing that, from a pair before the split
    /// (<paramref name="split"/>'s input): that pair quantizes the whole unit input, and so the half this convolution
    /// reads, with that range. The untouched half stays float here, as a stride-2 unit's depthwise convolution does
    /// when one pair on the unit input serves it and branch2.
    /// </summary>
    private string Pointwise(NodeProto conv, LayerDescription layer, int inChannels, int h, int w, string what, NodeProto? split = null)
    {
        _r.ReadInputRange(conv, layer.Name, split);
        string y = _r.ConvBn(conv, new ConvSpec(what, 1, 1, layer.Groups, inChannels, layer.Channels, h, w), layer.Name, layer.BatchNorm!);
        return _r.Relu(y, $"the ReLU after {what}");
    }

    private bool IsWindow(NodeProto conv)
    {
        if (_g.Ints(conv, "kernel_shape") is { } kernel) return kernel.Length == 2 && kernel[0] == 3 && kernel[1] == 3;
        var dims = conv.Input.Count > 1 && _g.IsConstant(conv.Input[1]) ? _g.ConstantDims(conv, 1, "weight") : Array.Empty<int>();
        return dims.Length == 4 && dims[2] == 3 && dims[3] == 3;
    }

    private string StrideOneUnit(string x, List<NodeProto> splitters, V2UnitShape u, string where)
    {
        // The parts the split makes: each output and the input channels it holds.
        var parts = new List<(string Value, ChannelRange Range, NodeProto Node)>();
        int c = u.InChannels;
        if (splitters.Count == 1 && splitters[0].OpType == "Split")
        {
            var split = splitters[0];
            _g.MarkVisited(split);
            long axis = _g.Int(split, "axis", 0);
            if (axis is not (1 or -3)) throw _g.Bad(split, $"{Expects} the split of {where} along channels (axis 1); the graph splits along axis {axis}");
            var outputs = split.Output.Where(o => o.Length > 0).ToList();
            long[] sizes;
            if (_g.Opset >= 13 && split.Input.Count > 1 && split.Input[1].Length > 0) sizes = _shapes.Numbers(split, 1, "split sizes");
            else if (_g.Opset < 13 && _g.Ints(split, "split") is { } attribute) sizes = attribute;
            else if (outputs.Count == 0) sizes = Array.Empty<long>();
            else
            {
                // Equal parts (opset 18's num_outputs: the last may be smaller).
                long n = _g.Opset >= 18 ? _g.Int(split, "num_outputs", outputs.Count) : outputs.Count;
                long part = n <= 0 ? 0 : (c + n - 1) / n;
                sizes = Enumerable.Range(0, outputs.Count).Select(i => Math.Clamp(c - i * part, 0, part)).ToArray();
            }
            if (sizes.Length != split.Output.Count || split.Output.Count != outputs.Count || sizes.Any(s => s < 0 || s > c) || sizes.Sum() != c)
                throw _g.Bad(split, $"{Expects} the split of {where} to cut its {c} channels in two; the graph splits them into {OnnxText.Dims(sizes)} over {split.Output.Count} outputs");
            int start = 0;
            for (int i = 0; i < outputs.Count; i++)
            {
                parts.Add((_g.Resolve(outputs[i]), new ChannelRange(start, (int)sizes[i]), split));
                start += (int)sizes[i];
            }
        }
        else if (splitters.All(s => s.OpType == "Slice"))
        {
            foreach (var slice in splitters)
            {
                _g.MarkVisited(slice);
                parts.Add((_g.Resolve(slice.Output[0]), SliceRange(slice, c, where), slice));
            }
        }
        else
        {
            throw _g.Bad(splitters.First(s => s.OpType == "Split"),
                $"{Expects} the input of {where} to be split once, by a Split or by two Slices; the graph reads it with {OnnxText.List(splitters.Select(s => $"{Q(_g.Label(s))} ({OnnxText.Op(s.OpType)})"))}");
        }

        string Ranges() => OnnxText.List(parts.Select(p => $"{p.Range} to {Q(p.Value)}"));
        if (parts.Count != 2 || parts.Count(p => p.Range == u.BranchInput) != 1 || parts.Count(p => p.Range == u.Pass) != 1)
            throw _g.Bad(parts.Count > 0 ? parts[0].Node : splitters[0],
                $"{Expects} {where} to split its {c} channels into two halves, {u.Pass} passing untouched and {u.BranchInput} into branch2; the graph's split gives {Ranges()}");
        var branchIn = parts.Single(p => p.Range == u.BranchInput);
        var passIn = parts.Single(p => p.Range == u.Pass);
        _shapes.Know(branchIn.Value, _batch, ShapeDim.Of(u.BranchInput.Count), ShapeDim.Of(u.InHeight), ShapeDim.Of(u.InWidth));
        _shapes.Know(passIn.Value, _batch, ShapeDim.Of(u.Pass.Count), ShapeDim.Of(u.InHeight), ShapeDim.Of(u.InWidth));

        // branch2 reads the half the declaration names (torchvision: x1, x2 = x.chunk(2, dim=1); branch2(x2)).
        string half = u.BranchInput.Start > 0 ? "second" : "first";
        var branchReaders = DataConsumers(branchIn.Value);
        var passReaders = DataConsumers(passIn.Value);
        if (passReaders.Count == 1 && passReaders[0].Node.OpType == "Conv" && !(branchReaders.Count == 1 && branchReaders[0].Node.OpType == "Conv"))
            throw _g.Bad(passReaders[0].Node,
                $"{Expects} branch2 of {where} to read the {half} half of the split ({u.BranchInput}), as torchvision's unit does; this Conv reads {u.Pass}, the half that passes untouched");
        if (branchReaders.Count != 1 || branchReaders[0].Node.OpType != "Conv" || branchReaders[0].Input != 0)
            throw branchReaders.Count == 1
                ? _g.Bad(branchReaders[0].Node, $"{Expects} branch2's first 1x1 Conv ({u.Branch2First.Name}) of {where} to read the {half} half of the split ({u.BranchInput}, {Q(branchIn.Value)}); the graph has {OnnxText.Op(branchReaders[0].Node.OpType)}")
                : new OnnxFormatException(branchIn.Value, $"value {Q(branchIn.Value)}, the {half} half of the split of {where} ({u.BranchInput}), feeds {branchReaders.Count} nodes{(branchReaders.Count == 0 ? "" : $" ({_r.Describe(branchReaders)})")}; {Expects} only branch2's first 1x1 Conv ({u.Branch2First.Name}).");
        _g.MarkVisited(branchReaders[0].Node);
        string b = Branch2(branchReaders[0].Node, u, u.BranchInput.Count, where, branchIn.Node);
        return Join(passIn.Value, b, u, where, $"the untouched half ({u.Pass})", $"branch2 ({u.Branch2Last.Name})");
    }

    /// <summary>The channels a Slice of the unit input takes, from its bounds (attributes before opset 10, inputs after, constant or computed).</summary>
    private ChannelRange SliceRange(NodeProto slice, int channels, string where)
    {
        long[] starts, ends, axes, steps;
        if (_g.Opset < 10)
        {
            starts = _g.Ints(slice, "starts") ?? Array.Empty<long>();
            ends = _g.Ints(slice, "ends") ?? Array.Empty<long>();
            axes = _g.Ints(slice, "axes") ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps = Enumerable.Repeat(1L, starts.Length).ToArray();
        }
        else
        {
            starts = _shapes.Numbers(slice, 1, "starts");
            ends = _shapes.Numbers(slice, 2, "ends");
            axes = slice.Input.Count > 3 && slice.Input[3].Length > 0 ? _shapes.Numbers(slice, 3, "axes") : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps = slice.Input.Count > 4 && slice.Input[4].Length > 0 ? _shapes.Numbers(slice, 4, "steps") : Enumerable.Repeat(1L, starts.Length).ToArray();
        }
        if (starts.Length != 1 || ends.Length != 1 || axes.Length != 1 || steps.Length != 1 || axes[0] is not (1 or -3) || steps[0] != 1)
            throw _g.Bad(slice, $"{Expects} the split of {where} to slice the channels (axis 1, step 1) only; the graph slices axes {OnnxText.Dims(axes)} from {OnnxText.Dims(starts)} to {OnnxText.Dims(ends)} in steps {OnnxText.Dims(steps)}");
        long Clamp(long v) => Math.Clamp(v < 0 ? v + channels : v, 0, channels);
        long from = Clamp(starts[0]), to = Clamp(ends[0]);
        return new ChannelRange((int)from, (int)Math.Max(to - from, 0));
    }

    /// <summary>The Concat of <paramref name="first"/> then <paramref name="second"/> over channels, then the shuffle of 2 groups; returns the unit's output.</summary>
    private string Join(string first, string second, V2UnitShape u, string where, string firstWhat, string secondWhat)
    {
        var concat = _r.SingleAnySlot(second, "Concat", $"the Concat of {firstWhat} and {secondWhat} of {where}");
        long axis = _g.Int(concat, "axis", long.MinValue);
        if (axis is not (1 or -3))
            throw _g.Bad(concat, $"{Expects} a concat over channels (axis 1) for {where}; the graph has axis {(axis == long.MinValue ? "unset" : axis.ToString(System.Globalization.CultureInfo.InvariantCulture))}");
        if (concat.Input.Count == 2 && _r.Same(concat.Input[0], second) && _r.Same(concat.Input[1], first))
            throw _g.Bad(concat, $"{Expects} the Concat of {where} to put {firstWhat} first, then {secondWhat}, as torchvision's unit does; the graph puts {secondWhat} first");
        if (concat.Input.Count != 2 || !_r.Same(concat.Input[0], first) || !_r.Same(concat.Input[1], second))
            throw _g.Bad(concat, $"{Expects} Concat({firstWhat} {Q(first)}, {secondWhat} {Q(second)}) for {where}; the graph concatenates {OnnxText.List(concat.Input.Select(Q))}");
        var firstReaders = DataConsumers(first);
        if (firstReaders.Count != 1)
            throw new OnnxFormatException(first, $"value {Q(first)}, {firstWhat} of {where}, feeds {firstReaders.Count} nodes ({_r.Describe(firstReaders)}); {Expects} only the unit's Concat.");
        string joined = _g.Resolve(concat.Output[0]);
        _shapes.Know(joined, _batch, ShapeDim.Of(u.OutChannels), ShapeDim.Of(u.OutHeight), ShapeDim.Of(u.OutWidth));
        return Shuffle(joined, u, where);
    }

    /// <summary>The channel shuffle of 2 groups: Reshape to [N, 2, C/2, H, W], Transpose [0, 2, 1, 3, 4], Reshape to [N, C, H, W].</summary>
    private string Shuffle(string y, V2UnitShape u, string where)
    {
        int c = u.OutChannels, h = u.OutHeight, w = u.OutWidth;
        var n = _batch;
        var shape = new[] { n, ShapeDim.Of(c), ShapeDim.Of(h), ShapeDim.Of(w) };
        var grouped = new[] { n, ShapeDim.Of(2), ShapeDim.Of(c / 2), ShapeDim.Of(h), ShapeDim.Of(w) };
        string what = $"the channel shuffle of {where} (Reshape to [N, 2, {c / 2}, {h}, {w}], Transpose, Reshape)";
        var readers = DataConsumers(y);
        if (readers.Count != 1 || readers[0].Node.OpType != "Reshape" || readers[0].Input != 0)
            throw readers.Count == 1
                ? _g.Bad(readers[0].Node, $"{Expects} {what} here, reading the Concat's output {Q(y)}; the graph has {OnnxText.Op(readers[0].Node.OpType)}")
                : new OnnxFormatException(y, $"value {Q(y)}, the Concat of {where}, feeds {readers.Count} nodes{(readers.Count == 0 ? "" : $" ({_r.Describe(readers)})")}; {Expects} only {what}.");
        var reshape = readers[0].Node;
        _g.MarkVisited(reshape);
        var target = _shapes.ReshapeTarget(reshape, shape);
        if (!target.SequenceEqual(grouped))
            throw _g.Bad(reshape, $"{Expects} {what}: Reshape of {ShapeDim.Text(shape)} to {ShapeDim.Text(grouped)}, 2 groups; the graph reshapes to {ShapeDim.Text(target)}"
                + (target.Length == 5 && !target[1].IsBatch && target[1].Value != 2 ? $", {target[1]} groups" : ""));
        var transpose = _r.Single(reshape.Output[0], "Transpose", $"the transpose of the channel shuffle of {where}");
        long[] perm = _g.Ints(transpose, "perm") ?? new long[] { 4, 3, 2, 1, 0 };
        if (!perm.SequenceEqual(new long[] { 0, 2, 1, 3, 4 }))
            throw _g.Bad(transpose, $"{Expects} the channel shuffle of {where} to swap the group axes (perm [0, 2, 1, 3, 4]); the graph has perm {OnnxText.Dims(perm)}");
        var back = _r.Single(transpose.Output[0], "Reshape", $"the reshape back to [N, C, H, W] ending the channel shuffle of {where}");
        var swapped = new[] { n, ShapeDim.Of(c / 2), ShapeDim.Of(2), ShapeDim.Of(h), ShapeDim.Of(w) };
        var result = _shapes.ReshapeTarget(back, swapped);
        if (!result.SequenceEqual(shape))
            throw _g.Bad(back, $"{Expects} the channel shuffle of {where} to end with a reshape to {ShapeDim.Text(shape)}; the graph reshapes to {ShapeDim.Text(result)}");
        string output = _g.Resolve(back.Output[0]);
        _shapes.Know(output, shape);
        return output;
    }
}
