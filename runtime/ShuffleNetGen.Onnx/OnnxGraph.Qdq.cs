using System;
using System.Buffers.Binary;
using System.Globalization;
using System.Linq;
using ShuffleNetGen.Onnx.Protos;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// The QDQ format of quantized ONNX models (what onnxruntime.quantization writes with <c>QuantFormat.QDQ</c>, and
/// tools/make_qdq_onnx.py): float operators with <c>QuantizeLinear</c>/<c>DequantizeLinear</c> around them.
/// </summary>
/// <remarks>
/// <para>A <c>DequantizeLinear</c> of a stored integer tensor is a constant: weights and biases are dequantized here
/// to float, <c>(q − zero point) · scale</c> per tensor or per axis, as ONNX defines it, so the structure walk reads
/// them like float weights.</para>
/// <para>A <c>QuantizeLinear</c> → <c>DequantizeLinear</c> pair on an activation is seen through like Identity. The
/// pair states a real range, <c>[(qmin − zp)·scale, (qmax − zp)·scale]</c> over its integer type; each engine
/// quantizes that range at its own resolution (ONNX Runtime at 8 bits, ShuffleNetGen's int8 kernels at 7), so
/// <see cref="QuantizedRange"/> returns the range, not the pair's scale.</para>
/// </remarks>
internal sealed partial class OnnxGraph
{
    /// <summary>A Q/DQ pair's range, and the QuantizeLinear that states it (for messages).</summary>
    public readonly record struct ActivationRange(double Low, double High, NodeProto Quantize);

    // Integer operators of the QOperator format: their inputs are already integers, so nothing here could read them as
    // the float graph the structure walk expects. Without this check the walk would fail later, at whichever node
    // it expected a Conv, with a message that says nothing about the format.
    private static readonly string[] QOperatorOps = { "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd", "QLinearConcat" };

    private void RejectQOperator(NodeProto node)
    {
        if (Array.IndexOf(QOperatorOps, node.OpType) >= 0)
            throw Bad(node,
                "it is an integer operator of ONNX's QOperator format; ShuffleNetGen reads quantized models in the QDQ format (QuantizeLinear/DequantizeLinear around float Conv and Gemm nodes). "
                + "With onnxruntime.quantization.quantize_static pass quant_format=QuantFormat.QDQ");
    }

    /// <summary>Whether a Q or DQ node sits on an activation (a pass-through), as opposed to dequantizing a stored weight.</summary>
    private bool IsActivationQdq(NodeProto node) =>
        node.OpType == "QuantizeLinear"
        || node.OpType == "DequantizeLinear" && node.Input.Count > 0 && !IsStoredTensor(node.Input[0]);

    /// <summary>An initializer or a Constant node's output, possibly behind Identity nodes (read before aliases exist).</summary>
    private bool IsStoredTensor(string value)
    {
        for (int hops = 0; hops <= _producers.Count; hops++)
        {
            if (_initializers.ContainsKey(value)) return true;
            if (!_producers.TryGetValue(value, out var producer)) return false;
            if (producer.OpType == "Constant") return true;
            if (producer.OpType != "Identity" || producer.Input.Count == 0) return false;
            value = producer.Input[0];
        }
        return false; // an Identity cycle: BuildAliases reports it
    }

    private NodeProto? DequantizedConstant(string resolvedValue) =>
        _producers.TryGetValue(resolvedValue, out var p) && p.OpType == "DequantizeLinear" && p.Input.Count > 0 && IsStoredTensor(p.Input[0]) ? p : null;

    private NodeProto? DequantizedConstant(NodeProto user, int input) =>
        input < user.Input.Count && user.Input[input].Length > 0 ? DequantizedConstant(Resolve(user.Input[input])) : null;

    /// <summary>A stored integer tensor dequantized to float as ONNX defines DequantizeLinear: <c>(x − zero_point) · scale</c> in float32.</summary>
    private (float[] Data, int[] Dims) Dequantize(NodeProto dq, string role)
    {
        _visited.Add(dq);
        if (Int(dq, "block_size", 0) != 0)
            throw Bad(dq, $"it dequantizes the {role} block-wise (block_size); ShuffleNetGen reads per-tensor and per-axis quantization");
        var (values, type) = Integers(dq, 0, role);
        var dims = ConstantDims(dq, 0, role);
        var (scale, scaleDims) = Floats(dq, 1, $"{role} scale");
        long[] zero = new long[scale.Length];
        if (dq.Input.Count > 2 && dq.Input[2].Length > 0)
        {
            var (z, zeroType) = Integers(dq, 2, $"{role} zero point");
            if (zeroType != type)
                throw Bad(dq, $"its {role} is {DataTypeName(type)} but its zero point is {DataTypeName(zeroType)}; the graph is not valid ONNX");
            if (z.Length != scale.Length)
                throw Bad(dq, $"its {role} has {scale.Length} scales but {z.Length} zero points; the graph is not valid ONNX");
            zero = z;
        }
        // Zero would erase the tensor and a negative scale flip its sign: no quantizer writes either, so the file is wrong.
        foreach (float s in scale)
            if (!(s > 0) || !float.IsFinite(s)) throw Bad(dq, $"its {role} scale holds {s:R}; a dequantization scale must be positive and finite");

        var result = new float[values.Length];
        if (scale.Length == 1 && scaleDims.Length <= 1)
        {
            for (int i = 0; i < values.Length; i++) result[i] = (values[i] - zero[0]) * scale[0];
            return (RequireFinite(dq, role, result), dims);
        }
        long axis = Int(dq, "axis", 1);
        if (axis < 0) axis += dims.Length;
        if (axis < 0 || axis >= dims.Length || scaleDims.Length != 1 || scaleDims[0] != dims[axis])
            throw Bad(dq,
                $"its {role} {OnnxText.Dims(dims)} has scales of shape {OnnxText.Dims(scaleDims)} along axis {Int(dq, "axis", 1)}; per-axis scales need one value per index of that axis");
        int inner = 1;
        for (int a = (int)axis + 1; a < dims.Length; a++) inner *= dims[a];
        for (int i = 0; i < values.Length; i++)
        {
            int c = i / inner % dims[axis];
            result[i] = (values[i] - zero[c]) * scale[c];
        }
        return (RequireFinite(dq, role, result), dims);
    }

    // A finite scale times an integer can still pass float's range; that infinity is the importer's doing, not the
    // file's stored value, so it is named here at the node rather than later as if the file held it.
    private float[] RequireFinite(NodeProto dq, string role, float[] values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw Bad(dq, $"its {role} dequantizes to {values[i]} at index {i}, beyond float range (scale times integer); the scale is far too large");
        return values;
    }

    /// <summary>
    /// Checks every activation QuantizeLinear and DequantizeLinear in the graph, whether or not the model reads its
    /// range. The walk sees them through like Identity, so without this a pair with a meaningless scale (NaN, zero,
    /// negative, infinite), a pair whose halves disagree (a rescale the walk would drop), or a QuantizeLinear whose
    /// integers reach a float operator with no DequantizeLinear between (not valid ONNX) loaded as a sound graph.
    /// 16-bit and per-axis pairs are valid ONNX and pass here; only an int8 model, which takes the range, refuses them
    /// (<see cref="QuantizedRange"/>).
    /// </summary>
    public void CheckActivationQdq()
    {
        foreach (var node in _graph.Node)
        {
            if (IsActivationQdq(node))
            {
                var (scale, zero, type, hasZero) = QdqParameters(node);
                if (node.OpType == "DequantizeLinear")
                {
                    var quantize = QuantizeFeeding(node);
                    var (qScale, qZero, qType, qHasZero) = QdqParameters(quantize);
                    if (!scale.AsSpan().SequenceEqual(qScale) || !zero.AsSpan().SequenceEqual(qZero) || hasZero && qHasZero && type != qType)
                        throw Bad(node,
                            $"it dequantizes with scale {OnnxText.List(scale.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))} and zero point {OnnxText.List(zero.Select(v => v.ToString(CultureInfo.InvariantCulture)))} what node {Q(Label(quantize))} quantized with scale {OnnxText.List(qScale.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))} and zero point {OnnxText.List(qZero.Select(v => v.ToString(CultureInfo.InvariantCulture)))}; a QDQ pair must use the same parameters");
                }
            }
            if (node.OpType is "Identity" or "Dropout") continue;
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (i == 0 && node.OpType == "DequantizeLinear" || node.Input[i].Length == 0) continue;
                if (QuantizeBehind(node.Input[i]) is { } quantize)
                    throw Bad(node,
                        $"its input {i} ({Q(node.Input[i])}) is the integer output of QuantizeLinear {Q(Label(quantize))}; a float operator reads quantized activations through a DequantizeLinear, and without one the graph is not valid ONNX");
            }
        }
    }

    /// <summary>The QuantizeLinear whose output <paramref name="value"/> is, through Identity and Dropout, or null.</summary>
    private NodeProto? QuantizeBehind(string value)
    {
        for (int hops = 0; hops <= _producers.Count && _producers.TryGetValue(value, out var producer); hops++)
        {
            if (producer.OpType == "QuantizeLinear") return producer;
            if (producer.OpType is not ("Identity" or "Dropout") || producer.Input.Count == 0) return null;
            value = producer.Input[0];
        }
        return null;
    }

    /// <summary>
    /// An activation Q or DQ node's scales (per tensor or per axis), each positive and finite, its zero points (one per
    /// scale; zeros when absent) and their integer type (UINT8, as ONNX defaults, when absent).
    /// </summary>
    private (float[] Scale, long[] Zero, int Type, bool HasZero) QdqParameters(NodeProto node)
    {
        if (node.Input.Count < 2 || node.Input[1].Length == 0) throw Bad(node, $"the {node.OpType} has no scale input; the graph is not valid ONNX");
        var (scale, _) = Floats(node, 1, "scale");
        if (scale.Length == 0) throw Bad(node, "its scale is empty; the graph is not valid ONNX");
        foreach (float s in scale)
            if (!(s > 0) || !float.IsFinite(s))
                throw Bad(node, $"its scale is {s.ToString("R", CultureInfo.InvariantCulture)}; an activation scale must be positive and finite");
        if (node.Input.Count > 2 && node.Input[2].Length > 0)
        {
            var (zero, type) = Integers(node, 2, "zero point");
            if (zero.Length != scale.Length)
                throw Bad(node, scale.Length > 1
                    ? $"it quantizes per axis with {scale.Length} scales but {zero.Length} zero points; the graph is not valid ONNX"
                    : $"it has {zero.Length} zero points for one scale; the graph is not valid ONNX");
            return (scale, zero, type, true);
        }
        return (scale, new long[scale.Length], (int)TensorProto.Types.DataType.Uint8, false);
    }

    /// <summary>
    /// The real range the QuantizeLinear/DequantizeLinear pair on the way into input <paramref name="input"/> of
    /// <paramref name="user"/> states, or null when that input is not quantized.
    /// </summary>
    public ActivationRange? QuantizedRange(NodeProto user, int input)
    {
        string value = user.Input[input];
        for (int hops = 0; hops <= _producers.Count && _producers.TryGetValue(value, out var node) && IsPassThrough(node); hops++)
        {
            if (node.OpType == "DequantizeLinear")
            {
                var quantize = QuantizeFeeding(node);
                var (scale, zero, type) = PairParameters(quantize);
                var (dqScale, dqZero, dqType) = PairParameters(node);
                if (scale != dqScale || zero != dqZero || type != dqType)
                    throw Bad(node,
                        $"it dequantizes with scale {dqScale:R} and zero point {dqZero} ({DataTypeName(dqType)}) what node {Q(Label(quantize))} quantized with scale {scale:R} and zero point {zero} ({DataTypeName(type)}); a QDQ pair must use the same parameters");
                var (low, high) = type switch
                {
                    (int)TensorProto.Types.DataType.Uint8 => (0L, 255L),
                    (int)TensorProto.Types.DataType.Int8 => (-128L, 127L),
                    _ => throw Bad(quantize, $"it quantizes an activation to {DataTypeName(type)}; ShuffleNetGen reads 8-bit activation quantization (UINT8 or INT8)"),
                };
                return new ActivationRange((low - zero) * (double)scale, (high - zero) * (double)scale, quantize);
            }
            value = node.Input[0];
        }
        return null;
    }

    private NodeProto QuantizeFeeding(NodeProto dequantize)
    {
        string value = dequantize.Input[0];
        while (_producers.TryGetValue(value, out var p) && p.OpType == "Identity" && p.Input.Count > 0) value = p.Input[0];
        if (_producers.TryGetValue(value, out var quantize) && quantize.OpType == "QuantizeLinear") return quantize;
        throw Bad(dequantize, $"it dequantizes {Q(value)}, which no QuantizeLinear produces; ShuffleNetGen reads activations quantized by QuantizeLinear → DequantizeLinear pairs");
    }

    /// <summary>
    /// A Q or DQ node's parameters as <see cref="QdqParameters"/> reads and checks them, for a per-tensor pair only; the
    /// integer type without a zero point is output_dtype's, else UINT8, as ONNX defaults.
    /// </summary>
    private (float Scale, long Zero, int Type) PairParameters(NodeProto node)
    {
        var (scale, zero, type, hasZero) = QdqParameters(node);
        var scaleDims = ConstantDims(node, 1, "scale");
        if (scale.Length != 1 || scaleDims.Length > 1)
            throw Bad(node, $"it quantizes an activation per axis (scales {OnnxText.Dims(scaleDims)}); ShuffleNetGen's int8 kernels take one scale per activation tensor");
        if (hasZero) return (scale[0], zero[0], type);
        long outputType = Int(node, "output_dtype", 0);
        return (scale[0], 0, outputType != 0 ? (int)outputType : type);
    }

    /// <summary>A stored integer tensor (INT8, UINT8, INT16, UINT16 or INT32, as quantized weights, biases and zero points are) with its type.</summary>
    private (long[] Values, int Type) Integers(NodeProto user, int input, string role)
    {
        var tensor = ConstantTensor(user, input, role, out var fromAttribute);
        if (tensor is null)
            throw Bad(user, $"its {role} (input {input}) is a Constant of attribute type {fromAttribute!.Type}; a quantized tensor is expected");
        CheckInline(tensor, user, role);
        int count = ElementCount(tensor, user, role);
        var type = (TensorProto.Types.DataType)tensor.DataType;
        int size = type switch
        {
            TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 => 1,
            TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16 => 2,
            TensorProto.Types.DataType.Int32 => 4,
            _ => throw Bad(user, $"its {role} {Q(tensor.Name)} has data type {DataTypeName(tensor.DataType)}; a quantized tensor is INT8, UINT8, INT16, UINT16 or INT32"),
        };
        var values = new long[count];
        var raw = tensor.RawData;
        if (raw.Length > 0)
        {
            CheckRawLength(raw, count, size, tensor, user, role);
            var span = raw.Span;
            for (int i = 0; i < count; i++)
                values[i] = type switch
                {
                    TensorProto.Types.DataType.Int8 => (sbyte)span[i],
                    TensorProto.Types.DataType.Uint8 => span[i],
                    TensorProto.Types.DataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(span.Slice(i * 2, 2)),
                    TensorProto.Types.DataType.Uint16 => BinaryPrimitives.ReadUInt16LittleEndian(span.Slice(i * 2, 2)),
                    _ => BinaryPrimitives.ReadInt32LittleEndian(span.Slice(i * 4, 4)),
                };
            return (values, tensor.DataType);
        }
        // Typed storage: ONNX keeps every integer type of 32 bits or fewer in int32_data.
        CheckCount(tensor.Int32Data.Count, count, tensor, user, role);
        for (int i = 0; i < count; i++)
        {
            long v = tensor.Int32Data[i];
            long low = type switch { TensorProto.Types.DataType.Int8 => sbyte.MinValue, TensorProto.Types.DataType.Int16 => short.MinValue, TensorProto.Types.DataType.Int32 => int.MinValue, _ => 0 };
            long high = type switch { TensorProto.Types.DataType.Int8 => sbyte.MaxValue, TensorProto.Types.DataType.Uint8 => byte.MaxValue, TensorProto.Types.DataType.Int16 => short.MaxValue, TensorProto.Types.DataType.Uint16 => ushort.MaxValue, _ => int.MaxValue };
            if (v < low || v > high)
                throw Bad(user, $"its {role} {Q(tensor.Name)} holds {v} at index {i}, outside {DataTypeName(tensor.DataType)}; the file is corrupt");
            values[i] = v;
        }
        return (values, tensor.DataType);
    }
}
