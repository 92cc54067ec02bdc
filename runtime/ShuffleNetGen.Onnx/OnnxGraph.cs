using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Google.Protobuf;
using ShuffleNetGen.Onnx.Protos;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// An ONNX graph indexed for walking: who produces and who consumes each value (seen through <c>Identity</c>,
/// inference-mode <c>Dropout</c> and the QDQ format's activation <c>QuantizeLinear</c>/<c>DequantizeLinear</c>, see
/// OnnxGraph.Qdq.cs), constant values (initializers and <c>Constant</c> nodes) decoded with every length
/// checked, and attribute access with ONNX defaults. Every failure is an <see cref="OnnxFormatException"/>.
/// </summary>
internal sealed partial class OnnxGraph
{
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(NodeProto Node, int Input)>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, int> _index = new(ReferenceEqualityComparer.Instance);
    // Output of an Identity/Dropout chain -> the value at its start, built once so every lookup is O(1): walking the
    // chain per lookup made an N-node chain cost O(N^2).
    private readonly Dictionary<string, string> _aliases = new(StringComparer.Ordinal);
    private readonly HashSet<NodeProto> _visited = new(ReferenceEqualityComparer.Instance);
    // Pass-through nodes some lookup has seen through; kept apart from _visited so the walk in Resolve can stop at the
    // first node already seen (everything upstream of it was marked with it).
    private readonly HashSet<NodeProto> _seenThrough = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private HashSet<string>? _graphOutputs;
    private readonly GraphProto _graph;

    public OnnxGraph(GraphProto graph, int opset)
    {
        _graph = graph;
        Opset = opset;
        foreach (var init in graph.Initializer)
        {
            if (string.IsNullOrEmpty(init.Name)) throw new OnnxFormatException(null, "the graph has an initializer without a name");
            if (!_initializers.TryAdd(init.Name, init))
                throw new OnnxFormatException(init.Name, $"the graph has two initializers named {Q(init.Name)}; the graph is not valid ONNX.");
        }

        for (int k = 0; k < graph.Node.Count; k++)
        {
            var node = graph.Node[k];
            _index[node] = k;
            if (node.Domain.Length != 0 && node.Domain != "ai.onnx")
                throw Bad(node, $"it is from operator domain {Q(node.Domain)}; ShuffleNetGen imports standard ONNX operators only");
            if (node.Output.Count == 0 || node.Output[0].Length == 0)
                throw Bad(node, "it has no output; the graph is not valid ONNX");
            RejectQOperator(node);
            foreach (var output in node.Output)
            {
                if (output.Length == 0) continue;
                if (!_producers.TryAdd(output, node) || _initializers.ContainsKey(output))
                    throw Bad(node, $"it writes value {Q(output)}, which another node or an initializer also defines; the graph is not valid ONNX");
            }
            foreach (var input in node.Input) if (input.Length != 0) _read.Add(input);
        }

        BuildAliases(graph);

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

    /// <summary>The node's name, or <c>#index OpType</c> for an unnamed node; raw (quote it with <see cref="Q"/> in messages).</summary>
    public string Label(NodeProto node) =>
        node.Name.Length > 0 ? node.Name : _index.TryGetValue(node, out int k) ? $"#{k} {node.OpType}" : node.OpType;

    private static string Q(string? name) => OnnxText.Q(name);

    // One pass over the pass-through nodes: each value joins _aliases once, so the whole map costs O(nodes).
    private void BuildAliases(GraphProto graph)
    {
        var path = new List<string>();
        var onPath = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (!IsPassThrough(node) || _aliases.ContainsKey(node.Output[0])) continue;
            string current = node.Output[0], root;
            while (true)
            {
                if (_aliases.TryGetValue(current, out var known)) { root = known; break; }
                if (!_producers.TryGetValue(current, out var producer) || !IsPassThrough(producer) || producer.Output[0] != current) { root = current; break; }
                if (!onPath.Add(current))
                {
                    int from = path.IndexOf(current);
                    var cycle = path.Skip(from).Select(v => _producers[v]).ToList();
                    throw new OnnxFormatException(Label(cycle[0]),
                        $"ONNX node {Q(Label(cycle[0]))} ({OnnxText.Op(cycle[0].OpType)}) is part of a cycle of {cycle.Count} Identity/Dropout nodes ({OnnxText.List(cycle.Select(n => Q(Label(n))))}); the graph is not valid ONNX.");
                }
                path.Add(current);
                if (producer.Input.Count == 0 || producer.Input[0].Length == 0)
                    throw Bad(producer, "it has no input");
                current = producer.Input[0];
            }
            foreach (var value in path) _aliases[value] = root;
            path.Clear();
            onPath.Clear();
        }
    }

    /// <summary>The name a value is known by once Identity (and inference Dropout) nodes are seen through.</summary>
    public string Resolve(string value)
    {
        if (!_aliases.TryGetValue(value, out var root)) return value;
        for (string current = value; current != root;)
        {
            var node = _producers[current];
            if (!_seenThrough.Add(node)) break;
            current = node.Input[0];
        }
        return root;
    }

    private bool IsPassThrough(NodeProto node) =>
        node.OpType == "Identity"
        || node.OpType == "Dropout" && node.Output.Count >= 1 && (node.Output.Count == 1 || node.Output.Skip(1).All(o => o.Length == 0))
        || IsActivationQdq(node);

    public bool IsGraphOutput(string value)
    {
        if (_graphOutputs is null)
        {
            _graphOutputs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var output in _graph.Output)
            {
                _graphOutputs.Add(output.Name);
                _graphOutputs.Add(Resolve(output.Name));
            }
        }
        return _graphOutputs.Contains(value);
    }

    public void MarkVisited(NodeProto node) => _visited.Add(node);

    public NodeProto? ProducerOf(string value) => _producers.TryGetValue(Resolve(value), out var node) ? node : null;

    /// <summary>Nodes reading <paramref name="value"/>, with the input slot they read it in.</summary>
    public IReadOnlyList<(NodeProto Node, int Input)> ConsumersOf(string value) =>
        _consumers.TryGetValue(Resolve(value), out var list) ? list : Array.Empty<(NodeProto, int)>();

    /// <summary>Nodes the walk never reached (Constant nodes feeding only reached nodes count as reached).</summary>
    public IEnumerable<NodeProto> Unvisited() => _graph.Node.Where(n => !_visited.Contains(n) && !_seenThrough.Contains(n));

    /// <summary>Initializers no node reads: weights in the file that would silently not reach the model.</summary>
    public IEnumerable<TensorProto> UnreadInitializers() => _graph.Initializer.Where(i => !_read.Contains(i.Name));

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
        return _initializers.ContainsKey(value) || _producers.TryGetValue(value, out var p) && p.OpType == "Constant" || DequantizedConstant(value) is not null;
    }

    /// <summary>
    /// The dimensions of a constant float input, read without decoding its data, so a caller can reject a weight of
    /// the wrong shape before its values are materialized.
    /// </summary>
    public int[] ConstantDims(NodeProto user, int input, string role)
    {
        if (DequantizedConstant(user, input) is { } dequantize) return ConstantDims(dequantize, 0, role);
        var tensor = ConstantTensor(user, input, role, out var fromAttribute);
        if (tensor is null)
            return fromAttribute!.Type switch
            {
                AttributeProto.Types.AttributeType.Float => Array.Empty<int>(),
                AttributeProto.Types.AttributeType.Floats => new[] { fromAttribute.Floats.Count },
                _ => throw Bad(user, $"its {role} (input {input}) is a Constant of attribute type {fromAttribute.Type}, not floats"),
            };
        return Dims(tensor, user, role);
    }

    /// <summary>A constant input of <paramref name="user"/> as float32 values, with its dimensions.</summary>
    public (float[] Data, int[] Dims) Floats(NodeProto user, int input, string role)
    {
        if (DequantizedConstant(user, input) is { } dequantize) return Dequantize(dequantize, role);
        var tensor = ConstantTensor(user, input, role, out var fromAttribute);
        if (tensor is null)
            return fromAttribute!.Type switch
            {
                AttributeProto.Types.AttributeType.Float => (new[] { fromAttribute.F }, Array.Empty<int>()),
                AttributeProto.Types.AttributeType.Floats => (fromAttribute.Floats.ToArray(), new[] { fromAttribute.Floats.Count }),
                _ => throw Bad(user, $"its {role} (input {input}) is a Constant of attribute type {fromAttribute.Type}, not floats"),
            };
        var dims = Dims(tensor, user, role);
        return (DecodeFloats(tensor, user, role), dims);
    }

    /// <summary>
    /// A small constant integer input (a shape, an index, an axis) with its rank (0 for a scalar), its element count
    /// checked against <paramref name="maxCount"/> before anything is decoded.
    /// </summary>
    public (long[] Values, int Rank) SmallLongs(NodeProto user, int input, string role, int maxCount)
    {
        var tensor = ConstantTensor(user, input, role, out var fromAttribute);
        int rank, count;
        if (tensor is null)
        {
            (rank, count) = fromAttribute!.Type switch
            {
                AttributeProto.Types.AttributeType.Int => (0, 1),
                AttributeProto.Types.AttributeType.Ints => (1, fromAttribute.Ints.Count),
                _ => throw Bad(user, $"its {role} (input {input}) is a Constant of attribute type {fromAttribute.Type}, not integers"),
            };
        }
        else
        {
            rank = tensor.Dims.Count;
            count = ElementCount(tensor, user, role);
        }
        if (count > maxCount || rank > 1)
            throw Bad(user, $"its {role} (input {input}) is an integer tensor of {count} values and rank {rank}; a shape, index or axis list of at most {maxCount} values is expected");
        return (Longs(user, input, role), rank);
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
        CheckInline(tensor, user, role);
        int count = ElementCount(tensor, user, role);
        var raw = tensor.RawData;
        switch ((TensorProto.Types.DataType)tensor.DataType)
        {
            case TensorProto.Types.DataType.Int64:
                if (raw.Length > 0)
                {
                    CheckRawLength(raw, count, 8, tensor, user, role);
                    var values = new long[count];
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.Span.Slice(i * 8, 8));
                    return values;
                }
                CheckCount(tensor.Int64Data.Count, count, tensor, user, role);
                return tensor.Int64Data.ToArray();
            case TensorProto.Types.DataType.Int32:
                if (raw.Length > 0)
                {
                    CheckRawLength(raw, count, 4, tensor, user, role);
                    var values = new long[count];
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(raw.Span.Slice(i * 4, 4));
                    return values;
                }
                CheckCount(tensor.Int32Data.Count, count, tensor, user, role);
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
        string source = _producers.TryGetValue(value, out var p) ? $"the output of node {Q(Label(p))} ({OnnxText.Op(p.OpType)})" : "a graph input";
        throw Bad(user,
            $"its {role} (input {input}, value {Q(value)}) is {source}, computed at run time; ShuffleNetGen needs it as an initializer or Constant (export with a fixed input shape, without dynamic axes, and with constant folding)");
    }

    // No external file is ever opened: a tensor pointing to one is rejected before anything else is read from it.
    private void CheckInline(TensorProto t, NodeProto user, string role)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0)
            throw Bad(user, $"its {role} {Q(t.Name)} is stored in an external data file; save the model with its weights inside the .onnx file (onnx.save_model(..., save_as_external_data=False))");
        if (t.Segment is not null)
            throw Bad(user, $"its {role} {Q(t.Name)} is a segmented tensor, which ShuffleNetGen does not read");
    }

    private float[] DecodeFloats(TensorProto t, NodeProto user, string role)
    {
        CheckInline(t, user, role);
        int count = ElementCount(t, user, role);
        var raw = t.RawData;
        switch ((TensorProto.Types.DataType)t.DataType)
        {
            case TensorProto.Types.DataType.Float:
            {
                if (raw.Length == 0)
                {
                    CheckCount(t.FloatData.Count, count, t, user, role);
                    return t.FloatData.ToArray();
                }
                CheckRawLength(raw, count, 4, t, user, role);
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
                    CheckCount(t.DoubleData.Count, count, t, user, role);
                    return t.DoubleData.Select(v => (float)v).ToArray();
                }
                CheckRawLength(raw, count, 8, t, user, role);
                var values = new float[count];
                var span = raw.Span;
                for (int i = 0; i < count; i++) values[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(span.Slice(i * 8, 8));
                return values;
            }
            default:
                throw Bad(user, $"its {role} {Q(t.Name)} has data type {DataTypeName(t.DataType)}; ShuffleNetGen imports FLOAT (or DOUBLE) weights");
        }
    }

    /// <summary>
    /// The product of a tensor's dims, overflow-checked at every step and capped at <see cref="Array.MaxLength"/>, so
    /// no product can wrap around into a small plausible count and nothing is allocated for an impossible one.
    /// </summary>
    private int ElementCount(TensorProto t, NodeProto user, string role)
    {
        long count = 1;
        foreach (long d in t.Dims)
        {
            if (d < 0 || d > Array.MaxLength) throw Bad(user, $"its {role} {Q(t.Name)} has dimension {d}");
            // Both factors are at most Array.MaxLength < 2^31, so the product fits a long before the cap is checked.
            count *= d;
            if (count > Array.MaxLength)
                throw Bad(user, $"its {role} {Q(t.Name)} has shape {OnnxText.Dims(t.Dims)}, more than {Array.MaxLength} elements, more than ShuffleNetGen reads");
        }
        return (int)count;
    }

    private int[] Dims(TensorProto t, NodeProto user, string role)
    {
        ElementCount(t, user, role);
        return t.Dims.Select(d => (int)d).ToArray();
    }

    private void CheckRawLength(ByteString raw, int count, int size, TensorProto t, NodeProto user, string role)
    {
        if (raw.Length != (long)count * size)
            throw Bad(user, $"its {role} {Q(t.Name)} holds {raw.Length} bytes of raw data; its shape {OnnxText.Dims(t.Dims)} needs {(long)count * size} ({count} values of {size} bytes). The file is corrupt");
    }

    private void CheckCount(int got, int count, TensorProto t, NodeProto user, string role)
    {
        if (got != count)
            throw Bad(user, $"its {role} {Q(t.Name)} holds {got} values; its shape {OnnxText.Dims(t.Dims)} needs {count}. The file is corrupt");
    }

    private static string DataTypeName(int type) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), type)
            ? ((TensorProto.Types.DataType)type).ToString().ToUpperInvariant()
            : type.ToString(CultureInfo.InvariantCulture);

    /// <summary>An error at <paramref name="node"/>; <paramref name="problem"/> must already quote any text from the file.</summary>
    public OnnxFormatException Bad(NodeProto node, string problem) =>
        new(Label(node), $"ONNX node {Q(Label(node))} ({OnnxText.Op(node.OpType)}): {problem}.");

    /// <summary>Overflow-checked product for shapes read from the file; false when it does not fit a long.</summary>
    public static bool TryMultiply(long a, long b, out long product)
    {
        long high = Math.BigMul(a, b, out product);
        return high == (product >> 63);
    }
}
