using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Google.Protobuf;
using ShuffleNetGen.Onnx.Protos;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// An ONNX graph indexed for walking: who produces and who consumes each value (seen through <c>Identity</c> and
/// inference-mode <c>Dropout</c>), constant values (initializers and <c>Constant</c> nodes) decoded with every length
/// checked, and attribute access with ONNX defaults. Every failure is an <see cref="OnnxFormatException"/>.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(NodeProto Node, int Input)>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, string> _labels = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<NodeProto> _visited = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _graphOutputs = new(StringComparer.Ordinal);
    private readonly GraphProto _graph;

    public OnnxGraph(GraphProto graph, int opset)
    {
        _graph = graph;
        Opset = opset;
        foreach (var init in graph.Initializer)
        {
            if (string.IsNullOrEmpty(init.Name)) throw new OnnxFormatException(null, "the graph has an initializer without a name");
            _initializers[init.Name] = init;
        }
        foreach (var output in graph.Output) _graphOutputs.Add(output.Name);

        for (int k = 0; k < graph.Node.Count; k++)
        {
            var node = graph.Node[k];
            _labels[node] = string.IsNullOrEmpty(node.Name) ? $"#{k} {node.OpType}" : node.Name;
            if (node.Domain.Length != 0 && node.Domain != "ai.onnx")
                throw new OnnxFormatException(Label(node),
                    $"ONNX node '{Label(node)}' ({node.OpType}) is from operator domain '{node.Domain}'; ShuffleNetGen imports standard ONNX operators only.");
            if (node.Output.Count == 0 || node.Output[0].Length == 0)
                throw new OnnxFormatException(Label(node), $"ONNX node '{Label(node)}' ({node.OpType}) has no output; the graph is not valid ONNX.");
            foreach (var output in node.Output)
            {
                if (output.Length == 0) continue;
                if (!_producers.TryAdd(output, node) || _initializers.ContainsKey(output))
                    throw new OnnxFormatException(Label(node), $"ONNX node '{Label(node)}' ({node.OpType}) writes value '{output}', which another node or an initializer also defines; the graph is not valid ONNX.");
            }
        }
        foreach (var node in graph.Node)
        {
            if (IsPassThrough(node)) continue;
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i].Length == 0) continue;
                string value = Resolve(node.Input[i]);
                if (!_consumers.TryGetValue(value, out var list)) _consumers[value] = list = new List<(NodeProto, int)>();
                list.Add((node, i));
            }
        }
    }

    /// <summary>Version of the default ONNX operator set the model imports.</summary>
    public int Opset { get; }

    public string Label(NodeProto node) => _labels.TryGetValue(node, out var label) ? label : node.Name;

    /// <summary>The name a value is known by once Identity (and inference Dropout) nodes are seen through.</summary>
    public string Resolve(string value)
    {
        for (int hops = 0; hops <= _producers.Count; hops++)
        {
            if (!_producers.TryGetValue(value, out var node) || !IsPassThrough(node) || node.Output[0] != value) return value;
            _visited.Add(node);
            if (node.Input.Count == 0 || node.Input[0].Length == 0)
                throw new OnnxFormatException(Label(node), $"ONNX node '{Label(node)}' ({node.OpType}) has no input.");
            value = node.Input[0];
        }
        throw new OnnxFormatException(value, $"value '{value}' is defined through a cycle of Identity nodes; the graph is not valid ONNX.");
    }

    private static bool IsPassThrough(NodeProto node) =>
        node.OpType == "Identity" && node.Domain.Length == 0
        || node.OpType == "Dropout" && node.Output.Count >= 1 && (node.Output.Count == 1 || node.Output.Skip(1).All(o => o.Length == 0));

    public bool IsGraphOutput(string value) => _graphOutputs.Contains(value) || _graph.Output.Any(o => Resolve(o.Name) == value);

    public void MarkVisited(NodeProto node) => _visited.Add(node);

    public NodeProto? ProducerOf(string value) => _producers.TryGetValue(Resolve(value), out var node) ? node : null;

    /// <summary>Nodes reading <paramref name="value"/>, with the input slot they read it in.</summary>
    public IReadOnlyList<(NodeProto Node, int Input)> ConsumersOf(string value) =>
        _consumers.TryGetValue(Resolve(value), out var list) ? list : Array.Empty<(NodeProto, int)>();

    /// <summary>Nodes the walk never reached (Constant nodes feeding only reached nodes count as reached).</summary>
    public IEnumerable<NodeProto> Unvisited() => _graph.Node.Where(n => !_visited.Contains(n));

    // ---------------------------------------------------------------- attributes

    public AttributeProto? Attribute(NodeProto node, string name)
    {
        foreach (var a in node.Attribute) if (a.Name == name) return a;
        return null;
    }

    public long Int(NodeProto node, string name, long fallback)
    {
        var a = Attribute(node, name);
        if (a is null) return fallback;
        if (a.Type != AttributeProto.Types.AttributeType.Int && !(a.Type == 0 && a.HasI))
            throw Bad(node, $"attribute '{name}' should be an integer but is {a.Type}");
        return a.I;
    }

    public float Float(NodeProto node, string name, float fallback)
    {
        var a = Attribute(node, name);
        if (a is null) return fallback;
        if (a.Type != AttributeProto.Types.AttributeType.Float && !(a.Type == 0 && a.HasF))
            throw Bad(node, $"attribute '{name}' should be a float but is {a.Type}");
        return a.F;
    }

    public string String(NodeProto node, string name, string fallback)
    {
        var a = Attribute(node, name);
        if (a is null) return fallback;
        if (a.Type != AttributeProto.Types.AttributeType.String && !(a.Type == 0 && a.HasS))
            throw Bad(node, $"attribute '{name}' should be a string but is {a.Type}");
        return a.S.ToStringUtf8();
    }

    public long[]? Ints(NodeProto node, string name)
    {
        var a = Attribute(node, name);
        if (a is null) return null;
        if (a.Type != AttributeProto.Types.AttributeType.Ints && !(a.Type == 0 && a.Ints.Count > 0))
            throw Bad(node, $"attribute '{name}' should be a list of integers but is {a.Type}");
        return a.Ints.ToArray();
    }

    // ---------------------------------------------------------------- constants

    /// <summary>Whether a value is a constant (initializer or Constant node output).</summary>
    public bool IsConstant(string value)
    {
        value = Resolve(value);
        return _initializers.ContainsKey(value) || _producers.TryGetValue(value, out var p) && p.OpType == "Constant";
    }

    /// <summary>A constant input of <paramref name="user"/> as float32 values, with its dimensions.</summary>
    public (float[] Data, int[] Dims) Floats(NodeProto user, int input, string role)
    {
        var tensor = ConstantTensor(user, input, role, out var fromAttribute);
        if (tensor is null)
            return fromAttribute!.Type switch
            {
                AttributeProto.Types.AttributeType.Float => (new[] { fromAttribute.F }, Array.Empty<int>()),
                AttributeProto.Types.AttributeType.Floats => (fromAttribute.Floats.ToArray(), new[] { fromAttribute.Floats.Count }),
                _ => throw Bad(user, $"its {role} (input {input}) is a Constant of attribute type {fromAttribute.Type}, not floats"),
            };
        return (DecodeFloats(tensor, user, role), Dims(tensor, user, role));
    }

    /// <summary>A constant input of <paramref name="user"/> as int64 values (shapes, pads, axes).</summary>
    public long[] Longs(NodeProto user, int input, string role)
    {
        var tensor = ConstantTensor(user, input, role, out var fromAttribute);
        if (tensor is null)
            return fromAttribute!.Type switch
            {
                AttributeProto.Types.AttributeType.Int => new[] { fromAttribute.I },
                AttributeProto.Types.AttributeType.Ints => fromAttribute.Ints.ToArray(),
                _ => throw Bad(user, $"its {role} (input {input}) is a Constant of attribute type {fromAttribute.Type}, not integers"),
            };
        int count = ElementCount(tensor, user, role);
        var raw = tensor.RawData;
        switch ((TensorProto.Types.DataType)tensor.DataType)
        {
            case TensorProto.Types.DataType.Int64:
                if (raw.Length > 0)
                {
                    CheckRawLength(raw, count, 8, user, role);
                    var values = new long[count];
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.Span.Slice(i * 8, 8));
                    return values;
                }
                CheckCount(tensor.Int64Data.Count, count, user, role);
                return tensor.Int64Data.ToArray();
            case TensorProto.Types.DataType.Int32:
                if (raw.Length > 0)
                {
                    CheckRawLength(raw, count, 4, user, role);
                    var values = new long[count];
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(raw.Span.Slice(i * 4, 4));
                    return values;
                }
                CheckCount(tensor.Int32Data.Count, count, user, role);
                return tensor.Int32Data.Select(v => (long)v).ToArray();
            default:
                throw Bad(user, $"its {role} (input {input}) has data type {DataTypeName(tensor.DataType)}; integers (INT64 or INT32) are expected");
        }
    }

    private TensorProto? ConstantTensor(NodeProto user, int input, string role, out AttributeProto? fromAttribute)
    {
        fromAttribute = null;
        if (input >= user.Input.Count || user.Input[input].Length == 0)
            throw Bad(user, $"its {role} (input {input}) is missing");
        string value = Resolve(user.Input[input]);
        if (_initializers.TryGetValue(value, out var init)) return init;
        if (_producers.TryGetValue(value, out var producer) && producer.OpType == "Constant")
        {
            _visited.Add(producer);
            foreach (var a in producer.Attribute)
            {
                switch (a.Name)
                {
                    case "value": return a.T ?? throw Bad(producer, "attribute 'value' holds no tensor");
                    case "value_float" or "value_floats" or "value_int" or "value_ints":
                        fromAttribute = a;
                        return null;
                    case "sparse_value":
                        throw Bad(producer, "sparse constants are not supported; store the weight as a dense initializer");
                }
            }
            throw Bad(producer, "the Constant has no value attribute ShuffleNetGen reads (value, value_float(s), value_int(s))");
        }
        string source = _producers.TryGetValue(value, out var p) ? $"the output of node '{Label(p)}' ({p.OpType})" : "a graph input";
        throw Bad(user,
            $"its {role} (input {input}, value '{value}') is {source}, computed at run time; ShuffleNetGen needs it as an initializer or Constant (export with a fixed input shape, without dynamic axes, and with constant folding)");
    }

    private float[] DecodeFloats(TensorProto t, NodeProto user, string role)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0)
            throw Bad(user, $"its {role} '{t.Name}' is stored in an external data file; save the model with its weights inside the .onnx file (onnx.save_model(..., save_as_external_data=False))");
        if (t.Segment is not null)
            throw Bad(user, $"its {role} '{t.Name}' is a segmented tensor, which ShuffleNetGen does not read");
        int count = ElementCount(t, user, role);
        var raw = t.RawData;
        switch ((TensorProto.Types.DataType)t.DataType)
        {
            case TensorProto.Types.DataType.Float:
            {
                if (raw.Length == 0)
                {
                    CheckCount(t.FloatData.Count, count, user, role);
                    return t.FloatData.ToArray();
                }
                CheckRawLength(raw, count, 4, user, role);
                var values = new float[count];
                var span = raw.Span;
                for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(span.Slice(i * 4, 4));
                return values;
            }
            case TensorProto.Types.DataType.Double:
            {
                // Rounded once to float32, as a float32 export of the same weights would be.
                if (raw.Length == 0)
                {
                    CheckCount(t.DoubleData.Count, count, user, role);
                    return t.DoubleData.Select(v => (float)v).ToArray();
                }
                CheckRawLength(raw, count, 8, user, role);
                var values = new float[count];
                var span = raw.Span;
                for (int i = 0; i < count; i++) values[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(span.Slice(i * 8, 8));
                return values;
            }
            default:
                throw Bad(user, $"its {role} '{t.Name}' has data type {DataTypeName(t.DataType)}; ShuffleNetGen imports FLOAT (or DOUBLE) weights");
        }
    }

    private int ElementCount(TensorProto t, NodeProto user, string role)
    {
        long count = 1;
        foreach (long d in t.Dims)
        {
            if (d < 0 || d > int.MaxValue) throw Bad(user, $"its {role} '{t.Name}' has dimension {d}");
            count *= d;
            if (count > int.MaxValue) throw Bad(user, $"its {role} '{t.Name}' has {count}+ elements, more than ShuffleNetGen reads");
        }
        return (int)count;
    }

    private int[] Dims(TensorProto t, NodeProto user, string role)
    {
        ElementCount(t, user, role);
        return t.Dims.Select(d => (int)d).ToArray();
    }

    private void CheckRawLength(ByteString raw, int count, int size, NodeProto user, string role)
    {
        if (raw.Length != (long)count * size)
            throw Bad(user, $"its {role} holds {raw.Length} bytes of raw data; its shape needs {(long)count * size} ({count} values of {size} bytes). The file is corrupt");
    }

    private void CheckCount(int got, int count, NodeProto user, string role)
    {
        if (got != count)
            throw Bad(user, $"its {role} holds {got} values; its shape needs {count}. The file is corrupt");
    }

    private static string DataTypeName(int type) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), type)
            ? ((TensorProto.Types.DataType)type).ToString().ToUpperInvariant()
            : type.ToString(CultureInfo.InvariantCulture);

    public OnnxFormatException Bad(NodeProto node, string problem) =>
        new(Label(node), $"ONNX node '{Label(node)}' ({node.OpType}): {problem}.");
}
