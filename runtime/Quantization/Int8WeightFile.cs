using System;
using System.Collections.Generic;
using System.Globalization;
using ShuffleNetGen.Weights;

namespace ShuffleNetGen.Quantization;

/// <summary>
/// An int8 model's weights at rest: the 1x1 convolutions' and the classifier's weights quantized to I8 with a float
/// scale per output channel, batch norm folded into every convolution, and the calibrated activation scales; about a
/// quarter of the calibrated float file. <c>Safetensors.Write(path, calibrated, Model.Description)</c> writes it and
/// <c>FromSafetensors</c> reads it. The folding and rounding are <see cref="WeightPacker"/>'s, so a model bound from
/// the file packs the same bits as one bound from the calibrated float tensors (docs/int8.md, "Weights at rest").
/// </summary>
public static class Int8WeightFile
{
    /// <summary>The <c>__metadata__</c> key that names the format.</summary>
    public const string FormatKey = "shufflenetgen.format";

    /// <summary>The value of <see cref="FormatKey"/> in an int8 weight file.</summary>
    public const string FormatName = "int8";

    /// <summary>The <c>__metadata__</c> key of the format's version, a decimal integer.</summary>
    public const string VersionKey = "shufflenetgen.format_version";

    /// <summary>The version this library writes and the only one it reads.</summary>
    public const int Version = 1;

    /// <summary>Suffix of a quantized weight's per-output-channel scale (<c>units.3.conv1.weight_scale</c>).</summary>
    public const string WeightScaleSuffix = ".weight_scale";

    /// <summary>Whether <paramref name="tensors"/> claim to be an int8 weight file (their metadata names the format).</summary>
    public static bool IsInFormat(TensorSet tensors)
    {
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        return IsInFormat(tensors.Metadata);
    }

    internal static bool IsInFormat(IDictionary<string, string> metadata) => metadata.ContainsKey(FormatKey);

    /// <summary>
    /// The tensors an int8 weight file of <paramref name="model"/> holds, in the order they are written (forward order):
    /// per 3x3 convolution its folded <c>weight</c> and <c>bias</c> (F32); per 1x1 convolution its <c>weight</c> (I8),
    /// <c>weight_scale</c> and <c>bias</c> (F32, one per output channel), <c>input_scale</c> and <c>input_zero_point</c>;
    /// for the classifier its <c>weight</c> (I8), <c>weight_scale</c> and <c>bias</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The model is not an int8 model, or its description lists no layers.</exception>
    public static IReadOnlyList<(TensorShape Shape, TensorDType DType)> Layout(ModelDescription model)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        if (model.Precision != Precision.Int8)
            throw new ArgumentException($"{model.Name} is a {model.Precision} model; only an int8 model has an int8 weight file.", nameof(model));
        if (model.Layers.Count == 0)
            throw new ArgumentException($"{model.Name}'s description lists no layers; the int8 weight file follows a generated model's layers.", nameof(model));
        var floatShapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var t in model.WeightLayout) floatShapes[t.Name] = t.Dimensions;
        int[] ShapeOf(string name) =>
            floatShapes.TryGetValue(name, out var dims) ? dims
            : throw new ArgumentException($"{model.Name}'s layers name {TensorNameText.Quote(name)}, which its weight layout lacks.", nameof(model));

        var layout = new List<(TensorShape, TensorDType)>();
        void Add(string name, int[] shape, TensorDType dtype) => layout.Add((new TensorShape(name, shape), dtype));
        foreach (var layer in model.Layers)
        {
            switch (layer.Kind)
            {
                case LayerKind.Convolution3x3:
                case LayerKind.Depthwise3x3:
                    Add(layer.Name + ".weight", ShapeOf(layer.Name + ".weight"), TensorDType.F32);
                    Add(layer.Name + ".bias", new[] { layer.Channels }, TensorDType.F32);
                    break;
                case LayerKind.Pointwise:
                    Add(layer.Name + ".weight", ShapeOf(layer.Name + ".weight"), TensorDType.I8);
                    Add(layer.Name + WeightScaleSuffix, new[] { layer.Channels }, TensorDType.F32);
                    Add(layer.Name + ".bias", new[] { layer.Channels }, TensorDType.F32);
                    Add(layer.Name + Int8Calibration.InputScaleSuffix, ShapeOf(layer.Name + Int8Calibration.InputScaleSuffix), TensorDType.F32);
                    Add(layer.Name + Int8Calibration.InputZeroPointSuffix, ShapeOf(layer.Name + Int8Calibration.InputZeroPointSuffix), TensorDType.F32);
                    break;
                case LayerKind.Linear:
                    Add(layer.Name + ".weight", ShapeOf(layer.Name + ".weight"), TensorDType.I8);
                    Add(layer.Name + WeightScaleSuffix, new[] { layer.Channels }, TensorDType.F32);
                    Add(layer.Name + ".bias", ShapeOf(layer.Name + ".bias"), TensorDType.F32);
                    break;
            }
        }
        return layout;
    }

    /// <summary>
    /// The int8 weight file of calibrated float weights (<see cref="Int8Calibration.Calibrate"/>, <c>tools/quantize.py</c>):
    /// folded and quantized exactly as the model's loader would, with the format and version in its metadata. A set
    /// that is already an int8 weight file is checked and returned as it is.
    /// </summary>
    /// <exception cref="ArgumentException">The model is not an int8 model.</exception>
    /// <exception cref="WeightFormatException">The tensors do not fit the model, or hold values its loader refuses; the message names the tensor.</exception>
    public static TensorSet Fold(ModelDescription model, TensorSet calibrated)
    {
        if (calibrated is null) throw new ArgumentNullException(nameof(calibrated));
        var layout = Layout(model);
        if (IsInFormat(calibrated))
        {
            Validate(calibrated, model);
            return calibrated;
        }
        WeightPacker.Validate(calibrated, model.WeightLayout, model.Name);

        var byName = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var layer in model.Layers)
        {
            string name = layer.Name;
            int[] shape = layer.Kind is LayerKind.Convolution3x3 or LayerKind.Depthwise3x3 or LayerKind.Pointwise or LayerKind.Linear
                ? calibrated[name + ".weight"].Shape : Array.Empty<int>();
            switch (layer.Kind)
            {
                case LayerKind.Convolution3x3:
                case LayerKind.Depthwise3x3:
                {
                    var (weights, bias) = WeightPacker.FoldWindow3x3(calibrated, name, layer.BatchNorm!, layer.Channels, shape[1]);
                    byName[name + ".weight"] = weights;
                    byName[name + ".bias"] = bias;
                    break;
                }
                case LayerKind.Pointwise:
                {
                    var (q, weightScale, bias) = WeightPacker.QuantizePointwise(calibrated, name, layer.BatchNorm!, layer.Channels, shape[1]);
                    byName[name + ".weight"] = q;
                    byName[name + WeightScaleSuffix] = weightScale;
                    byName[name + ".bias"] = bias;
                    byName[name + Int8Calibration.InputScaleSuffix] = (float[])calibrated[name + Int8Calibration.InputScaleSuffix].Data.Clone();
                    byName[name + Int8Calibration.InputZeroPointSuffix] = (float[])calibrated[name + Int8Calibration.InputZeroPointSuffix].Data.Clone();
                    break;
                }
                case LayerKind.Linear:
                {
                    var (q, weightScale) = WeightPacker.QuantizeLinear(calibrated, name, shape[1], layer.Channels);
                    byName[name + ".weight"] = q;
                    byName[name + WeightScaleSuffix] = weightScale;
                    byName[name + ".bias"] = (float[])calibrated[name + ".bias"].Data.Clone();
                    break;
                }
            }
        }

        var result = new TensorSet();
        result.Metadata[FormatKey] = FormatName;
        result.Metadata[VersionKey] = Version.ToString(CultureInfo.InvariantCulture);
        foreach (var (shape, dtype) in layout)
            result.Add(new NamedTensor(shape.Name, shape.Dimensions, byName[shape.Name], dtype));
        // A file this writes must load: the multipliers an input scale gives are checked where the loader checks them.
        foreach (var layer in model.Layers)
        {
            if (layer.Kind != LayerKind.Pointwise) continue;
            int inPerGroup = result[layer.Name + ".weight"].Shape[1];
            var scratch = new float[checked(layer.Channels * (2 + (inPerGroup + 3) / 4))];
            WeightPacker.Int8Pointwise(result, layer.Name, layer.BatchNorm!, inPerGroup * layer.Groups, layer.Channels, layer.Groups, 4, scratch);
        }
        return result;
    }

    /// <summary>
    /// Refuses metadata that names a format or version this library does not read: an int8 weight file's layout may
    /// change between versions, and reading a future file by today's rules would bind wrong weights.
    /// </summary>
    /// <exception cref="WeightFormatException">The format is not <see cref="FormatName"/>, or the version is not <see cref="Version"/>.</exception>
    internal static void CheckVersion(IDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(FormatKey, out var format)) return;
        if (format != FormatName)
            throw new WeightFormatException(null,
                $"__metadata__ {TensorNameText.Quote(FormatKey)} is {TensorNameText.Quote(format)}; this version of ShuffleNetGen reads {TensorNameText.Quote(FormatName)} (an int8 weight file) or no such key (float weights).");
        string expected = Version.ToString(CultureInfo.InvariantCulture);
        if (!metadata.TryGetValue(VersionKey, out var version))
            throw new WeightFormatException(null,
                $"an int8 weight file ({TensorNameText.Quote(FormatKey)}: {TensorNameText.Quote(FormatName)}) without {TensorNameText.Quote(VersionKey)}; expected version {expected}.");
        if (version != expected)
            throw new WeightFormatException(null,
                $"int8 weight file format version {TensorNameText.Quote(version)}; this version of ShuffleNetGen reads version {expected} only. "
                + "Write the file again with this version (Safetensors.Write(path, calibrated, Model.Description)), or load it with the version that wrote it.");
    }

    /// <summary>
    /// Checks names, shapes and dtypes against <see cref="Layout"/> from a file's header, before any data is read.
    /// </summary>
    internal static void ValidateHeader(IReadOnlyList<(string Name, int[] Shape, TensorDType DType)> found, ModelDescription model)
    {
        var layout = LayoutForLoading(model);
        var byName = new Dictionary<string, (int[] Shape, TensorDType DType)>(found.Count, StringComparer.Ordinal);
        foreach (var (name, shape, dtype) in found) byName[name] = (shape, dtype);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (shape, dtype) in layout)
        {
            expected.Add(shape.Name);
            if (!byName.TryGetValue(shape.Name, out var got))
                throw new WeightFormatException(shape.Name,
                    $"{model.Name}: int8 weight file lacks tensor {TensorNameText.Quote(shape.Name)}; expected {dtype} {shape.ShapeText} ({Role(shape.Name)}).");
            if (!SameShape(got.Shape, shape.Dimensions))
                throw new WeightFormatException(shape.Name,
                    $"{model.Name}: int8 weight file tensor {TensorNameText.Quote(shape.Name)} has shape {NamedTensor.FormatShape(got.Shape)}; expected {dtype} {shape.ShapeText} ({Role(shape.Name)}).");
            if (got.DType != dtype)
                throw new WeightFormatException(shape.Name,
                    $"{model.Name}: int8 weight file tensor {TensorNameText.Quote(shape.Name)} is {got.DType}; expected {dtype} {shape.ShapeText} ({Role(shape.Name)}).");
        }
        foreach (var (name, shape, _) in found)
        {
            if (expected.Contains(name)) continue;
            throw new WeightFormatException(name,
                $"{model.Name}: tensor {TensorNameText.Quote(name)} {NamedTensor.FormatShape(shape)} is not part of this model's int8 weight file, which holds {layout.Count} tensors (docs/int8.md).");
        }
    }

    /// <summary>
    /// Everything <see cref="ValidateHeader"/> checks, then the values: every F32 finite, every weight scale positive,
    /// every I8 weight in -127..127 (the quantizer never writes -128). The activation scales and zero points are checked
    /// by the packer, as for a calibrated float file.
    /// </summary>
    internal static void Validate(TensorSet tensors, ModelDescription model)
    {
        CheckVersion(tensors.Metadata);
        var found = new List<(string, int[], TensorDType)>(tensors.Count);
        foreach (var t in tensors) found.Add((t.Name, t.Shape, t.DType));
        ValidateHeader(found, model);
        foreach (var t in tensors)
        {
            if (t.DType == TensorDType.I8)
            {
                int at = Array.IndexOf(t.Data, (float)sbyte.MinValue);
                if (at >= 0)
                    throw new WeightFormatException(t.Name,
                        $"{model.Name}: tensor {TensorNameText.Quote(t.Name)} holds -128 at flat index {at}; quantized weights are symmetric, -127..127.");
                continue;
            }
            WeightPacker.RequireFinite(t, model.Name);
            if (!t.Name.EndsWith(WeightScaleSuffix, StringComparison.Ordinal)) continue;
            for (int i = 0; i < t.Data.Length; i++)
            {
                if (t.Data[i] > 0) continue;
                throw new WeightFormatException(t.Name,
                    $"{model.Name}: tensor {TensorNameText.Quote(t.Name)} holds {WeightPacker.Text(t.Data[i])} at output channel {i}; a weight scale must be positive and finite.");
            }
        }
    }

    private static IReadOnlyList<(TensorShape Shape, TensorDType DType)> LayoutForLoading(ModelDescription model)
    {
        if (model.Precision != Precision.Int8)
            throw new WeightFormatException(null,
                $"{model.Name} is a float model, but the weights are an int8 weight file (metadata {TensorNameText.Quote(FormatKey)}); load them into the model's int8 twin, or load float weights.");
        return Layout(model);
    }

    private static string Role(string name) =>
        name.EndsWith(WeightScaleSuffix, StringComparison.Ordinal) ? "one weight scale per output channel"
        : name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal) ? "the calibrated activation scale"
        : name.EndsWith(Int8Calibration.InputZeroPointSuffix, StringComparison.Ordinal) ? "the calibrated activation zero point"
        : name.EndsWith(".bias", StringComparison.Ordinal) ? "the bias with batch norm folded in"
        : "the weights, batch norm folded in";

    private static bool SameShape(int[] a, int[] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
        return true;
    }
}
