using System;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// An ONNX file that cannot be imported into the declared model: not a valid ONNX model, an unsupported opset or
/// operator, or a graph whose structure, attributes or weight shapes differ from the declaration. The message names
/// the ONNX node (when there is one) and says what the declaration expects and what the graph has.
/// </summary>
public sealed class OnnxFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public OnnxFormatException(string? nodeName, string message) : base(message) => NodeName = nodeName;

    /// <summary>Creates the exception with the error that caused it (e.g. a protobuf decoding error).</summary>
    public OnnxFormatException(string? nodeName, string message, Exception innerException) : base(message, innerException) => NodeName = nodeName;

    /// <summary>The ONNX node (or graph value) the problem was found at, when one can be named.</summary>
    public string? NodeName { get; }
}
