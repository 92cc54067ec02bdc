using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ShuffleNetGen.Onnx.Protos;

namespace ShuffleNetGen.Onnx;

/// <summary>One entry of a shape the graph computes: a number, or the batch size when the graph input leaves it symbolic.</summary>
internal readonly record struct ShapeDim(long Value, bool IsBatch)
{
    public static ShapeDim Batch => new(0, true);

    public static ShapeDim Of(long value) => new(value, false);

    public override string ToString() => IsBatch ? "N" : Value.ToString(CultureInfo.InvariantCulture);

    public static string Text(IEnumerable<ShapeDim> dims) => "[" + OnnxText.List(dims.Select(d => d.ToString())) + "]";
}

/// <summary>
/// The integer values an exporter computes at run time from activation shapes: torch.onnx.export's
/// <c>Shape → Gather → Add/Div/Mul</c> for the bounds of <c>chunk</c>'s Slices (even with static shapes), and
/// <c>Shape → Gather → Unsqueeze → Concat</c> for a Reshape target with a dynamic batch. Evaluated here from the
/// activation shapes the structure walk knows (<see cref="Know"/>), with the batch size kept as a symbol when the
/// graph input does not state it, so that a target either reproduces the declared shape for every batch size or is
/// refused. Constants are read as <see cref="OnnxGraph.Longs"/> does. Every node evaluated is marked visited.
/// </summary>
internal sealed class ShapeValues
{
    /// <summary>More values than any shape, index or bound list here has (a 5-d shape at most).</summary>
    private const int MaxValues = 16;

    /// <summary>Nodes followed from one value; a computed shape is a handful, a cycle or a chain of thousands is not one.</summary>
    private const int MaxDepth = 64;

    private readonly OnnxGraph _g;
    private readonly Dictionary<string, ShapeDim[]> _activations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (ShapeDim[] Values, bool Scalar)> _values = new(StringComparer.Ordinal);

    public ShapeValues(OnnxGraph g) => _g = g;

    private static string Q(string? name) => OnnxText.Q(name);

    /// <summary>Records the shape of an activation the walk has reached, for the Shape nodes that read it.</summary>
    public void Know(string activation, params ShapeDim[] shape) => _activations[_g.Resolve(activation)] = shape;

    /// <summary>Input <paramref name="input"/> of <paramref name="user"/> as a list of integers (a scalar as one).</summary>
    public ShapeDim[] Evaluate(NodeProto user, int input, string role) => Eval(user, input, role, 0).Values;

    /// <summary>Input <paramref name="input"/> of <paramref name="user"/> as numbers; the batch symbol there is refused.</summary>
    public long[] Numbers(NodeProto user, int input, string role)
    {
        var values = Evaluate(user, input, role);
        if (values.Any(v => v.IsBatch))
            throw _g.Bad(user, $"its {role} {ShapeDim.Text(values)} depends on the batch size (N, a dynamic axis); it must be a number");
        return values.Select(v => v.Value).ToArray();
    }

    private (ShapeDim[] Values, bool Scalar) Eval(NodeProto user, int input, string role, int depth)
    {
        if (input >= user.Input.Count || user.Input[input].Length == 0) throw _g.Bad(user, $"its {role} (input {input}) is missing");
        string value = _g.Resolve(user.Input[input]);
        if (_values.TryGetValue(value, out var known)) return known;
        if (depth > MaxDepth) throw _g.Bad(user, $"its {role} is computed by more than {MaxDepth} nodes in a row; ShuffleNetGen follows short shape computations only");
        (ShapeDim[] Values, bool Scalar) result;
        if (_g.IsConstant(value))
        {
            var (longs, rank) = _g.SmallLongs(user, input, role, MaxValues);
            result = (longs.Select(ShapeDim.Of).ToArray(), rank == 0);
        }
        else
        {
            var node = _g.ProducerOf(value)
                       ?? throw _g.Bad(user, $"its {role} (input {input}) is the graph input {Q(value)}; a shape computed from activation shapes or a constant is expected");
            _g.MarkVisited(node);
            result = Compute(node, role, depth + 1);
            if (result.Values.Length > MaxValues) throw _g.Bad(node, $"it computes {result.Values.Length} values for the {role} of {Q(_g.Label(user))}; a shape has at most {MaxValues}");
        }
        _values[value] = result;
        return result;
    }

    private (ShapeDim[] Values, bool Scalar) Compute(NodeProto node, string role, int depth)
    {
        switch (node.OpType)
        {
            case "Shape":
            {
                if (node.Input.Count == 0 || !_activations.TryGetValue(_g.Resolve(node.Input[0]), out var shape))
                    throw _g.Bad(node, $"it reads the shape of {(node.Input.Count == 0 ? "nothing" : Q(node.Input[0]))}, which is not an activation ShuffleNetGen follows at this point of the network");
                long start = _g.Int(node, "start", 0), end = _g.Int(node, "end", shape.Length);
                int Clamp(long v) => (int)Math.Clamp(v < 0 ? v + shape.Length : v, 0, shape.Length);
                int from = Clamp(start), to = Clamp(end);
                return (shape.Skip(from).Take(Math.Max(to - from, 0)).ToArray(), false);
            }
            case "Gather":
            {
                var (data, dataScalar) = Eval(node, 0, "data", depth);
                var (indices, scalar) = Eval(node, 1, "indices", depth);
                if (_g.Int(node, "axis", 0) != 0 || dataScalar)
                    throw _g.Bad(node, $"it gathers along axis {_g.Int(node, "axis", 0)} of a {(dataScalar ? "scalar" : "list")}; a shape computation gathers entries of a list (axis 0)");
                var result = new ShapeDim[indices.Length];
                for (int i = 0; i < indices.Length; i++)
                {
                    long k = indices[i].IsBatch ? long.MinValue : indices[i].Value;
                    if (k < 0 && k != long.MinValue) k += data.Length;
                    if (k < 0 || k >= data.Length) throw _g.Bad(node, $"it gathers index {indices[i]} of {ShapeDim.Text(data)}, out of range");
                    result[i] = data[k];
                }
                return (result, scalar);
            }
            case "Unsqueeze" or "Squeeze":
            {
                var (data, scalar) = Eval(node, 0, "data", depth);
                long[] axes = _g.Opset >= 13
                    ? (node.Input.Count > 1 && node.Input[1].Length > 0 ? Numbers(node, 1, "axes") : Array.Empty<long>())
                    : (_g.Ints(node, "axes") ?? Array.Empty<long>());
                bool unsqueeze = node.OpType == "Unsqueeze";
                // A scalar to a list of one, or back: what shape computations do; anything else is not a shape.
                if (unsqueeze ? scalar && axes.Length == 1 && axes[0] is 0 or -1
                              : !scalar && data.Length == 1 && (axes.Length == 0 || axes.Length == 1 && axes[0] is 0 or -1))
                    return (data, !unsqueeze);
                throw _g.Bad(node, $"it {(unsqueeze ? "unsqueezes" : "squeezes")} {(scalar ? "a scalar" : ShapeDim.Text(data))} along axes {OnnxText.Dims(axes)}; a shape computation turns a scalar into a list of one along axis 0, or back");
            }
            case "Concat":
            {
                long axis = _g.Int(node, "axis", long.MinValue);
                if (axis is not (0 or -1)) throw _g.Bad(node, $"it concatenates along axis {(axis == long.MinValue ? "unset" : axis.ToString(CultureInfo.InvariantCulture))}; a shape is a list, concatenated along axis 0");
                var all = new List<ShapeDim>();
                for (int i = 0; i < node.Input.Count; i++)
                {
                    var (part, scalar) = Eval(node, i, $"part {i}", depth);
                    if (scalar) throw _g.Bad(node, $"its input {i} is a scalar; Concat joins lists");
                    all.AddRange(part);
                    if (all.Count > MaxValues) throw _g.Bad(node, $"it joins more than {MaxValues} values; a shape has at most {MaxValues}");
                }
                return (all.ToArray(), false);
            }
            case "Cast":
            {
                long to = _g.Int(node, "to", 0);
                if (to is not ((long)TensorProto.Types.DataType.Int64 or (long)TensorProto.Types.DataType.Int32))
                    throw _g.Bad(node, $"it casts a shape computation to data type {to}; ShuffleNetGen follows integer (INT64 or INT32) shape computations");
                return Eval(node, 0, "input", depth);
            }
            case "Add" or "Sub" or "Mul" or "Div":
            {
                var (a, aScalar) = Eval(node, 0, "A", depth);
                var (b, bScalar) = Eval(node, 1, "B", depth);
                if (a.Length != b.Length && a.Length != 1 && b.Length != 1)
                    throw _g.Bad(node, $"its operands {ShapeDim.Text(a)} and {ShapeDim.Text(b)} do not broadcast");
                int n = Math.Max(a.Length, b.Length);
                var result = new ShapeDim[n];
                for (int i = 0; i < n; i++)
                {
                    var x = a[a.Length == 1 ? 0 : i];
                    var y = b[b.Length == 1 ? 0 : i];
                    if (x.IsBatch || y.IsBatch)
                        throw _g.Bad(node, $"it computes with the batch size (N, a dynamic axis); ShuffleNetGen follows arithmetic on channel counts and sizes only");
                    long? v = node.OpType switch
                    {
                        "Add" => x.Value + y.Value is var s && ((x.Value ^ s) & (y.Value ^ s)) < 0 ? null : s,
                        "Sub" => x.Value - y.Value is var d && ((x.Value ^ y.Value) & (x.Value ^ d)) < 0 ? null : d,
                        "Mul" => OnnxGraph.TryMultiply(x.Value, y.Value, out long p) ? p : null,
                        // Integer division truncates, as ONNX Runtime's and C#'s.
                        _ => y.Value == 0 || x.Value == long.MinValue && y.Value == -1 ? null : x.Value / y.Value,
                    };
                    if (v is null) throw _g.Bad(node, $"it computes {x} {node.OpType} {y}, which has no 64-bit integer result");
                    result[i] = ShapeDim.Of(v.Value);
                }
                return (result, aScalar && bScalar);
            }
            default:
                throw _g.Bad(node, $"it computes the {role} of a shape computation; ShuffleNetGen follows Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Add, Sub, Mul and Div there");
        }
    }

    /// <summary>
    /// A Reshape's target, evaluated, with 0 (copy, unless allowzero) and -1 (infer) resolved against
    /// <paramref name="input"/>; the batch symbol counts as a factor of its own, so a -1 can stand for a product of
    /// numbers only.
    /// </summary>
    public ShapeDim[] ReshapeTarget(NodeProto reshape, ShapeDim[] input) => Resolve(_g, reshape, Evaluate(reshape, 1, "target shape"), input);

    /// <summary>
    /// <paramref name="target"/>, the target of <paramref name="reshape"/> however it was read (evaluated here, or a
    /// constant as <see cref="OnnxReader.ReshapeTarget"/> reads it), with 0 and -1 resolved against
    /// <paramref name="input"/>; marks the Reshape visited.
    /// </summary>
    public static ShapeDim[] Resolve(OnnxGraph g, NodeProto reshape, ShapeDim[] target, ShapeDim[] input)
    {
        bool allowZero = g.Int(reshape, "allowzero", 0) != 0;
        var result = new ShapeDim[target.Length];
        int infer = -1, batches = 0;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            var d = target[i];
            if (!d.IsBatch && d.Value == 0 && !allowZero)
            {
                if (i >= input.Length) throw g.Bad(reshape, $"its target shape copies dimension {i} (0), which the input {ShapeDim.Text(input)} does not have");
                d = input[i];
            }
            if (!d.IsBatch && d.Value == -1)
            {
                if (infer >= 0) throw g.Bad(reshape, "its target shape has two -1 entries");
                infer = i;
                continue;
            }
            if (!d.IsBatch && d.Value < 0) throw g.Bad(reshape, $"its target shape has dimension {d}");
            result[i] = d;
            if (d.IsBatch) batches++;
            else if (!OnnxGraph.TryMultiply(known, d.Value, out known))
                throw g.Bad(reshape, $"its target shape {ShapeDim.Text(target)} has more elements than a 64-bit count holds; the input has shape {ShapeDim.Text(input)}");
        }
        // The input's shape comes from the declaration, so its product cannot overflow.
        long total = input.Where(d => !d.IsBatch).Aggregate(1L, (a, b) => checked(a * b.Value));
        int inputBatches = input.Count(d => d.IsBatch);
        if (batches != inputBatches)
            throw g.Bad(reshape, $"its target shape {ShapeDim.Text(target)} does not keep the batch size N of its input {ShapeDim.Text(input)} (a dynamic axis) as one entry");
        if (infer >= 0)
        {
            if (known == 0 || total % known != 0) throw g.Bad(reshape, $"its target shape {ShapeDim.Text(target)} does not fit an input of shape {ShapeDim.Text(input)}");
            result[infer] = ShapeDim.Of(total / known);
        }
        else if (known != total)
            throw g.Bad(reshape, $"its target shape {ShapeDim.Text(target)} does not fit an input of shape {ShapeDim.Text(input)}");
        g.MarkVisited(reshape);
        return result;
    }
}
