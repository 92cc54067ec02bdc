using System;
using System.Collections.Generic;
using System.IO;
using Google.Protobuf;
using ShuffleNetGen.Onnx.Protos;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// Reads the weights of a ShuffleNet v1 or v2 from an ONNX model into the canonical tensor layout of a generated model,
/// e.g. <c>MyNet.FromTensors(OnnxWeights.Read("m.onnx", MyNet.Description))</c>.
/// </summary>
/// <remarks>
/// <para>The importer walks the graph, not tensor names, following the family the description states
/// (<see cref="ModelDescription.Version"/>). For ShuffleNet v1, from the input it matches the stem (Conv, optional
/// BatchNormalization, Relu, MaxPool when declared), then each unit (pointwise group Conv, Relu, channel shuffle as
/// Reshape/Transpose/Reshape, depthwise Conv, pointwise group Conv, and the shortcut: Add for stride 1; for stride 2 a
/// 3x3 stride-2 AveragePool, either after a Pad (what torch.onnx.export writes) or with pads 1 and
/// count_include_pad = 1, joined by Concat), the global pool (GlobalAveragePool, ReduceMean over H and W, or an
/// AveragePool over the whole map), Flatten/Reshape/Squeeze, and the classifier (Gemm, or MatMul with an optional
/// Add). Identity and inference Dropout nodes are seen through. Weights may be initializers or Constant nodes, as
/// raw_data or typed fields.</para>
/// <para>For ShuffleNet v2 (what torch.onnx.export writes for torchvision's <c>ShuffleNetV2</c>, returned in
/// torchvision's state_dict names): the stem and max pool; per stride-2 unit two branches reading the whole input
/// (depthwise Conv, 1x1 Conv, Relu; 1x1 Conv, Relu, depthwise Conv, 1x1 Conv, Relu); per stride-1 unit the split of the
/// channels (a Split, or two Slices whose bounds torch computes through Shape/Gather/Add/Div/Mul), branch2 on the half
/// the description names (torchvision's second), and the Concat with the untouched half (or branch1) first; after
/// every unit the channel shuffle of 2 groups (Reshape to [N, 2, C/2, H, W], Transpose perm [0, 2, 1, 3, 4], Reshape
/// back, with targets constant or computed through Shape/Gather/Unsqueeze/Concat for a dynamic batch, which must then
/// hold for every batch size); then conv5 (1x1 Conv, Relu) and the same head as v1.</para>
/// <para>The code: this class reads the file and picks the family's structure matcher by
/// <see cref="ModelDescription.Version"/> (<see cref="V1Structure"/>, <see cref="V2Structure"/>); <see cref="OnnxReader"/> is what the matchers
/// share (the checks before the walk, the image input, Conv with its batch norm, pools, reshape targets, the head, the
/// int8 ranges and the end of the walk).</para>
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
            return model.Version switch
            {
                1 => new V1Structure(proto, model).Run(),
                2 => new V2Structure(proto, model).Run(),
                _ => throw new OnnxFormatException(null, $"the model {model.Name} is ShuffleNet version {model.Version}; ShuffleNetGen imports ONNX files of ShuffleNet v1 and v2."),
            };
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
}
