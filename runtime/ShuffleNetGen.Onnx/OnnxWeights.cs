using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Google.Protobuf;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// Reads the weights of a ShuffleNet v1 from an ONNX model into the canonical tensor layout of a generated model, e.g.
/// <c>MyNet.FromTensors(OnnxWeights.Read("m.onnx", MyNet.Description))</c>.
/// </summary>
/// <remarks>
/// <para>The importer walks the graph, not tensor names: from the input it matches the stem (Conv, optional
/// BatchNormalization, Relu, MaxPool when declared), then each unit (pointwise group Conv, Relu, channel shuffle as
/// Reshape/Transpose/Reshape, depthwise Conv, pointwise group Conv, and the shortcut: Add for stride 1; for stride 2 a
/// 3x3 stride-2 AveragePool, either after a Pad (what torch.onnx.export writes) or with pads 1 and
/// count_include_pad = 1, joined by Concat), the global pool (GlobalAveragePool, ReduceMean over H and W, or an
/// AveragePool over the whole map), Flatten/Reshape/Squeeze, and the classifier (Gemm, or MatMul with an optional
/// Add). Identity and inference Dropout nodes are seen through. Weights may be initializers or Constant nodes, as
/// raw_data or typed fields.</para>
/// <para>Batch norm may be folded into the convolutions (torch.onnx.export in eval mode) or separate
/// BatchNormalization nodes. A folded convolution bias <c>b</c> becomes batch-norm parameters gamma = 2^19, beta = b,
/// mean = 0, var = 2^38, which the loader's fold (scale = gamma / sqrt(var + 1e-5), shift = beta − mean·scale, in
/// double) turns back into exactly scale 1 and shift b: 1e-5 is below half an ulp of 2^38 in double, so
/// var + 1e-5 == 2^38 and its square root is exactly 2^19. A BatchNormalization with epsilon e ≠ 1e-5 keeps its
/// gamma and beta and gets var' = var + e − 1e-5, so that var' + 1e-5 = var + e up to one float32 rounding of var'.</para>
/// <para>QDQ-quantized models load too (OnnxGraph.Qdq.cs): quantized weights are dequantized, activation
/// QuantizeLinear/DequantizeLinear pairs are seen through, and a model declared <c>Precision.Int8</c> takes its 1x1
/// convolutions' activation scales from the pairs on their inputs (all of them or none; with none, the weights come
/// back float for <c>Int8Calibration.Calibrate</c>).</para>
/// <para>Every attribute and shape is checked against the declared model (groups, widths, strides, input shape,
/// classes). Any difference, an unsupported opset or operator, or a corrupt file throws
/// <see cref="OnnxFormatException"/> naming the ONNX node and saying what the declaration expects and what the graph
/// has.</para>
/// </remarks>
public static class OnnxWeights
{
    /// <summary>Lowest default-domain opset read (BatchNormalization and Pad as defined from opset 9).</summary>
    public const int MinOpset = 9;

    /// <summary>Highest default-domain opset read (the operators used here have the same semantics through it).</summary>
    public const int MaxOpset = 23;

    /// <summary>Reads an ONNX file and returns its weights in the canonical layout of <paramref name="model"/>.</summary>
    /// <exception cref="OnnxFormatException">The file is not a valid ONNX model or does not match the declared model.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static TensorSet Read(string path, ModelDescription model)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        if (model is null) throw new ArgumentNullException(nameof(model));
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            return Read(stream, model);
        }
        catch (OnnxFormatException e)
        {
            // The stream reader cannot know the file name, and a user with several model files needs it.
            throw new OnnxFormatException(e.NodeName, $"{path}: {e.Message}", e);
        }
    }

    /// <summary>Reads an ONNX model from a stream and returns its weights in the canonical layout of <paramref name="model"/>.</summary>
    /// <exception cref="OnnxFormatException">The data is not a valid ONNX model or does not match the declared model.</exception>
    public static TensorSet Read(Stream stream, ModelDescription model)
    {
        if (stream is null) throw new ArgumentNullException(nameof(stream));
        if (model is null) throw new ArgumentNullException(nameof(model));
        if (!stream.CanRead) throw new ArgumentException("The stream is not readable.", nameof(stream));

        ModelProto proto;
        try
        {
            proto = Parse(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException(null, $"the data is not a valid ONNX model (protobuf decoding failed: {e.Message}); the file is corrupt, truncated or not ONNX.", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or OverflowException or IndexOutOfRangeException)
        {
            throw new OnnxFormatException(null, $"the data is not a valid ONNX model ({e.GetType().Name}: {OnnxText.Q(e.Message)}); the file is corrupt or not ONNX.", e);
        }
        try
        {
            return new Importer(proto, model).Run();
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or OverflowException or InvalidCastException
                                      or KeyNotFoundException or InvalidOperationException)
        {
            // Every check above names what it found; this is the safety net for a malformed graph no check foresaw.
            throw new OnnxFormatException(null, $"the ONNX graph is malformed ({e.GetType().Name}: {OnnxText.Q(e.Message)}).", e);
        }
    }

    // Parsing from one buffer lets protobuf check every declared length against the bytes that exist and copy each
    // field once; parsing from the stream read oversized fields in chunks first, several times the file in allocations.
    private static ModelProto Parse(Stream stream)
    {
        if (stream.CanSeek)
        {
            long remaining = Math.Max(stream.Length - stream.Position, 0);
            if (remaining > Array.MaxLength)
                throw new OnnxFormatException(null, $"the data is {remaining} bytes long; ONNX models with their weights inside are below 2 GB (protobuf's limit).");
            var buffer = new byte[remaining];
            stream.ReadExactly(buffer);
            return ModelProto.Parser.ParseFrom(buffer);
        }
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        return ModelProto.Parser.ParseFrom(copy.GetBuffer(), 0, (int)copy.Length);
    }

    private sealed class Importer
    {
        // Folded-conv encoding: var + 1e-5 rounds to exactly 2^38 in double, whose root 2^19 cancels gamma exactly.
        private const float ExactVariance = 274877906944f; // 2^38
        private const float ExactGamma = 524288f;          // 2^19

        private readonly ModelProto _proto;
        private readonly ModelDescription _model;
        private readonly V1Units _network;
        private readonly Dictionary<string, int[]> _layout = new(StringComparer.Ordinal);
        private readonly Dictionary<string, NamedTensor> _tensors = new(StringComparer.Ordinal);
        private readonly List<(string Conv, NodeProto Node, OnnxGraph.ActivationRange? Range)> _inputRanges = new();
        private OnnxGraph _g = null!;
        private int _batch = 1;

        public Importer(ModelProto proto, ModelDescription model)
        {
            _proto = proto;
            _model = model;
            _network = V1Units.Of(model);
            foreach (var shape in model.WeightLayout) _layout[shape.Name] = shape.Dimensions;
        }

        private string Expects => $"the model {_model.Name} expects";

        private static string Q(string? name) => OnnxText.Q(name);

        public TensorSet Run()
        {
            var graph = _proto.Graph;
            if (graph is null || graph.Node.Count == 0)
                throw new OnnxFormatException(null, "the data holds no ONNX graph (an empty, truncated or non-ONNX file).");
            int opset = -1;
            foreach (var import in _proto.OpsetImport)
                if (import.Domain.Length == 0 || import.Domain == "ai.onnx") opset = (int)Math.Clamp(import.Version, int.MinValue, int.MaxValue);
            if (opset < 0)
                throw new OnnxFormatException(null, "the model imports no version of the default ONNX operator set (opset_import is empty); the file is corrupt or not ONNX.");
            if (opset < MinOpset || opset > MaxOpset)
                throw new OnnxFormatException(null, $"the model uses ONNX opset {opset}; ShuffleNetGen reads opsets {MinOpset} to {MaxOpset}. Re-export with opset_version in that range (e.g. 13).");
            _g = new OnnxGraph(graph, opset);
            _g.CheckActivationQdq();
            // Weights no node reads would be dropped without a word; a name check, so nothing of theirs is decoded.
            var unread = _g.UnreadInitializers().ToList();
            if (unread.Count > 0)
                throw new OnnxFormatException(unread[0].Name,
                    $"the graph has {unread.Count} initializer{(unread.Count == 1 ? "" : "s")} that no node reads ({OnnxText.List(unread.Select(i => Q(i.Name)))}); every weight in the file must feed the ShuffleNet structure ShuffleNetGen imports.");

            string x = Input(graph);
            int h = _model.InputHeight, w = _model.InputWidth;

            // Stem.
            var conv = Single(x, "Conv", "the stem 3x3 convolution");
            x = ConvBn(conv, new ConvSpec("the stem convolution", 3, _model.StemStride, 1, _model.InputChannels, _model.StemChannels, h, w),
                _network.Stem.Name, _network.Stem.BatchNorm!);
            h = V1Units.Size(h, _model.StemStride); w = V1Units.Size(w, _model.StemStride);
            x = Relu(x, "the ReLU after the stem convolution");
            if (_model.StemMaxPool)
            {
                var pool = Single(x, "MaxPool", "the 3x3 stride-2 max pool after the stem (StemMaxPool = true)");
                CheckPool(pool, "the stem max pool", padded: true);
                x = pool.Output[0];
                h = V1Units.Size(h, 2); w = V1Units.Size(w, 2);
            }
            else
            {
                var next = _g.ConsumersOf(x);
                if (next.Count == 1 && next[0].Node.OpType == "MaxPool")
                    throw _g.Bad(next[0].Node, $"{Expects} no max pool after the stem (StemMaxPool = false), but the graph has one");
            }

            // Units.
            var units = _network.Units;
            foreach (var unit in units) x = Unit(x, unit, units.Count);

            var last = units[^1]; // every stage has at least one unit (the declaration's checks)
            x = Head(x, last.OutChannels, last.OutHeight, last.OutWidth, units.Count);

            if (!_g.IsGraphOutput(x))
                throw new OnnxFormatException(x, $"the classifier's output {Q(x)} is not an output of the graph; ShuffleNetGen imports graphs that end at the logits.");
            var extra = _g.Unvisited().Where(n => n.OpType != "Constant" || _g.ConsumersOf(n.Output[0]).Count > 0).ToList();
            if (extra.Count > 0)
                throw _g.Bad(extra[0], $"this node{(extra.Count > 1 ? $", and {extra.Count - 1} more ({OnnxText.List(extra.Skip(1).Select(n => Q(_g.Label(n))))})," : "")} is not part of the ShuffleNet v1 structure ShuffleNetGen imports (the graph must end at the classifier's logits, e.g. without Softmax)");

            if (_model.Precision == Precision.Int8) PutActivationScales();

            var set = new TensorSet();
            foreach (var shape in _model.WeightLayout)
            {
                // A float ONNX file read for an int8 model gives float weights without activation scales, for
                // Int8Calibration.Calibrate (or for FromTensors to name the missing scale and point there).
                if (!_tensors.TryGetValue(shape.Name, out var t) && IsActivationScale(shape.Name) && _inputRanges.All(r => r.Range is null)) continue;
                if (t is null)
                    throw new OnnxFormatException(null, $"the graph provided no tensor for {Q(shape.Name)} {shape.ShapeText}; this is a bug in the importer.");
                set.Add(t);
            }
            return set;
        }

        // ------------------------------------------------------------ structure

        private string Input(GraphProto graph)
        {
            var inputs = graph.Input.Where(v => !_g.IsConstant(v.Name)).ToList();
            if (inputs.Count != 1)
                throw new OnnxFormatException(null,
                    $"the graph has {inputs.Count} data inputs ({OnnxText.List(inputs.Select(i => Q(i.Name)))}); a ShuffleNet has exactly one, the image.");
            var input = inputs[0];
            var type = input.Type;
            if (type is null || type.ValueCase != TypeProto.ValueOneofCase.TensorType)
                throw new OnnxFormatException(input.Name, $"graph input {Q(input.Name)} is not a tensor.");
            if (type.TensorType.ElemType != (int)TensorProto.Types.DataType.Float)
                throw new OnnxFormatException(input.Name, $"graph input {Q(input.Name)} has element type {type.TensorType.ElemType}; {Expects} FLOAT.");
            if (type.TensorType.Shape is { } shape)
            {
                var dims = shape.Dim;
                string Text() => "[" + OnnxText.List(dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(CultureInfo.InvariantCulture) : (d.DimParam.Length > 0 ? Q(d.DimParam) : "?"))) + "]";
                string expected = $"[N, {_model.InputChannels}, {_model.InputHeight}, {_model.InputWidth}]";
                if (dims.Count != 4)
                    throw new OnnxFormatException(input.Name, $"graph input {Q(input.Name)} has shape {Text()}; {Expects} {expected} (NCHW).");
                long[] want = { 0, _model.InputChannels, _model.InputHeight, _model.InputWidth };
                for (int i = 1; i < 4; i++)
                {
                    if (dims[i].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[i].DimValue != want[i])
                        throw new OnnxFormatException(input.Name, $"graph input {Q(input.Name)} has shape {Text()}; {Expects} {expected} (NCHW).");
                }
                if (dims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[0].DimValue >= 1 && dims[0].DimValue <= int.MaxValue)
                    _batch = (int)dims[0].DimValue;
            }
            return _g.Resolve(input.Name);
        }

        private string Unit(string x, UnitShape unit, int totalUnits)
        {
            int stride = unit.Stride;
            string where = $"unit {unit.Index} (stage {unit.Stage + 2}, {(unit.Downsamples ? "its first, stride 2" : $"unit {unit.Repeat + 1} of {_model.StageRepeats[unit.Stage]}")})";
            var consumers = _g.ConsumersOf(x);
            var head = consumers.FirstOrDefault(c => c.Node.OpType is "GlobalAveragePool" or "ReduceMean");
            if (head.Node is not null)
                throw _g.Bad(head.Node, $"{Expects} {totalUnits} units (stages {OnnxText.Dims(_model.StageRepeats)}), but the graph reaches the global pool after {unit.Index}");
            if (consumers.Count != 2)
                throw new OnnxFormatException(x,
                    $"value {Q(x)}, the input of {where}, feeds {consumers.Count} nodes ({Describe(consumers)}); {Expects} exactly two: the unit's first pointwise Conv and its shortcut ({(stride == 2 ? "AveragePool" : "Add")}).");
            int convAt = consumers[0].Node.OpType == "Conv" && consumers[0].Input == 0 ? 0 : 1;
            var conv1 = consumers[convAt];
            var shortcut = consumers[1 - convAt];
            if (conv1.Node.OpType != "Conv" || conv1.Input != 0)
                throw new OnnxFormatException(x, $"value {Q(x)}, the input of {where}, feeds {Describe(consumers)}; {Expects} the unit's first pointwise Conv among them.");

            int mid = unit.BottleneckChannels, h = unit.InHeight, w = unit.InWidth;

            string y = ConvBn(conv1.Node, new ConvSpec($"the first pointwise convolution of {where}", 1, 1, unit.FirstPointwiseGroups, unit.InChannels, mid, h, w), unit.FirstPointwise, unit.FirstBatchNorm);
            ReadInputRange(conv1.Node, unit.FirstPointwise);
            y = Relu(y, $"the ReLU after the first pointwise convolution of {where}");
            y = Shuffle(y, mid, h, w, where);
            var dw = Single(y, "Conv", $"the depthwise 3x3 convolution of {where}");
            y = ConvBn(dw, new ConvSpec($"the depthwise convolution of {where}", 3, stride, mid, mid, mid, h, w), unit.Depthwise, unit.DepthwiseBatchNorm);
            var conv3 = Single(y, "Conv", $"the second pointwise convolution of {where} (no ReLU after the depthwise convolution)");
            y = ConvBn(conv3, new ConvSpec($"the second pointwise convolution of {where}", 1, 1, unit.Groups, mid, unit.BranchChannels, unit.OutHeight, unit.OutWidth), unit.SecondPointwise, unit.SecondBatchNorm);
            ReadInputRange(conv3, unit.SecondPointwise);

            string joined;
            if (stride == 1)
            {
                if (shortcut.Node.OpType != "Add")
                    throw _g.Bad(shortcut.Node, $"this node reads the input of {where}; {Expects} the residual Add of a stride-1 unit (the graph has a stride-2 shortcut or another structure here)");
                _g.MarkVisited(shortcut.Node);
                var add = shortcut.Node;
                if (add.Input.Count != 2 || !(Same(add.Input[0], x) && Same(add.Input[1], y) || Same(add.Input[0], y) && Same(add.Input[1], x)))
                    throw _g.Bad(add, $"{Expects} the residual Add of {where} to add the unit input {Q(x)} and the branch {Q(y)}; the graph adds {OnnxText.List(add.Input.Select(Q))}");
                joined = add.Output[0];
            }
            else
            {
                string pooled = StrideTwoShortcut(shortcut.Node, where);
                var concat = SingleAnySlot(y, "Concat", $"the Concat of the shortcut and branch of {where}");
                long axis = _g.Int(concat, "axis", long.MinValue);
                if (axis != 1 && axis != -3)
                    throw _g.Bad(concat, $"{Expects} a concat over channels (axis 1) for {where}; the graph has axis {(axis == long.MinValue ? "unset" : axis.ToString())}");
                if (concat.Input.Count != 2 || !Same(concat.Input[0], pooled) || !Same(concat.Input[1], y))
                    throw _g.Bad(concat, $"{Expects} Concat(pooled shortcut {Q(pooled)}, branch {Q(y)}) for {where}, shortcut channels first; the graph concatenates {OnnxText.List(concat.Input.Select(Q))}");
                joined = concat.Output[0];
            }
            return Relu(joined, $"the ReLU at the end of {where}");
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
                var pool = Single(node.Output[0], "AveragePool", $"the 3x3 stride-2 average pool of the shortcut of {where}");
                CheckPool(pool, $"the shortcut average pool of {where}", padded: false);
                return pool.Output[0];
            }
            if (node.OpType == "AveragePool")
            {
                CheckPool(node, $"the shortcut average pool of {where}", padded: true);
                if (_g.Int(node, "count_include_pad", 0) != 1)
                    throw _g.Bad(node, $"{Expects} the shortcut average pool of {where} to count the zero padding (count_include_pad = 1, as PyTorch's ShuffleNet does); the graph has count_include_pad = 0, which averages border windows over fewer pixels");
                return node.Output[0];
            }
            throw _g.Bad(node, $"this node reads the input of {where}; {Expects} the stride-2 shortcut there (Pad + AveragePool, or AveragePool with pads 1 and count_include_pad = 1){(node.OpType == "Add" ? " — the graph has a stride-1 residual Add, so its unit strides differ from the declared stages" : "")}");
        }

        private void CheckPool(NodeProto pool, string what, bool padded)
        {
            _g.MarkVisited(pool);
            long[] kernel = _g.Ints(pool, "kernel_shape") ?? Array.Empty<long>();
            long[] strides = _g.Ints(pool, "strides") ?? new long[] { 1, 1 };
            long[] pads = _g.Ints(pool, "pads") ?? new long[4];
            long[] dil = _g.Ints(pool, "dilations") ?? new long[] { 1, 1 };
            string autoPad = _g.String(pool, "auto_pad", "NOTSET");
            long p = padded ? 1 : 0;
            if (!kernel.SequenceEqual(new long[] { 3, 3 }) || !strides.SequenceEqual(new long[] { 2, 2 }) || !dil.SequenceEqual(new long[] { 1, 1 })
                || autoPad != "NOTSET" || !pads.SequenceEqual(new[] { p, p, p, p }) || _g.Int(pool, "ceil_mode", 0) != 0)
                throw _g.Bad(pool,
                    $"{Expects} {what} with kernel [3, 3], strides [2, 2], pads [{p}, {p}, {p}, {p}], floor rounding; the graph has kernel {OnnxText.Dims(kernel)}, strides {OnnxText.Dims(strides)}, pads {OnnxText.Dims(pads)}"
                    + (autoPad != "NOTSET" ? $", auto_pad {Q(autoPad)}" : "") + (_g.Int(pool, "ceil_mode", 0) != 0 ? ", ceil_mode 1" : "") + (dil.Any(d => d != 1) ? $", dilations {OnnxText.Dims(dil)}" : ""));
            if (pool.OpType == "MaxPool" && pool.Output.Skip(1).Any(o => o.Length > 0 && _g.ConsumersOf(o).Count > 0))
                throw _g.Bad(pool, "its Indices output is used; ShuffleNetGen imports inference graphs");
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
            var reshape = Single(y, "Reshape", _model.Groups == 1
                ? $"the depthwise convolution of {where}"
                : $"the channel shuffle of {where} (Reshape to [N, {view}, H, W], Transpose, Reshape)");
            long[] first = ReshapeTarget(reshape, new long[] { _batch, channels, h, w });
            // ReshapeTarget guarantees the dims are positive with the exact product _batch · channels · h · w, so every
            // partial product below is at most that and cannot overflow.
            if (first.Length < 3 || first[0] != _batch || first[1] * first[2] != channels || first.Skip(3).Aggregate(1L, (a, b) => a * b) != (long)h * w)
                throw _g.Bad(reshape, $"{Expects} the channel shuffle of {where}: Reshape of [{_batch}, {channels}, {h}, {w}] to [{_batch}, {view}, {h}, {w}]; the graph reshapes to {OnnxText.Dims(first)}");
            if (first[groupAxis] != _model.Groups)
                throw _g.Bad(reshape, official
                    ? $"{Expects} the official (megvii) channel shuffle with {_model.Groups} groups (Groups = {_model.Groups}, ShuffleOrder = Official) in {where}, a reshape to [{_batch}, {view}, {h}, {w}]; the graph reshapes to {OnnxText.Dims(first)}"
                    : $"{Expects} a channel shuffle with {_model.Groups} groups (Groups = {_model.Groups}) in {where}; the graph shuffles {channels} channels in {first[1]} groups of {first[2]} (reshape to {OnnxText.Dims(first)})");
            var transpose = Single(reshape.Output[0], "Transpose", $"the transpose of the channel shuffle of {where}");
            long[] perm = _g.Ints(transpose, "perm") ?? Enumerable.Range(0, first.Length).Reverse().Select(i => (long)i).ToArray();
            var want = Enumerable.Range(0, first.Length).Select(i => (long)(i == 1 ? 2 : i == 2 ? 1 : i)).ToArray();
            if (!perm.SequenceEqual(want))
                throw _g.Bad(transpose, $"{Expects} the channel shuffle of {where} to swap the group axes (perm {OnnxText.Dims(want)}); the graph has perm {OnnxText.Dims(perm)}");
            var back = Single(transpose.Output[0], "Reshape", $"the reshape back to [N, C, H, W] ending the channel shuffle of {where}");
            var permuted = perm.Select(i => first[i]).ToArray();
            long[] last = ReshapeTarget(back, permuted);
            if (!last.SequenceEqual(new long[] { _batch, channels, h, w }))
                throw _g.Bad(back, $"{Expects} the channel shuffle of {where} to end with a reshape to [{_batch}, {channels}, {h}, {w}]; the graph reshapes to {OnnxText.Dims(last)}");
            return back.Output[0];
        }

        /// <summary>A Reshape's target shape, with 0 (copy, unless allowzero) and -1 (infer) resolved against the input shape.</summary>
        private long[] ReshapeTarget(NodeProto reshape, long[] inputShape)
        {
            long[] target = _g.Longs(reshape, 1, "target shape");
            bool allowZero = _g.Int(reshape, "allowzero", 0) != 0;
            var result = new long[target.Length];
            // The input shape comes from the declaration (batch, channels, H, W), so its product cannot overflow.
            long known = 1, total = inputShape.Aggregate(1L, (a, b) => checked(a * b));
            int infer = -1;
            for (int i = 0; i < target.Length; i++)
            {
                long d = target[i];
                if (d == 0 && !allowZero)
                {
                    if (i >= inputShape.Length) throw _g.Bad(reshape, $"its target shape copies dimension {i} (0), which the input {OnnxText.Dims(inputShape)} does not have");
                    d = inputShape[i];
                }
                if (d == -1)
                {
                    if (infer >= 0) throw _g.Bad(reshape, "its target shape has two -1 entries");
                    infer = i;
                    continue;
                }
                if (d < 0) throw _g.Bad(reshape, $"its target shape has dimension {d}");
                result[i] = d;
                // Checked: a product that wraps around (e.g. 8 · (2^61 + 2) = 16 mod 2^64) would pass for a plausible shape.
                if (!OnnxGraph.TryMultiply(known, d, out known))
                    throw _g.Bad(reshape, $"its target shape {OnnxText.Dims(target)} has more elements than a 64-bit count holds; the input has shape {OnnxText.Dims(inputShape)}");
            }
            if (infer >= 0)
            {
                if (known == 0 || total % known != 0) throw _g.Bad(reshape, $"its target shape {OnnxText.Dims(target)} does not fit an input of shape {OnnxText.Dims(inputShape)}");
                result[infer] = total / known;
            }
            else if (known != total)
                throw _g.Bad(reshape, $"its target shape {OnnxText.Dims(target)} does not fit an input of shape {OnnxText.Dims(inputShape)}");
            _g.MarkVisited(reshape);
            return result;
        }

        private string Head(string x, int width, int h, int w, int totalUnits)
        {
            var consumers = _g.ConsumersOf(x);
            if (consumers.Count == 2 && consumers.Any(c => c.Node.OpType == "Conv"))
                throw new OnnxFormatException(x, $"{Expects} {totalUnits} units (stages {OnnxText.Dims(_model.StageRepeats)}) followed by the global pool, but the graph has more units after unit {totalUnits - 1}.");
            var pool = Single(x, "GlobalAveragePool", "the global average pool after the last unit (GlobalAveragePool, ReduceMean over H and W, or AveragePool over the whole map)",
                "ReduceMean", "AveragePool");
            bool keptDims = true;
            switch (pool.OpType)
            {
                case "ReduceMean":
                {
                    long[] axes = _g.Opset >= 18
                        ? (pool.Input.Count > 1 && pool.Input[1].Length > 0 ? _g.Longs(pool, 1, "axes") : Array.Empty<long>())
                        : (_g.Ints(pool, "axes") ?? Array.Empty<long>());
                    var norm = axes.Select(a => a < 0 ? a + 4 : a).OrderBy(a => a).ToArray();
                    if (!norm.SequenceEqual(new long[] { 2, 3 }))
                        throw _g.Bad(pool, $"{Expects} the global pool to average over H and W (axes [2, 3]); the graph averages over axes {OnnxText.Dims(axes)}");
                    keptDims = _g.Int(pool, "keepdims", 1) != 0;
                    break;
                }
                case "AveragePool":
                {
                    long[] kernel = _g.Ints(pool, "kernel_shape") ?? Array.Empty<long>();
                    long[] pads = _g.Ints(pool, "pads") ?? new long[4];
                    if (!kernel.SequenceEqual(new long[] { h, w }) || pads.Any(v => v != 0) || _g.String(pool, "auto_pad", "NOTSET") is not ("NOTSET" or "VALID"))
                        throw _g.Bad(pool, $"{Expects} the global pool over the final {h}x{w} map (kernel [{h}, {w}], no padding); the graph has kernel {OnnxText.Dims(kernel)}, pads {OnnxText.Dims(pads)}");
                    break;
                }
            }
            _g.MarkVisited(pool);
            string v = pool.Output[0];
            if (keptDims)
            {
                var flat = Single(v, "Flatten", "the flatten between the global pool and the classifier (Flatten, Reshape or Squeeze)", "Reshape", "Squeeze");
                switch (flat.OpType)
                {
                    case "Flatten":
                        if (_g.Int(flat, "axis", 1) != 1) throw _g.Bad(flat, $"{Expects} Flatten with axis 1; the graph has axis {_g.Int(flat, "axis", 1)}");
                        break;
                    case "Reshape":
                    {
                        long[] shape = ReshapeTarget(flat, new long[] { _batch, width, 1, 1 });
                        if (!shape.SequenceEqual(new long[] { _batch, width }))
                            throw _g.Bad(flat, $"{Expects} a reshape of the pooled features to [{_batch}, {width}]; the graph reshapes to {OnnxText.Dims(shape)}");
                        break;
                    }
                    case "Squeeze":
                    {
                        long[] axes = _g.Opset >= 13
                            ? (flat.Input.Count > 1 && flat.Input[1].Length > 0 ? _g.Longs(flat, 1, "axes") : Array.Empty<long>())
                            : (_g.Ints(flat, "axes") ?? Array.Empty<long>());
                        var norm = axes.Select(a => a < 0 ? a + 4 : a).OrderBy(a => a).ToArray();
                        if (!norm.SequenceEqual(new long[] { 2, 3 }))
                            throw _g.Bad(flat, $"{Expects} Squeeze of axes [2, 3] after the global pool; the graph squeezes {OnnxText.Dims(axes)}");
                        break;
                    }
                }
                _g.MarkVisited(flat);
                v = flat.Output[0];
            }

            int classes = _model.Classes;
            var fc = Single(v, "Gemm", $"the classifier (Gemm, or MatMul + Add) from {width} features to {classes} classes", "MatMul");
            if (fc.Input.Count < 2 || !Same(fc.Input[0], v))
                throw _g.Bad(fc, "the pooled features must be its first input");
            float[] weight;
            float[] bias = new float[classes];
            string output;
            if (fc.OpType == "Gemm")
            {
                if (_g.Int(fc, "transA", 0) != 0) throw _g.Bad(fc, "transA = 1 is not supported for the classifier");
                bool transB = _g.Int(fc, "transB", 0) != 0;
                float alpha = _g.Float(fc, "alpha", 1f), beta = _g.Float(fc, "beta", 1f);
                weight = Matrix(fc, transB, width, classes);
                if (alpha != 1f) for (int i = 0; i < weight.Length; i++) weight[i] *= alpha;
                if (fc.Input.Count > 2 && fc.Input[2].Length > 0)
                {
                    bias = Bias(fc, 2, classes);
                    if (beta != 1f) for (int i = 0; i < bias.Length; i++) bias[i] *= beta;
                }
                output = fc.Output[0];
            }
            else
            {
                weight = Matrix(fc, transposed: false, width, classes);
                output = fc.Output[0];
                var next = _g.ConsumersOf(output);
                if (next.Count == 1 && next[0].Node.OpType == "Add")
                {
                    var add = next[0].Node;
                    _g.MarkVisited(add);
                    int other = next[0].Input == 0 ? 1 : 0;
                    if (add.Input.Count != 2) throw _g.Bad(add, "the classifier bias Add needs two inputs");
                    bias = Bias(add, other, classes);
                    output = add.Output[0];
                }
            }
            _g.MarkVisited(fc);
            Put(_network.Classifier + ".weight", weight, new[] { classes, width }, fc);
            Put(_network.Classifier + ".bias", bias, new[] { classes }, fc);
            return _g.Resolve(output);
        }

        /// <summary>The classifier matrix as [classes, features] (PyTorch's Linear layout).</summary>
        private float[] Matrix(NodeProto fc, bool transposed, int width, int classes)
        {
            var dims = _g.ConstantDims(fc, 1, "weight");
            int[] want = transposed ? new[] { classes, width } : new[] { width, classes };
            if (!dims.SequenceEqual(want))
            {
                int graphClasses = dims.Length == 2 ? dims[transposed ? 0 : 1] : -1;
                throw _g.Bad(fc, $"{Expects} a classifier from {width} features to {classes} classes (weight {OnnxText.Dims(want)}{(transposed ? ", transB = 1" : "")}); the graph's weight is {OnnxText.Dims(dims)}"
                    + (graphClasses >= 0 && graphClasses != classes ? $" ({graphClasses} classes)" : ""));
            }
            var (data, _) = _g.Floats(fc, 1, "weight");
            if (transposed) return data;
            var result = new float[classes * width];
            for (int f = 0; f < width; f++)
                for (int c = 0; c < classes; c++) result[c * width + f] = data[f * classes + c];
            return result;
        }

        private float[] Bias(NodeProto node, int input, int classes)
        {
            var dims = _g.ConstantDims(node, input, "classifier bias");
            long count = 1;
            foreach (int d in dims) count *= d; // each dim and the running product stay below Array.MaxLength
            if (count != classes || dims.Count(d => d != 1) > 1)
                throw _g.Bad(node, $"{Expects} a classifier bias of {classes} values ([{classes}]); the graph's is {OnnxText.Dims(dims)}");
            return _g.Floats(node, input, "classifier bias").Data;
        }

        // ------------------------------------------------------------ int8: activation ranges from QDQ pairs

        // Only an int8 model uses the ranges; a float model reads the same file as its dequantized weights, whatever
        // activation quantization it states.
        private void ReadInputRange(NodeProto conv, string convName)
        {
            if (_model.Precision == Precision.Int8) _inputRanges.Add((convName, conv, _g.QuantizedRange(conv, 0)));
        }

        private static bool IsActivationScale(string name) =>
            name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal) || name.EndsWith(Int8Calibration.InputZeroPointSuffix, StringComparison.Ordinal);

        /// <summary>
        /// An int8 model's activation scales from the QDQ pairs on its 1x1 convolutions' inputs: each pair's real range,
        /// re-quantized to the 7 bits of ShuffleNetGen's kernels by the calibration's own rule. All or none: a file that
        /// quantizes only some inputs was quantized for another layer selection, and the rest would have no scale.
        /// </summary>
        private void PutActivationScales()
        {
            int quantized = _inputRanges.Count(r => r.Range is not null);
            if (quantized == 0) return;
            if (quantized < _inputRanges.Count)
            {
                var (name, conv, _) = _inputRanges.First(r => r.Range is null);
                throw _g.Bad(conv,
                    $"the graph quantizes the inputs of {quantized} of the model's {_inputRanges.Count} 1x1 convolutions, but not this one's ({name}); an int8 model takes the activation range of every 1x1 convolution's input from QuantizeLinear/DequantizeLinear pairs, or of none (then calibrate the float weights with Int8Calibration.Calibrate)");
            }
            foreach (var (name, conv, range) in _inputRanges)
            {
                // The range is exact in double; as float it can be infinite (a scale of 1e37 over 255 steps), and an
                // infinite range has no 7-bit scale.
                float low = (float)range!.Value.Low, high = (float)range.Value.High;
                if (!float.IsFinite(low) || !float.IsFinite(high))
                    throw _g.Bad(range.Value.Quantize,
                        $"it states the range [{range.Value.Low.ToString("R", CultureInfo.InvariantCulture)}, {range.Value.High.ToString("R", CultureInfo.InvariantCulture)}] for the input of {name} (scale times the integer range), beyond float range; ShuffleNetGen's activation scales are float, so this range has no scale");
                var (scale, zeroPoint) = ActivationQuantization.FromRange(low, high);
                Put(name + Int8Calibration.InputScaleSuffix, new[] { scale }, new[] { 1 }, range.Value.Quantize);
                Put(name + Int8Calibration.InputZeroPointSuffix, new float[] { zeroPoint }, new[] { 1 }, range.Value.Quantize);
            }
        }

        // ------------------------------------------------------------ convolution + batch norm

        private readonly record struct ConvSpec(string What, int Kernel, int Stride, int Group, int In, int Out, int InH, int InW);

        /// <summary>Reads a Conv (and a following BatchNormalization, if any) into the canonical conv and batch-norm tensors; returns the value after them.</summary>
        private string ConvBn(NodeProto conv, ConvSpec s, string convName, string bnName)
        {
            _g.MarkVisited(conv);
            long k = s.Kernel, pad = s.Kernel / 2;
            long[]? kernel = _g.Ints(conv, "kernel_shape");
            long[] strides = _g.Ints(conv, "strides") ?? new long[] { 1, 1 };
            long[] dil = _g.Ints(conv, "dilations") ?? new long[] { 1, 1 };
            long group = _g.Int(conv, "group", 1);
            if (group != s.Group)
            {
                string hint = s.Group == s.Out && s.Kernel == 3 ? $"depthwise, one group per channel" : s.Group == 1 ? "not grouped" : $"Groups = {_model.Groups}";
                throw _g.Bad(conv, $"{Expects} {s.What} to have group = {s.Group} ({hint}); the graph has group = {group}");
            }
            if (kernel is not null && !kernel.SequenceEqual(new[] { k, k }))
                throw _g.Bad(conv, $"{Expects} {s.What} to be {k}x{k}; the graph's kernel is {OnnxText.Dims(kernel)}");
            if (!strides.SequenceEqual(new long[] { s.Stride, s.Stride }))
                throw _g.Bad(conv, $"{Expects} {s.What} to have stride {s.Stride}; the graph has strides {OnnxText.Dims(strides)}");
            if (!dil.All(d => d == 1))
                throw _g.Bad(conv, $"{Expects} {s.What} without dilation; the graph has dilations {OnnxText.Dims(dil)}");
            long[] pads = EffectivePads(conv, s, k);
            if (!pads.SequenceEqual(new[] { pad, pad, pad, pad }))
                throw _g.Bad(conv, $"{Expects} {s.What} padded by {pad} on every side; the graph pads {OnnxText.Dims(pads)}");

            // Shape first: a weight the declaration does not expect is rejected before its values are decoded.
            var dims = _g.ConstantDims(conv, 1, "weight");
            var want = new[] { s.Out, s.In / s.Group, s.Kernel, s.Kernel };
            if (!dims.SequenceEqual(want))
            {
                string detail = dims.Length == 4 ? $" ({dims[0]} output channels, {(Int128)dims[1] * group} input channels)" : "";
                throw _g.Bad(conv, $"{Expects} {s.What} to map {s.In} to {s.Out} channels (weight {OnnxText.Dims(want)}); the graph's weight is {OnnxText.Dims(dims)}{detail}");
            }
            var (w, _) = _g.Floats(conv, 1, "weight");
            Put(convName + ".weight", w, want, conv);

            float[]? convBias = null;
            if (conv.Input.Count > 2 && conv.Input[2].Length > 0)
            {
                var bdims = _g.ConstantDims(conv, 2, "bias");
                if (bdims.Length != 1 || bdims[0] != s.Out)
                    throw _g.Bad(conv, $"{Expects} a bias of {s.Out} values for {s.What}; the graph's is {OnnxText.Dims(bdims)}");
                convBias = _g.Floats(conv, 2, "bias").Data;
            }

            string y = conv.Output[0];
            var next = _g.ConsumersOf(y);
            float[] gamma, beta, mean, variance;
            if (next.Count == 1 && next[0].Node.OpType == "BatchNormalization" && next[0].Input == 0)
            {
                var bn = next[0].Node;
                _g.MarkVisited(bn);
                if (_g.Int(bn, "training_mode", 0) != 0 || bn.Output.Skip(1).Any(o => o.Length > 0 && _g.ConsumersOf(o).Count > 0))
                    throw _g.Bad(bn, "it is in training mode; export the model in inference mode (model.eval())");
                gamma = BnParam(bn, 1, "scale", s);
                beta = BnParam(bn, 2, "B", s);
                mean = BnParam(bn, 3, "mean", s);
                variance = BnParam(bn, 4, "var", s);
                double eps = _g.Float(bn, "epsilon", 1e-5f);
                for (int c = 0; c < s.Out; c++)
                {
                    // BN(conv + b) = BN'(conv) with mean' = mean - b.
                    if (convBias is not null) mean[c] = (float)((double)mean[c] - convBias[c]);
                    // float32 attribute: 1e-5 arrives as 9.99999975e-6, which is PyTorch's and the loader's epsilon.
                    if ((float)eps != (float)WeightPackerEpsilon)
                    {
                        double v = variance[c] + eps - WeightPackerEpsilon;
                        if (v >= 0) variance[c] = (float)v;
                        else
                        {
                            // Too small a variance to absorb the difference: keep gamma / sqrt(var + eps) via gamma instead.
                            gamma[c] = (float)(gamma[c] * Math.Sqrt(WeightPackerEpsilon) / Math.Sqrt(variance[c] + eps));
                            variance[c] = 0;
                        }
                    }
                }
                y = bn.Output[0];
            }
            else
            {
                gamma = Fill(s.Out, ExactGamma);
                variance = Fill(s.Out, ExactVariance);
                mean = new float[s.Out];
                beta = convBias ?? new float[s.Out];
            }
            Put(bnName + ".weight", gamma, new[] { s.Out }, conv);
            Put(bnName + ".bias", beta, new[] { s.Out }, conv);
            Put(bnName + ".running_mean", mean, new[] { s.Out }, conv);
            Put(bnName + ".running_var", variance, new[] { s.Out }, conv);
            return _g.Resolve(y);
        }

        private const double WeightPackerEpsilon = Weights.WeightPacker.BatchNormEpsilon;

        private float[] BnParam(NodeProto bn, int input, string role, ConvSpec s)
        {
            var dims = _g.ConstantDims(bn, input, role);
            if (dims.Length != 1 || dims[0] != s.Out)
                throw _g.Bad(bn, $"{Expects} {s.Out} batch-norm {role} values after {s.What}; the graph has {OnnxText.Dims(dims)}");
            // A copy: the same constant may feed several nodes, and the fold below edits these values in place.
            return (float[])_g.Floats(bn, input, role).Data.Clone();
        }

        private long[] EffectivePads(NodeProto conv, ConvSpec s, long k)
        {
            string autoPad = _g.String(conv, "auto_pad", "NOTSET");
            if (autoPad == "NOTSET") return _g.Ints(conv, "pads") ?? new long[4];
            if (autoPad == "VALID") return new long[4];
            // SAME_*: output = ceil(in / stride); the input size follows from the declared output size and stride.
            var pads = new long[4];
            for (int a = 0; a < 2; a++)
            {
                long input = a == 0 ? s.InH : s.InW;
                long output = (input + s.Stride - 1) / s.Stride;
                long total = Math.Max((output - 1) * s.Stride + k - input, 0);
                long small = total / 2, large = total - small;
                pads[a] = autoPad == "SAME_LOWER" ? large : small;
                pads[a + 2] = autoPad == "SAME_LOWER" ? small : large;
            }
            return pads;
        }

        // ------------------------------------------------------------ helpers

        private static float[] Fill(int n, float v)
        {
            var a = new float[n];
            Array.Fill(a, v);
            return a;
        }

        private void Put(string name, float[] data, int[] shape, NodeProto node)
        {
            if (!_layout.TryGetValue(name, out var expected))
                throw _g.Bad(node, $"{Expects} no tensor {Q(name)} (its weight layout has {_layout.Count} tensors); the graph's structure goes beyond the declaration");
            if (!expected.SequenceEqual(shape))
                throw _g.Bad(node, $"{Expects} {Q(name)} of shape {OnnxText.Dims(expected)}; the graph gives {OnnxText.Dims(shape)}");
            _tensors[name] = new NamedTensor(name, (int[])shape.Clone(), data);
        }

        private NodeProto SingleAnySlot(string value, string op, string what) => Single(value, op, what, true, Array.Empty<string>());

        private NodeProto Single(string value, string op, string what, params string[] alternatives) => Single(value, op, what, false, alternatives);

        private NodeProto Single(string value, string op, string what, bool anySlot, string[] alternatives)
        {
            var consumers = _g.ConsumersOf(value);
            if (consumers.Count == 1 && (anySlot || consumers[0].Input == 0) && (consumers[0].Node.OpType == op || alternatives.Contains(consumers[0].Node.OpType)))
            {
                _g.MarkVisited(consumers[0].Node);
                return consumers[0].Node;
            }
            var producer = _g.ProducerOf(value);
            string from = producer is null ? $"value {Q(value)}" : $"the output of node {Q(_g.Label(producer))} ({OnnxText.Op(producer.OpType)})";
            if (consumers.Count == 0)
                throw new OnnxFormatException(producer is null ? value : _g.Label(producer), $"{from} is not used by any node; {Expects} {what} next.");
            if (consumers.Count == 1)
                throw _g.Bad(consumers[0].Node, $"{Expects} {what} here, reading {from}; the graph has {OnnxText.Op(consumers[0].Node.OpType)}");
            throw new OnnxFormatException(producer is null ? value : _g.Label(producer), $"{from} feeds {consumers.Count} nodes ({Describe(consumers)}); {Expects} only {what}.");
        }

        private string Relu(string value, string what)
        {
            var relu = Single(value, "Relu", what);
            return _g.Resolve(relu.Output[0]);
        }

        private bool Same(string a, string b) => _g.Resolve(a) == _g.Resolve(b);

        private string Describe(IReadOnlyList<(NodeProto Node, int Input)> consumers) =>
            OnnxText.List(consumers.Select(c => $"{Q(_g.Label(c.Node))} ({OnnxText.Op(c.Node.OpType)})"));
    }
}
