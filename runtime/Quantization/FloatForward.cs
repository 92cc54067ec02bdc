using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.InteropServices;
using ShuffleNetGen.Weights;

namespace ShuffleNetGen.Quantization;

/// <summary>Receives the input of a 1x1 convolution during <see cref="FloatForward"/>: C×H×W floats, row-major.</summary>
internal delegate void ActivationObserver(string convolution, ReadOnlySpan<float> values);

/// <summary>
/// A plain float32 forward pass over canonical weights, for calibration: it must see the activations the generated
/// float model computes, and it must run on a <see cref="ModelDescription"/> alone, without the generated class (the
/// int8 model being calibrated does not exist yet). It walks <see cref="ModelDescription.Layers"/>, the ops the
/// family's lowering produced, so it knows no family: each layer kind is computed here once, on NCHW arrays, one per
/// tensor, reading and writing planes where the layer's plane maps say. Batch norm is folded in double exactly as the
/// weight packer folds it, so the weights it multiplies by are the generated model's. An int8 description's quantize
/// layers are seen through: a 1x1 convolution reads the float tensor its quantize layer read.
/// </summary>
internal static class FloatForward
{
    /// <summary>Folds and checks the weights once, for running many images.</summary>
    /// <exception cref="ArgumentException">The description lists no layers, or layers this pass cannot follow.</exception>
    /// <exception cref="WeightFormatException">A tensor is missing or has the wrong shape, or a variance is negative.</exception>
    public static Network Prepare(ModelDescription model, TensorSet weights) => new(model, weights);

    /// <summary>One image through <see cref="Prepare"/>'s network.</summary>
    public static float[] Run(ModelDescription model, TensorSet weights, ReadOnlySpan<float> image, ActivationObserver? observer = null) =>
        Prepare(model, weights).Run(image, observer);

    /// <summary>The 1x1 convolutions in forward order, as the description's layers list them.</summary>
    public static string[] PointwiseConvolutions(ModelDescription model)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        var names = new List<string>();
        foreach (var layer in model.Layers)
            if (layer.Kind == LayerKind.Pointwise) names.Add(layer.Name);
        return names.ToArray();
    }

    /// <summary>A convolution with batch norm folded in: weights [out, in per group (× 9 taps)], one bias per output channel.</summary>
    private sealed class Folded
    {
        public Folded(float[] weights, float[] bias)
        {
            Weights = weights;
            Bias = bias;
        }

        public float[] Weights { get; }
        public float[] Bias { get; }
    }

    /// <summary>A tensor's shape, as the layers that write it imply.</summary>
    private readonly record struct Shape(int Channels, int Height, int Width)
    {
        public int Plane => Height * Width;
    }

    /// <summary>A layer with what it reads resolved (through quantize layers) and its weights folded.</summary>
    private sealed class Step
    {
        public LayerDescription Layer = null!;
        public string Source = "";
        public int[] SourcePlanes = Array.Empty<int>();
        public int[] OutputPlanes = Array.Empty<int>();
        public Shape In;

        /// <summary>The output tensor's shape, with every layer that writes it known (a stride-2 unit's concat has two).</summary>
        public Shape Out;

        /// <summary>A 1x1 convolution's plane starts in its source and output arrays, computed once for every image.</summary>
        public int[]? SourceOffsets, OutputOffsets;
        public Folded? Conv;
        public float[]? LinearWeights;
        public float[]? LinearBias;
    }

    internal sealed class Network
    {
        private readonly ModelDescription _model;
        private readonly List<Step> _steps = new();
        private readonly Dictionary<string, Shape> _shapes = new(StringComparer.Ordinal);

        public Network(ModelDescription model, TensorSet weights)
        {
            if (model is null) throw new ArgumentNullException(nameof(model));
            if (weights is null) throw new ArgumentNullException(nameof(weights));
            // An int8 file has no batch norm and stores its 1x1 weights as I8: read as float weights it would fail on
            // a "missing" tensor that names the symptom, not the cause.
            if (Int8WeightFile.IsInFormat(weights))
                throw new ArgumentException(
                    $"These weights are an int8 weight file ({Int8WeightFile.FormatKey} = {Int8WeightFile.FormatName}): batch norm is folded and the 1x1 weights are I8, so they cannot be run or calibrated in float. Use the float (or F32 calibrated) weights the int8 file was written from.",
                    nameof(weights));
            _model = model;
            Require(model.InputChannels >= 1 && model.InputHeight >= 1 && model.InputWidth >= 1, $"an input of {model.InputChannels}x{model.InputHeight}x{model.InputWidth}");
            Require(model.Layers is { Count: > 0 }, "it lists no layers (a generated model's Description does)");
            Require(model.Classes >= 1, $"{model.Classes} classes");
            _shapes["input"] = new Shape(model.InputChannels, model.InputHeight, model.InputWidth);

            // A quantized tensor stands for the float planes its quantize layer read.
            var quantized = new Dictionary<string, (string Source, int[] Planes)>(StringComparer.Ordinal);
            foreach (var layer in model.Layers)
            {
                Require(layer is not null, "a null layer");
                string at = $"layer {Quote(layer!.Name)} ({layer.Kind})";
                if (layer.Kind is LayerKind.Quantize or LayerKind.FeatureQuantize)
                {
                    Require(_shapes.ContainsKey(layer.Input), $"{at} reads {Quote(layer.Input)} before any layer writes it");
                    quantized[layer.Output] = (layer.Input, Planes(layer.InputPlanes, _shapes[layer.Input].Channels));
                    continue;
                }
                var step = new Step { Layer = layer };
                if (quantized.TryGetValue(layer.Input, out var q))
                {
                    step.Source = q.Source;
                    step.SourcePlanes = q.Planes;
                }
                else
                {
                    Require(_shapes.ContainsKey(layer.Input), $"{at} reads {Quote(layer.Input)} before any layer writes it");
                    step.Source = layer.Input;
                    step.SourcePlanes = Planes(layer.InputPlanes, _shapes[layer.Input].Channels);
                }
                var input = _shapes[step.Source];
                step.In = new Shape(step.SourcePlanes.Length, input.Height, input.Width);
                foreach (int plane in step.SourcePlanes) Require(plane >= 0 && plane < input.Channels, $"{at} reads plane {plane} of a {input.Channels}-channel tensor");
                Require(layer.Channels >= 1, $"{at} computes {layer.Channels} channels");
                step.OutputPlanes = new int[layer.Channels];
                for (int c = 0; c < layer.Channels; c++) step.OutputPlanes[c] = layer.OutputPlane(c);
                int stride = layer.Stride;
                int oh = input.Height, ow = input.Width;
                switch (layer.Kind)
                {
                    case LayerKind.Convolution3x3:
                    case LayerKind.Depthwise3x3:
                    case LayerKind.MaxPool3x3:
                    case LayerKind.AveragePool3x3:
                        Require(stride is 1 or 2, $"{at} has stride {stride}");
                        oh = OutSize(input.Height, stride);
                        ow = OutSize(input.Width, stride);
                        if (layer.Kind == LayerKind.Convolution3x3)
                            step.Conv = Fold(weights, layer.Name, layer.BatchNorm, new[] { layer.Channels, step.In.Channels, 3, 3 });
                        else if (layer.Kind == LayerKind.Depthwise3x3)
                            step.Conv = Fold(weights, layer.Name, layer.BatchNorm, new[] { layer.Channels, 1, 3, 3 });
                        if (layer.Kind != LayerKind.Convolution3x3) Require(layer.Channels == step.In.Channels, $"{at} maps {step.In.Channels} planes to {layer.Channels}");
                        break;
                    case LayerKind.Pointwise:
                        Require(layer.Groups >= 1 && step.In.Channels % layer.Groups == 0 && layer.Channels % layer.Groups == 0,
                            $"{at}: {step.In.Channels} to {layer.Channels} channels in {layer.Groups} groups");
                        step.Conv = Fold(weights, layer.Name, layer.BatchNorm, new[] { layer.Channels, step.In.Channels / layer.Groups, 1, 1 });
                        break;
                    case LayerKind.GlobalAveragePool:
                        Require(layer.Channels == step.In.Channels, $"{at} maps {step.In.Channels} planes to {layer.Channels}");
                        oh = ow = 1;
                        break;
                    case LayerKind.Linear:
                        Require(input.Height == 1 && input.Width == 1, $"{at} reads a {input.Height}x{input.Width} map");
                        step.LinearWeights = Tensor(weights, layer.Name + ".weight", new[] { layer.Channels, step.In.Channels });
                        step.LinearBias = Tensor(weights, layer.Name + ".bias", new[] { layer.Channels });
                        break;
                    default:
                        Require(false, $"{at} is of a kind this forward pass does not know");
                        break;
                }
                if (layer.Residual is not null)
                {
                    Require(_shapes.TryGetValue(layer.Residual, out var residual) && residual.Height == oh && residual.Width == ow && residual.Channels >= layer.Channels,
                        $"{at} adds {Quote(layer.Residual)}, which does not match its output");
                }
                int channels = 0;
                foreach (int plane in step.OutputPlanes)
                {
                    Require(plane >= 0, $"{at} writes plane {plane}");
                    channels = Math.Max(channels, plane + 1);
                }
                if (_shapes.TryGetValue(layer.Output, out var written))
                {
                    // A tensor written in slices (a stride-2 unit's concat): every writer must agree on the plane size.
                    Require(written.Height == oh && written.Width == ow, $"{at} writes {Quote(layer.Output)} as {oh}x{ow}, another layer as {written.Height}x{written.Width}");
                    channels = Math.Max(channels, written.Channels);
                }
                _shapes[layer.Output] = new Shape(channels, oh, ow);
                _steps.Add(step);
            }
            foreach (var step in _steps)
            {
                step.Out = _shapes[step.Layer.Output];
                if (step.Layer.Kind != LayerKind.Pointwise) continue;
                step.SourceOffsets = Offsets(step.SourcePlanes, step.In.Plane);
                step.OutputOffsets = Offsets(step.OutputPlanes, step.Out.Plane);
            }
            Require(_steps.Count > 0 && _steps[^1].Layer.Output == "logits" && _steps[^1].Layer.Channels == model.Classes,
                $"the last layer does not write the {model.Classes} logits");
        }

        public int InputLength => _model.InputChannels * _model.InputHeight * _model.InputWidth;

        /// <summary>Logits for one C×H×W image; <paramref name="observer"/> sees every 1x1 convolution's input.</summary>
        public float[] Run(ReadOnlySpan<float> image, ActivationObserver? observer)
        {
            if (image.Length != InputLength)
                throw new ArgumentException($"The image has {image.Length} values; {_model.Name} expects {_model.InputChannels}x{_model.InputHeight}x{_model.InputWidth} = {InputLength}.", nameof(image));
            var tensors = new Dictionary<string, float[]>(StringComparer.Ordinal) { ["input"] = image.ToArray() };
            foreach (var step in _steps)
            {
                var layer = step.Layer;
                var x = tensors[step.Source];
                if (!tensors.TryGetValue(layer.Output, out var y))
                    tensors[layer.Output] = y = new float[step.Out.Channels * step.Out.Plane];
                int inPlane = step.In.Plane, outPlane = step.Out.Plane;
                switch (layer.Kind)
                {
                    case LayerKind.Convolution3x3:
                        Stem(x, step.SourcePlanes, step.In.Height, step.In.Width, step.Conv!, layer.Stride, y, step.OutputPlanes, step.Out.Height, step.Out.Width);
                        break;
                    case LayerKind.Depthwise3x3:
                        Depthwise3x3(x, step.SourcePlanes, step.In.Height, step.In.Width, step.Conv!, layer.Stride, y, step.OutputPlanes, step.Out.Height, step.Out.Width);
                        break;
                    case LayerKind.MaxPool3x3:
                    case LayerKind.AveragePool3x3:
                        for (int c = 0; c < layer.Channels; c++)
                            Pool3x3(x, step.SourcePlanes[c] * inPlane, step.In.Height, step.In.Width, layer.Stride, y, step.OutputPlanes[c] * outPlane,
                                step.Out.Height, step.Out.Width, layer.Kind == LayerKind.MaxPool3x3);
                        break;
                    case LayerKind.Pointwise:
                        if (observer is not null) observer(layer.Name, Gather(x, step.SourcePlanes, inPlane));
                        Pointwise(x, step.SourceOffsets!, outPlane, step.Conv!, layer.Channels, layer.Groups, y, step.OutputOffsets!);
                        break;
                    case LayerKind.GlobalAveragePool:
                        for (int c = 0; c < layer.Channels; c++)
                        {
                            double sum = 0;
                            int at = step.SourcePlanes[c] * inPlane;
                            for (int i = 0; i < inPlane; i++) sum += x[at + i];
                            y[step.OutputPlanes[c]] = (float)(sum / inPlane);
                        }
                        break;
                    case LayerKind.Linear:
                        for (int k = 0; k < layer.Channels; k++)
                        {
                            double sum = step.LinearBias![k];
                            for (int c = 0; c < step.In.Channels; c++) sum += (double)step.LinearWeights![k * step.In.Channels + c] * x[step.SourcePlanes[c]];
                            y[step.OutputPlanes[k]] = (float)sum;
                        }
                        break;
                }
                if (layer.Residual is not null)
                {
                    var residual = tensors[layer.Residual];
                    for (int c = 0; c < layer.Channels; c++)
                    {
                        var dst = y.AsSpan(step.OutputPlanes[c] * outPlane, outPlane);
                        var add = residual.AsSpan(c * outPlane, outPlane);
                        for (int i = 0; i < dst.Length; i++) dst[i] += add[i];
                    }
                }
                if (layer.Relu)
                {
                    foreach (int plane in step.OutputPlanes) Relu(y.AsSpan(plane * outPlane, outPlane));
                }
            }
            return tensors["logits"];
        }
    }

    private static int[] Planes(ChannelPlanes? planes, int channels)
    {
        var result = new int[planes?.Count ?? channels];
        for (int i = 0; i < result.Length; i++) result[i] = planes is null ? i : planes[i];
        return result;
    }

    private static int[] Offsets(int[] planes, int plane)
    {
        var offsets = new int[planes.Length];
        for (int i = 0; i < offsets.Length; i++) offsets[i] = planes[i] * plane;
        return offsets;
    }

    /// <summary>The planes a 1x1 convolution reads, for the observer: the tensor itself when they are all of it, in order.</summary>
    private static float[] Gather(float[] x, int[] planes, int plane)
    {
        bool whole = planes.Length * plane == x.Length;
        for (int i = 0; whole && i < planes.Length; i++) whole = planes[i] == i;
        if (whole) return x;
        var gathered = new float[planes.Length * plane];
        for (int i = 0; i < planes.Length; i++) Array.Copy(x, planes[i] * plane, gathered, i * plane, plane);
        return gathered;
    }

    private static string Quote(string name) => TensorNameText.Quote(name);

    private static void Require(bool condition, string what)
    {
        if (!condition) throw new ArgumentException($"The model description is not a network this forward pass can run: {what}.");
    }

    private static float[] Tensor(TensorSet weights, string name, int[] shape)
    {
        var t = weights[name];
        bool same = t.Shape.Length == shape.Length;
        for (int i = 0; same && i < shape.Length; i++) same = t.Shape[i] == shape[i];
        if (!same)
            throw new WeightFormatException(name, $"Tensor {TensorNameText.Quote(name)} has shape {t.ShapeText}; the model expects [{string.Join(", ", shape)}].");
        return t.Data;
    }

    // The weight packer's folding, so the float weights equal the generated model's and the two forward passes differ
    // only in summation order. The shapes are checked here first, against the architecture, for messages that name them.
    private static Folded Fold(TensorSet weights, string conv, string? batchNorm, int[] shape)
    {
        Require(batchNorm is not null, $"convolution {Quote(conv)} has no batch norm (every convolution of the families has one)");
        int outChannels = shape[0];
        var w = Tensor(weights, conv + ".weight", shape);
        foreach (var field in new[] { ".weight", ".bias", ".running_mean", ".running_var" })
            Tensor(weights, batchNorm + field, new[] { outChannels });
        var (scale, shift) = WeightPacker.FoldBatchNorm(weights, batchNorm!, outChannels);
        int perOutput = w.Length / outChannels;
        var folded = new float[w.Length];
        var bias = new float[outChannels];
        for (int o = 0; o < outChannels; o++)
        {
            bias[o] = (float)shift[o];
            for (int i = 0; i < perOutput; i++) folded[o * perOutput + i] = (float)(w[o * perOutput + i] * scale[o]);
        }
        return new Folded(folded, bias);
    }

    /// <summary>A 3x3, padding-1 window's output size (also what the ONNX importer checks a graph's sizes with).</summary>
    internal static int OutSize(int size, int stride) => (size - 1) / stride + 1;

    /// <summary>
    /// The output positions whose 3x3 window (padding 1) puts tap <paramref name="k"/> inside the input:
    /// <c>0 ≤ o·stride − 1 + k &lt; size</c>. Hoisting the bounds out of the inner loop is what keeps it a plain loop.
    /// </summary>
    private static (int First, int End) TapRange(int k, int stride, int size, int outSize)
    {
        int first = k == 0 ? 1 : 0;
        // Division truncates toward zero, so a negative numerator (a 1-wide map, k = 2) must not reach it.
        int end = size - k < 0 ? 0 : Math.Min(outSize, (size - k) / stride + 1);
        return (first, end);
    }

    /// <summary>
    /// The stem's full 3x3 convolution, padding 1, as a 1x1 convolution over the image's unfolded windows (im2col):
    /// row <c>c·9 + ky·3 + kx</c> of the unfolded matrix holds tap (ky, kx) of plane c for every output pixel, which is
    /// the order of the weights' [out, in, 3, 3] layout. The strided, bounds-checked gather is paid once per tap instead
    /// of once per tap and output channel, and the multiply-adds run in <see cref="Pointwise"/>'s vector loop.
    /// </summary>
    private static void Stem(float[] x, int[] inputPlanes, int h, int w, Folded conv, int stride, float[] y, int[] outputPlanes, int oh, int ow)
    {
        int inChannels = inputPlanes.Length;
        int inPlane = h * w, outPlane = oh * ow;
        var columns = new float[inChannels * 9 * outPlane]; // padding taps stay 0
        for (int c = 0; c < inChannels; c++)
        {
            var src = x.AsSpan(inputPlanes[c] * inPlane, inPlane);
            for (int ky = 0; ky < 3; ky++)
            {
                var (firstRow, endRow) = TapRange(ky, stride, h, oh);
                for (int kx = 0; kx < 3; kx++)
                {
                    var (firstColumn, endColumn) = TapRange(kx, stride, w, ow);
                    var dst = columns.AsSpan((c * 9 + ky * 3 + kx) * outPlane, outPlane);
                    for (int oy = firstRow; oy < endRow; oy++)
                    {
                        var row = src.Slice((oy * stride - 1 + ky) * w, w);
                        var outRow = dst.Slice(oy * ow, ow);
                        for (int ox = firstColumn; ox < endColumn; ox++) outRow[ox] = row[ox * stride - 1 + kx];
                    }
                }
            }
        }
        var rows = new int[inChannels * 9];
        for (int i = 0; i < rows.Length; i++) rows[i] = i * outPlane;
        Pointwise(columns, rows, outPlane, conv, outputPlanes.Length, 1, y, Offsets(outputPlanes, outPlane));
    }

    /// <summary>
    /// Depthwise 3x3 convolution, padding 1, plus the folded bias; weights [C, 1, 3, 3]. Channel c reads plane
    /// <c>inputPlanes[c]</c>: a channel shuffle before it (folded into the previous layer's stores) moves no data here.
    /// </summary>
    private static void Depthwise3x3(float[] x, int[] inputPlanes, int h, int w, Folded conv, int stride, float[] y, int[] outputPlanes, int oh, int ow)
    {
        int inPlane = h * w, outPlane = oh * ow;
        for (int c = 0; c < outputPlanes.Length; c++)
        {
            var dst = y.AsSpan(outputPlanes[c] * outPlane, outPlane);
            dst.Fill(conv.Bias[c]);
            var src = x.AsSpan(inputPlanes[c] * inPlane, inPlane);
            for (int ky = 0; ky < 3; ky++)
            {
                var (firstRow, endRow) = TapRange(ky, stride, h, oh);
                for (int kx = 0; kx < 3; kx++)
                {
                    float tap = conv.Weights[c * 9 + ky * 3 + kx];
                    var (firstColumn, endColumn) = TapRange(kx, stride, w, ow);
                    int count = endColumn - firstColumn;
                    if (count <= 0) continue;
                    for (int oy = firstRow; oy < endRow; oy++)
                    {
                        var row = src.Slice((oy * stride - 1 + ky) * w, w);
                        var outRow = dst.Slice(oy * ow + firstColumn, count);
                        if (stride == 1)
                        {
                            // Contiguous on both sides: the tap's contribution to a row is one vector multiply-add.
                            MultiplyAdd(outRow, row.Slice(firstColumn - 1 + kx, count), tap);
                        }
                        else
                        {
                            for (int i = 0; i < count; i++) outRow[i] += tap * row[(firstColumn + i) * stride - 1 + kx];
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// A 1x1 group convolution plus the folded bias: input channel i starts at <c>x[inputs[i]]</c>, output channel o is
    /// stored from <c>y[outputs[o]]</c>.
    /// Four output channels at a time, accumulated in registers over a vector of pixels: each input vector loaded feeds
    /// four multiply-adds and no partial sum goes through memory, which is what makes the 1x1 convolutions (nearly all
    /// of the network's work) fast enough to calibrate on a 224x224 model.
    /// </summary>
    private static void Pointwise(float[] x, int[] inputs, int plane, Folded conv, int outChannels, int groups, float[] y, int[] outputs)
    {
        int inPerGroup = conv.Weights.Length / outChannels;
        int outPerGroup = outChannels / groups;
        for (int group = 0; group < groups; group++)
        {
            int end = (group + 1) * outPerGroup;
            int firstInput = group * inPerGroup;
            int o = group * outPerGroup;
            for (; o + 4 <= end; o += 4) PointwiseRows4(x, inputs, plane, conv, inPerGroup, firstInput, o, y, outputs);
            for (; o < end; o++) PointwiseRow(x, inputs, plane, conv, inPerGroup, firstInput, o, y, outputs);
        }
    }

    private static void PointwiseRows4(float[] x, int[] inputs, int plane, Folded conv, int inPerGroup, int firstInput, int o, float[] y, int[] outputs)
    {
        var w = conv.Weights;
        int w0 = o * inPerGroup, w1 = w0 + inPerGroup, w2 = w1 + inPerGroup, w3 = w2 + inPerGroup;
        int y0 = outputs[o], y1 = outputs[o + 1], y2 = outputs[o + 2], y3 = outputs[o + 3];
        int p = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int lanes = Vector<float>.Count;
            var b0 = new Vector<float>(conv.Bias[o]);
            var b1 = new Vector<float>(conv.Bias[o + 1]);
            var b2 = new Vector<float>(conv.Bias[o + 2]);
            var b3 = new Vector<float>(conv.Bias[o + 3]);
            for (; p + lanes <= plane; p += lanes)
            {
                Vector<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                for (int i = 0; i < inPerGroup; i++)
                {
                    var v = new Vector<float>(x, inputs[firstInput + i] + p);
                    a0 += v * new Vector<float>(w[w0 + i]);
                    a1 += v * new Vector<float>(w[w1 + i]);
                    a2 += v * new Vector<float>(w[w2 + i]);
                    a3 += v * new Vector<float>(w[w3 + i]);
                }
                a0.CopyTo(y, y0 + p);
                a1.CopyTo(y, y1 + p);
                a2.CopyTo(y, y2 + p);
                a3.CopyTo(y, y3 + p);
            }
        }
        for (; p < plane; p++)
        {
            float a0 = conv.Bias[o], a1 = conv.Bias[o + 1], a2 = conv.Bias[o + 2], a3 = conv.Bias[o + 3];
            for (int i = 0; i < inPerGroup; i++)
            {
                float v = x[inputs[firstInput + i] + p];
                a0 += v * w[w0 + i];
                a1 += v * w[w1 + i];
                a2 += v * w[w2 + i];
                a3 += v * w[w3 + i];
            }
            y[y0 + p] = a0;
            y[y1 + p] = a1;
            y[y2 + p] = a2;
            y[y3 + p] = a3;
        }
    }

    /// <summary>One output channel: the remainder of a group whose width is not a multiple of four.</summary>
    private static void PointwiseRow(float[] x, int[] inputs, int plane, Folded conv, int inPerGroup, int firstInput, int o, float[] y, int[] outputs)
    {
        var dst = y.AsSpan(outputs[o], plane);
        dst.Fill(conv.Bias[o]);
        for (int i = 0; i < inPerGroup; i++)
            MultiplyAdd(dst, x.AsSpan(inputs[firstInput + i], plane), conv.Weights[o * inPerGroup + i]);
    }

    private static void MultiplyAdd(Span<float> dst, ReadOnlySpan<float> src, float weight)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var d = MemoryMarshal.Cast<float, Vector<float>>(dst);
            var s = MemoryMarshal.Cast<float, Vector<float>>(src);
            var w = new Vector<float>(weight);
            for (int k = 0; k < d.Length; k++) d[k] += s[k] * w;
            i = d.Length * Vector<float>.Count;
        }
        for (; i < dst.Length; i++) dst[i] += src[i] * weight;
    }

    private static void Relu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
            if (x[i] < 0) x[i] = 0; // NaN passes through, so a bad weight shows up as NaN instead of as a plausible range
    }

    /// <summary>
    /// A 3x3 pool, padding 1, of the plane at <paramref name="at"/> into the plane at <paramref name="to"/>. Max: padded
    /// cells never win. Average: padded zeros count (count_include_pad), so border windows are divided by 9 too, as in
    /// PyTorch's default.
    /// </summary>
    private static void Pool3x3(float[] x, int at, int h, int w, int stride, float[] y, int to, int oh, int ow, bool max)
    {
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
            {
                float best = float.NegativeInfinity, sum = 0;
                for (int iy = Math.Max(0, oy * stride - 1); iy <= Math.Min(h - 1, oy * stride + 1); iy++)
                    for (int ix = Math.Max(0, ox * stride - 1); ix <= Math.Min(w - 1, ox * stride + 1); ix++)
                    {
                        float v = x[at + iy * w + ix];
                        best = Math.Max(best, v);
                        sum += v;
                    }
                y[to + oy * ow + ox] = max ? best : sum / 9f;
            }
    }
}
