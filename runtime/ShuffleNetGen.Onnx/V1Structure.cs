using System;
using System.Linq;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// The ShuffleNet v1 structure matcher: from the image input, the stem (Conv, optional BatchNormalization, Relu,
/// MaxPool when declared), then each unit (pointwise group Conv, Relu, channel shuffle as Reshape/Transpose/Reshape,
/// depthwise Conv, pointwise group Conv, and the shortcut: Add for stride 1; for stride 2 a 3x3 stride-2 AveragePool,
/// either after a Pad or with pads 1 and count_include_pad = 1, joined by Concat), then the shared head. Shapes and
/// names come from the description's layers (<see cref="V1Units"/>).
/// </summary>
internal sealed class V1Structure
{
    private readonly OnnxReader _r;
    private readonly OnnxGraph _g;
    private readonly ModelDescription _model;
    private readonly V1Units _network;

    public V1Structure(ModelProto proto, ModelDescription model)
    {
        // The description first, then the file (the order the importer has always checked them in).
        _network = V1Units.Of(model);
        _r = new OnnxReader(proto, model);
        _g = _r.G;
        _model = model;
    }

    private string Expects => _r.Expects;

    private static string Q(string? name) => OnnxText.Q(name);

    public TensorSet Run()
    {
        string x = _r.Input();
        int h = _model.InputHeight, w = _model.InputWidth;

        // Stem.
        var conv = _r.Single(x, "Conv", "the stem 3x3 convolution");
        x = _r.ConvBn(conv, new ConvSpec("the stem convolution", 3, _model.StemStride, 1, _model.InputChannels, _model.StemChannels, h, w),
            _network.Stem.Name, _network.Stem.BatchNorm!);
        h = FloatForward.OutSize(h, _model.StemStride); w = FloatForward.OutSize(w, _model.StemStride);
        x = _r.Relu(x, "the ReLU after the stem convolution");
        if (_model.StemMaxPool)
        {
            var pool = _r.Single(x, "MaxPool", "the 3x3 stride-2 max pool after the stem (StemMaxPool = true)");
            _r.CheckPool(pool, "the stem max pool", padded: true);
            x = pool.Output[0];
            h = FloatForward.OutSize(h, 2); w = FloatForward.OutSize(w, 2);
        }
        else
        {
            var next = _g.ConsumersOf(x);
            if (next.Count == 1 && next[0].Node.OpType == "MaxPool")
                throw _g.Bad(next[0].Node, $"{Expects} no max pool after the stem (StemMaxPool = false), but the graph has one");
        }

        // Units.
        var units = _network.Units;
        foreach (var unit in units) x = Unit(x, unit);

        var last = units[^1]; // every stage has at least one unit (the declaration's checks)
        var head = _g.ConsumersOf(x);
        if (head.Count == 2 && head.Any(c => c.Node.OpType == "Conv"))
            throw new OnnxFormatException(x, $"{Expects} {units.Count} units (stages {OnnxText.Dims(_model.StageRepeats)}) followed by the global pool, but the graph has more units after unit {units.Count - 1}.");
        x = _r.Head(x, last.OutChannels, last.OutHeight, last.OutWidth, _network.Classifier);
        return _r.Finish(x, "ShuffleNet v1");
    }

    private string Unit(string x, UnitShape unit)
    {
        int stride = unit.Stride;
        string where = $"unit {unit.Index} (stage {unit.Stage + 2}, {(unit.Downsamples ? "its first, stride 2" : $"unit {unit.Repeat + 1} of {_model.StageRepeats[unit.Stage]}")})";
        var consumers = _g.ConsumersOf(x);
        var head = consumers.FirstOrDefault(c => c.Node.OpType is "GlobalAveragePool" or "ReduceMean");
        if (head.Node is not null)
            throw _g.Bad(head.Node, $"{Expects} {_network.Units.Count} units (stages {OnnxText.Dims(_model.StageRepeats)}), but the graph reaches the global pool after {unit.Index}");
        if (consumers.Count == 2 && consumers.All(c => c.Node.OpType == "Conv" && c.Input == 0))
            throw _g.Bad(consumers[0].Node,
                $"this node and {Q(_g.Label(consumers[1].Node))} (Conv) both read the input of {where}, as the two branches of a ShuffleNet v2 downsampling unit do; {Expects} a ShuffleNet v1 unit there (its first pointwise Conv and its {(stride == 2 ? "AveragePool shortcut" : "residual Add")}). The file holds a ShuffleNet v2: declare the model with [ShuffleNetV2(...)] or \"version\": 2");
        if (consumers.Count != 2)
            throw new OnnxFormatException(x,
                $"value {Q(x)}, the input of {where}, feeds {consumers.Count} nodes ({_r.Describe(consumers)}); {Expects} exactly two: the unit's first pointwise Conv and its shortcut ({(stride == 2 ? "AveragePool" : "Add")}).");
        int convAt = consumers[0].Node.OpType == "Conv" && consumers[0].Input == 0 ? 0 : 1;
        var conv1 = consumers[convAt];
        var shortcut = consumers[1 - convAt];
        if (conv1.Node.OpType != "Conv" || conv1.Input != 0)
            throw new OnnxFormatException(x, $"value {Q(x)}, the input of {where}, feeds {_r.Describe(consumers)}; {Expects} the unit's first pointwise Conv among them.");

        int mid = unit.BottleneckChannels, h = unit.InHeight, w = unit.InWidth;

        string y = _r.ConvBn(conv1.Node, new ConvSpec($"the first pointwise convolution of {where}", 1, 1, unit.FirstPointwiseGroups, unit.InChannels, mid, h, w), unit.FirstPointwise, unit.FirstBatchNorm);
        _r.ReadInputRange(conv1.Node, unit.FirstPointwise);
        y = _r.Relu(y, $"the ReLU after the first pointwise convolution of {where}");
        y = Shuffle(y, mid, h, w, where);
        var dw = _r.Single(y, "Conv", $"the depthwise 3x3 convolution of {where}");
        y = _r.ConvBn(dw, new ConvSpec($"the depthwise convolution of {where}", 3, stride, mid, mid, mid, h, w), unit.Depthwise, unit.DepthwiseBatchNorm);
        var conv3 = _r.Single(y, "Conv", $"the second pointwise convolution of {where} (no ReLU after the depthwise convolution)");
        y = _r.ConvBn(conv3, new ConvSpec($"the second pointwise convolution of {where}", 1, 1, unit.Groups, mid, unit.BranchChannels, unit.OutHeight, unit.OutWidth), unit.SecondPointwise, unit.SecondBatchNorm);
        _r.ReadInputRange(conv3, unit.SecondPointwise);

        string joined;
        if (stride == 1)
        {
            if (shortcut.Node.OpType != "Add")
                throw _g.Bad(shortcut.Node, $"this node reads the input of {where}; {Expects} the residual Add of a stride-1 unit (the graph has a stride-2 shortcut or another structure here)");
            _g.MarkVisited(shortcut.Node);
            var add = shortcut.Node;
            if (add.Input.Count != 2 || !(_r.Same(add.Input[0], x) && _r.Same(add.Input[1], y) || _r.Same(add.Input[0], y) && _r.Same(add.Input[1], x)))
                throw _g.Bad(add, $"{Expects} the residual Add of {where} to add the unit input {Q(x)} and the branch {Q(y)}; the graph adds {OnnxText.List(add.Input.Select(Q))}");
            joined = add.Output[0];
        }
        else
        {
            string pooled = StrideTwoShortcut(shortcut.Node, where);
            var concat = _r.SingleAnySlot(y, "Concat", $"the Concat of the shortcut and branch of {where}");
            long axis = _g.Int(concat, "axis", long.MinValue);
            if (axis != 1 && axis != -3)
                throw _g.Bad(concat, $"{Expects} a concat over channels (axis 1) for {where}; the graph has axis {(axis == long.MinValue ? "unset" : axis.ToString())}");
            if (concat.Input.Count != 2 || !_r.Same(concat.Input[0], pooled) || !_r.Same(concat.Input[1], y))
                throw _g.Bad(concat, $"{Expects} Concat(pooled shortcut {Q(pooled)}, branch {Q(y)}) for {where}, shortcut channels first; the graph concatenates {OnnxText.List(concat.Input.Select(Q))}");
            joined = concat.Output[0];
        }
        return _r.Relu(joined, $"the ReLU at the end of {where}");
    }

    private string StrideTwoShortcut(NodeProto node, string where)
    {
        _g.MarkVisited(node);
        if (node.OpType == "Pad")
        {
            string mode = _g.String(node, "mode", "constant");
            if (mode != "constant") throw _g.Bad(node, $"{Expects} zero padding before the average pool of {where}; the graph pads in mode {Q(mode)}");
            long[] pads = _g.Opset >= 11 ? _g.Longs(node, 1, "pads") : (_g.Ints(node, "pads") ?? Array.Empty<long>());
            if (_g.Opset >= 18 && node.Input.Count > 3 && node.Input[3].Length > 0)
            {
                // Pads over listed axes only: expand to all four.
                long[] axes = _g.Longs(node, 3, "axes");
                if (pads.Length != 2 * axes.Length) throw _g.Bad(node, $"it has {axes.Length} axes but {pads.Length} pads");
                var full = new long[8];
                for (int i = 0; i < axes.Length; i++)
                {
                    long a = axes[i] < 0 ? axes[i] + 4 : axes[i];
                    if (a < 0 || a > 3) throw _g.Bad(node, $"it pads axis {axes[i]} of a 4-dimensional tensor");
                    full[a] = pads[i];
                    full[a + 4] = pads[i + axes.Length];
                }
                pads = full;
            }
            if (!pads.SequenceEqual(new long[] { 0, 0, 1, 1, 0, 0, 1, 1 }))
                throw _g.Bad(node, $"{Expects} the shortcut of {where} padded by one pixel on each side of H and W (pads [0, 0, 1, 1, 0, 0, 1, 1]); the graph has pads {OnnxText.Dims(pads)}");
            float value = 0;
            if (_g.Opset >= 11 && node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                var dims = _g.ConstantDims(node, 2, "constant value");
                if (dims.Any(d => d != 1)) throw _g.Bad(node, $"its constant value should be a scalar; the graph's has shape {OnnxText.Dims(dims)}");
                value = _g.Floats(node, 2, "constant value").Data[0];
            }
            else if (_g.Opset < 11) value = _g.Float(node, "value", 0f);
            if (value != 0) throw _g.Bad(node, $"{Expects} zero padding before the average pool of {where}; the graph pads with {value}");
            var pool = _r.Single(node.Output[0], "AveragePool", $"the 3x3 stride-2 average pool of the shortcut of {where}");
            _r.CheckPool(pool, $"the shortcut average pool of {where}", padded: false);
            return pool.Output[0];
        }
        if (node.OpType == "AveragePool")
        {
            _r.CheckPool(node, $"the shortcut average pool of {where}", padded: true);
            if (_g.Int(node, "count_include_pad", 0) != 1)
                throw _g.Bad(node, $"{Expects} the shortcut average pool of {where} to count the zero padding (count_include_pad = 1, as PyTorch's ShuffleNet does); the graph has count_include_pad = 0, which averages border windows over fewer pixels");
            return node.Output[0];
        }
        throw _g.Bad(node, $"this node reads the input of {where}; {Expects} the stride-2 shortcut there (Pad + AveragePool, or AveragePool with pads 1 and count_include_pad = 1){(node.OpType == "Add" ? " — the graph has a stride-1 residual Add, so its unit strides differ from the declared stages" : "")}");
    }


    private string Shuffle(string y, int channels, int h, int w, string where)
    {
        var next = _g.ConsumersOf(y);
        if (next.Count == 1 && next[0].Node.OpType == "Conv" && _model.Groups == 1) return y;
        // The paper's shuffle views the channels as [g, C/g], the official (megvii) order as [C/g, g]; both then swap
        // the two axes. When C = g² the views coincide, and so do the permutations.
        bool official = _model.ShuffleOrder == ShuffleOrder.Official;
        int groupAxis = official ? 2 : 1;
        string view = official ? $"{channels / Math.Max(_model.Groups, 1)}, {_model.Groups}" : $"{_model.Groups}, {channels / Math.Max(_model.Groups, 1)}";
        var reshape = _r.Single(y, "Reshape", _model.Groups == 1
            ? $"the depthwise convolution of {where}"
            : $"the channel shuffle of {where} (Reshape to [N, {view}, H, W], Transpose, Reshape)");
        long[] first = _r.ReshapeTarget(reshape, new long[] { _r.Batch, channels, h, w });
        // ReshapeTarget guarantees the dims are positive with the exact product batch · channels · h · w, so every
        // partial product below is at most that and cannot overflow.
        if (first.Length < 3 || first[0] != _r.Batch || first[1] * first[2] != channels || first.Skip(3).Aggregate(1L, (a, b) => a * b) != (long)h * w)
            throw _g.Bad(reshape, $"{Expects} the channel shuffle of {where}: Reshape of [{_r.Batch}, {channels}, {h}, {w}] to [{_r.Batch}, {view}, {h}, {w}]; the graph reshapes to {OnnxText.Dims(first)}");
        if (first[groupAxis] != _model.Groups)
            throw _g.Bad(reshape, official
                ? $"{Expects} the official (megvii) channel shuffle with {_model.Groups} groups (Groups = {_model.Groups}, ShuffleOrder = Official) in {where}, a reshape to [{_r.Batch}, {view}, {h}, {w}]; the graph reshapes to {OnnxText.Dims(first)}"
                : $"{Expects} a channel shuffle with {_model.Groups} groups (Groups = {_model.Groups}) in {where}; the graph shuffles {channels} channels in {first[1]} groups of {first[2]} (reshape to {OnnxText.Dims(first)})");
        var transpose = _r.Single(reshape.Output[0], "Transpose", $"the transpose of the channel shuffle of {where}");
        long[] perm = _g.Ints(transpose, "perm") ?? Enumerable.Range(0, first.Length).Reverse().Select(i => (long)i).ToArray();
        var want = Enumerable.Range(0, first.Length).Select(i => (long)(i == 1 ? 2 : i == 2 ? 1 : i)).ToArray();
        if (!perm.SequenceEqual(want))
            throw _g.Bad(transpose, $"{Expects} the channel shuffle of {where} to swap the group axes (perm {OnnxText.Dims(want)}); the graph has perm {OnnxText.Dims(perm)}");
        var back = _r.Single(transpose.Output[0], "Reshape", $"the reshape back to [N, C, H, W] ending the channel shuffle of {where}");
        var permuted = perm.Select(i => first[i]).ToArray();
        long[] last = _r.ReshapeTarget(back, permuted);
        if (!last.SequenceEqual(new long[] { _r.Batch, channels, h, w }))
            throw _g.Bad(back, $"{Expects} the channel shuffle of {where} to end with a reshape to [{_r.Batch}, {channels}, {h}, {w}]; the graph reshapes to {OnnxText.Dims(last)}");
        return back.Output[0];
    }

}
