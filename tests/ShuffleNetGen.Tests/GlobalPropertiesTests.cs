using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// A consumer's global build properties reach every project it references. The ONNX importer once took the network's
/// structure from a source file linked out of the generator and picked its namespace with its own DefineConstants, so
/// <c>-p:DefineConstants=ONNX</c> on a consumer's command line replaced that symbol and broke the build (CS0246 for
/// UnitShape). It now reads the structure from the model's Description; this builds it under such a property.
/// </summary>
[Trait("Category", "Slow")] // one restore and build of the importer and the runtime, in an artifacts folder of its own
public class GlobalPropertiesTests
{
    [Fact]
    public void TheOnnxImporterBuildsUnderAConsumersDefineConstants()
    {
        string artifacts = Path.Combine(Path.GetTempPath(), "sng-defineconstants-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            // Its own artifacts folder: the repository's outputs, which this test process has loaded, stay as they are.
            ConsumerProgram.Run(Repository.Root, "dotnet", "build", Repository.File("runtime/ShuffleNetGen.Onnx/ShuffleNetGen.Onnx.csproj"),
                "-c", "Release", "-p:DefineConstants=ONNX", "--artifacts-path", artifacts);
        }
        finally
        {
            try { Directory.Delete(artifacts, recursive: true); } catch (IOException) { }
        }
    }
}
