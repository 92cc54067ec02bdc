using Google.Protobuf;
using ShuffleNetGen.Onnx;
using ShuffleNetGen.Onnx.Protos;

namespace ShuffleNetGen.Tests.Fixtures;

/// <summary>
/// The ONNX files <c>tools/make_onnx_fixtures.py</c> writes, copied next to the test assembly by the csproj, and the
/// round trip the importer's tests make through protobuf to change a graph before importing it.
/// </summary>
internal static class OnnxFixture
{
    public static string Path(string file) => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", file);

    /// <summary>The file as a protobuf model, for a test to change and then import with <see cref="Read"/>.</summary>
    public static ModelProto Parse(string file) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path(file)));

    /// <summary>Imports <paramref name="model"/> as the file it serializes to.</summary>
    public static TensorSet Read(ModelProto model, ModelDescription description) =>
        OnnxWeights.Read(new MemoryStream(model.ToByteArray()), description);
}
