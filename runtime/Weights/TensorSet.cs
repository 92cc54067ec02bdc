using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;

namespace ShuffleNetGen;

/// <summary>How a tensor is stored in a weights file.</summary>
public enum TensorDType
{
    /// <summary>32-bit IEEE float (safetensors <c>F32</c>).</summary>
    F32,

    /// <summary>Signed 8-bit integer (safetensors <c>I8</c>): an int8 model's quantized weights at rest (docs/int8.md).</summary>
    I8,
}

/// <summary>A named tensor, row-major (PyTorch order). Its values are floats in memory whatever its <see cref="DType"/>.</summary>
public sealed class NamedTensor
{
    /// <summary>Creates an F32 tensor; <paramref name="data"/> must hold exactly the product of <paramref name="shape"/> floats.</summary>
    public NamedTensor(string name, int[] shape, float[] data) : this(name, shape, data, TensorDType.F32)
    {
    }

    /// <summary>
    /// Creates a tensor stored as <paramref name="dtype"/>. For <see cref="TensorDType.I8"/> every value must be a whole
    /// number from -128 to 127, so that writing it as bytes loses nothing.
    /// </summary>
    public NamedTensor(string name, int[] shape, float[] data, TensorDType dtype)
    {
        if (name is null) throw new ArgumentNullException(nameof(name));
        if (shape is null) throw new ArgumentNullException(nameof(shape));
        if (data is null) throw new ArgumentNullException(nameof(data));
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor {TensorNameText.Quote(name)} has a negative dimension in shape {NamedTensor.FormatShape(shape)}.", nameof(shape));
        }
        // Capped rather than wrapped: a product that overflowed to 0 would accept an empty array for a huge shape.
        long count = ElementCountWithinArrayLimit(shape);
        if (count != data.Length)
        {
            string elements = count < 0 ? $"more than {Array.MaxLength} elements" : $"{count} elements";
            throw new ArgumentException($"Tensor {TensorNameText.Quote(name)} has shape {NamedTensor.FormatShape(shape)} ({elements}) but {data.Length} values.", nameof(data));
        }
        if (dtype == TensorDType.I8)
        {
            for (int i = 0; i < data.Length; i++)
            {
                float v = data[i];
                if (!(v >= sbyte.MinValue && v <= sbyte.MaxValue) || v != MathF.Floor(v))
                    throw new ArgumentException($"Tensor {TensorNameText.Quote(name)} is I8 but holds {v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} at flat index {i}; an I8 value is a whole number from -128 to 127.", nameof(data));
            }
        }
        else if (dtype != TensorDType.F32)
        {
            throw new ArgumentOutOfRangeException(nameof(dtype));
        }
        Name = name;
        Shape = shape;
        Data = data;
        DType = dtype;
    }

    /// <summary>Tensor name, e.g. <c>units.3.conv1.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Dimensions.</summary>
    public int[] Shape { get; }

    /// <summary>Values, row-major.</summary>
    public float[] Data { get; }

    /// <summary>How the tensor is stored in a file: F32, or I8 for an int8 model's quantized weights.</summary>
    public TensorDType DType { get; }

    /// <summary>Shape as written in PyTorch, e.g. <c>[240, 80, 1, 1]</c>; beyond 16 dimensions the rest is elided.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>
    /// The product of <paramref name="shape"/>, or -1 when a dimension is negative or the product exceeds
    /// <see cref="Array.MaxLength"/>, the largest array .NET allocates. Any zero dimension makes it 0, however large the
    /// others, and the product never overflows because it stops growing past the limit.
    /// </summary>
    internal static long ElementCountWithinArrayLimit(int[] shape)
    {
        foreach (int d in shape) if (d == 0) return 0;
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) return -1;
            count *= d; // count <= Array.MaxLength < 2^31 and d < 2^31 before this, so no long overflow
            if (count > Array.MaxLength) return -1;
        }
        return count;
    }

    /// <summary>A shape for messages: a hostile file can declare a million dimensions, so long ranks are elided.</summary>
    internal static string FormatShape(int[] shape)
    {
        const int shown = 16;
        if (shape.Length <= shown) return "[" + string.Join(", ", shape) + "]";
        return "[" + string.Join(", ", new ArraySegment<int>(shape, 0, shown)) + $", … ({shape.Length} dimensions)]";
    }
}

/// <summary>A set of named tensors, as read from a weights file or built in memory.</summary>
public sealed class TensorSet : IEnumerable<NamedTensor>
{
    private readonly Dictionary<string, NamedTensor> _byName = new(StringComparer.Ordinal);
    private readonly List<NamedTensor> _inOrder = new();

    /// <summary>Number of tensors.</summary>
    public int Count => _inOrder.Count;

    /// <summary>
    /// The safetensors <c>__metadata__</c> strings, read from and written to the file. An int8 weight file names its
    /// format and version here (<see cref="Quantization.Int8WeightFile"/>); other keys are kept as they are.
    /// </summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Adds a tensor; a second tensor with the same name is an error.</summary>
    public void Add(NamedTensor tensor)
    {
        if (tensor is null) throw new ArgumentNullException(nameof(tensor));
        if (_byName.ContainsKey(tensor.Name))
            throw new WeightFormatException(tensor.Name, $"Tensor {TensorNameText.Quote(tensor.Name)} appears twice.");
        _byName.Add(tensor.Name, tensor);
        _inOrder.Add(tensor);
    }

    /// <summary>Adds a tensor built from its parts.</summary>
    public void Add(string name, int[] shape, float[] data) => Add(new NamedTensor(name, shape, data));

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGet(string name, out NamedTensor tensor) => _byName.TryGetValue(name, out tensor!);

    /// <summary>The tensor with this name, or a <see cref="WeightFormatException"/> naming it.</summary>
    public NamedTensor this[string name] =>
        _byName.TryGetValue(name, out var t) ? t : throw new WeightFormatException(name, $"Tensor {TensorNameText.Quote(name)} is missing.");

    /// <inheritdoc/>
    public IEnumerator<NamedTensor> GetEnumerator() => _inOrder.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A weights file or tensor set that does not fit the model: names the tensor and says what was expected.</summary>
public sealed class WeightFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public WeightFormatException(string? tensorName, string message) : base(message) => TensorName = tensorName;

    /// <summary>The offending tensor, when one can be named.</summary>
    public string? TensorName { get; }
}
