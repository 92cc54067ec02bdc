using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Onnx;

/// <summary>What a convolution must be: kernel, stride, groups, channels and the input size (for auto_pad), and its description for messages.</summary>
internal readonly record struct ConvSpec(string What, int Kernel, int Stride, int Group, int In, int Out, int InH, int InW);

/// <summary>
/// What every family's importer shares (see <see cref="OnnxWeights"/>): the checks on the file before any walk (opset,
/// QDQ pairs, unread weights), the image input, the readers of a convolution with its batch norm (folded or as a
/// BatchNormalization node), of pools and reshape targets, the head (global pool, flatten, classifier), the int8
/// activation ranges, and the end of the walk (nothing left over, every declared tensor found). The per-family
/// structure matchers (<see cref="V1Structure"/>, <see cref="V2Structure"/>) walk the graph with these.
/// </summary>
internal sealed class OnnxReader
{
    // Folded-conv encoding: var + 1e-5 rounds to exactly 2^38 in double, whose root 2^19 cancels gamma exactly.
    private const float ExactVariance = 274877906944f; // 2^38
    private const float ExactGamma = 524288f;          // 2^19

    private readonly ModelProto _proto;
    private readonly ModelDescription _model;
    private readonly Dictionary<string, int[]> _layout = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NamedTensor> _tensors = new(StringComparer.Ordinal);
    private readonly List<(string Conv, NodeProto Node, OnnxGraph.ActivationRange? Range)> _inputRanges = new();
    private readonly OnnxGraph _g;
    private int _batch = 1;

    /// <summary>Checks the file before any walk: a graph, a supported opset, sound QDQ pairs, no weight that no node reads.</summary>
    public OnnxReader(ModelProto proto, ModelDescription model)
    {
        _proto = proto;
        _model = model;
        foreach (var shape in model.WeightLayout) _layout[shape.Name] = shape.Dimensions;

        var graph = _proto.Graph;
        if (graph is null || graph.Node.Count == 0)
            throw new OnnxFormatException(null, "the data holds no ONNX graph (an empty, truncated or non-ONNX file).");
        int opset = -1;
        foreach (var import in _proto.OpsetImport)
            if (import.Domain.Length == 0 || import.Domain == "ai.onnx") opset = (int)Math.Clamp(import.Version, int.MinValue, int.MaxValue);
        if (opset < 0)
            throw new OnnxFormatException(null, "the model imports no version of the default ONNX operator set (opset_import is empty); the file is corrupt or not ONNX.");
        if (opset < OnnxWeights.MinOpset || opset > OnnxWeights.MaxOpset)
            throw new OnnxFormatException(null, $"the model uses ONNX opset {opset}; ShuffleNetGen reads opsets {OnnxWeights.MinOpset} to {OnnxWeights.MaxOpset}. Re-export with opset_version in that range (e.g. 13).");
        _g = new OnnxGraph(graph, opset);
        _g.CheckActivationQdq();
        // Weights no node reads would be dropped without a word; a name check, so nothing of theirs is decoded.
        var unread = _g.UnreadInitializers().ToList();
        if (unread.Count > 0)
            throw new OnnxFormatException(unread[0].Name,
                $"the graph has {unread.Count} initializer{(unread.Count == 1 ? "" : "s")} that no node reads ({OnnxText.List(unread.Select(i => Q(i.Name)))}); every weight in the file must feed the ShuffleNet structure ShuffleNetGen imports.");
    }

    /// <summary>The graph, indexed for the walk.</summary>
    public OnnxGraph G => _g;

    /// <summary>The graph input's batch size when it is a number (<see cref="BatchIsStatic"/>), else 1.</summary>
    public int Batch => _batch;

    /// <summary>Whether the graph input states its batch size as a number rather than a symbol (a dynamic axis).</summary>
    public bool BatchIsStatic { get; private set; }

    /// <summary>The start of a message about the declaration: "the model NAME expects".</summary>
    public string Expects => $"the model {_model.Name} expects";

    public static string Q(string? name) => OnnxText.Q(name);

    /// <summary>
    /// Ends the walk at <paramref name="logits"/>: it must be the graph's output and every node must have been reached.
    /// Returns the tensors in <see cref="ModelDescription.WeightLayout"/> order.
    /// </summary>
    public TensorSet Finish(string logits, string family)
    {
        if (!_g.IsGraphOutput(logits))
            throw new OnnxFormatException(logits, $"the classifier's output {Q(logits)} is not an output of the graph; ShuffleNetGen imports graphs that end at the logits.");
        var extra = _g.Unvisited().Where(n => n.OpType != "Constant" || _g.ConsumersOf(n.Output[0]).Count > 0).ToList();
        if (extra.Count > 0)
            throw _g.Bad(extra[0], $"this node{(extra.Count > 1 ? $", and {extra.Count - 1} more ({OnnxText.List(extra.Skip(1).Select(n => Q(_g.Label(n))))})," : "")} is not part of the {family} structure ShuffleNetGen imports (the graph must end at the classifier's logits, e.g. without Softmax)");

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

    /// <summary>The graph's one data input, the image, checked against the declared input shape; sets <see cref="Batch"/>.</summary>
    public string Input()
    {
        var inputs = _proto.Graph.Input.Where(v => !_g.IsConstant(v.Name)).ToList();
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
            {
                _batch = (int)dims[0].DimValue;
                BatchIsStatic = true;
            }
        }
        return _g.Resolve(input.Name);
    }

    public void CheckPool(NodeProto pool, string what, bool padded)
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

    /// <summary>A Reshape's constant target shape, with 0 (copy, unless allowzero) and -1 (infer) resolved against the input shape (<see cref="ShapeValues.Resolve"/>).</summary>
    public long[] ReshapeTarget(NodeProto reshape, long[] inputShape) =>
        ShapeValues.Resolve(_g, reshape, _g.Longs(reshape, 1, "target shape").Select(ShapeDim.Of).ToArray(), inputShape.Select(ShapeDim.Of).ToArray())
            .Select(d => d.Value).ToArray();

    /// <summary>The global pool, the flatten and the classifier <paramref name="classifier"/> after <paramref name="x"/>, a <paramref name="width"/>-channel <paramref name="h"/>x<paramref name="w"/> map; returns the logits.</summary>
    public string Head(string x, int width, int h, int w, string classifier)
    {
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
        Put(classifier + ".weight", weight, new[] { classes, width }, fc);
        Put(classifier + ".bias", bias, new[] { classes }, fc);
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
    // A pair on the way into input 0 of `before` (a split that only selects channels) is taken when the convolution's
    // own input has none.
    public void ReadInputRange(NodeProto conv, string convName, NodeProto? before = null)
    {
        if (_model.Precision == Precision.Int8)
            _inputRanges.Add((convName, conv, _g.QuantizedRange(conv, 0) ?? (before is null ? null : _g.QuantizedRange(before, 0))));
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

    /// <summary>Reads a Conv (and a following BatchNormalization, if any) into the canonical conv and batch-norm tensors; returns the value after them.</summary>
    public string ConvBn(NodeProto conv, ConvSpec s, string convName, string bnName)
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

    public NodeProto SingleAnySlot(string value, string op, string what) => Single(value, op, what, true, Array.Empty<string>());

    public NodeProto Single(string value, string op, string what, params string[] alternatives) => Single(value, op, what, false, alternatives);

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

    public string Relu(string value, string what)
    {
        var relu = Single(value, "Relu", what);
        return _g.Resolve(relu.Output[0]);
    }

    public bool Same(string a, string b) => _g.Resolve(a) == _g.Resolve(b);

    public string Describe(IReadOnlyList<(NodeProto Node, int Input)> consumers) =>
        OnnxText.List(consumers.Select(c => $"{Q(_g.Label(c.Node))} ({OnnxText.Op(c.Node.OpType)})"));
}
