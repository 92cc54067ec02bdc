using System.Globalization;
using System.Text.RegularExpressions;
using ShuffleNetGen.Tests.Fixtures;
using Xunit;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// <c>tests/PackageConsumer/Program.cs</c>, the program the consumer tests build outside the repository (from the
/// packed package in <see cref="PackageTests"/>, from project references in <see cref="ProjectReferenceRouteTests"/>):
/// how to run the SDK and the program there, and what its output must hold.
/// </summary>
internal static class ConsumerProgram
{
    public static string SourcePath => Repository.File("tests/PackageConsumer/Program.cs");

    private const string V2FixtureName = "gray_2stages_40x36";

    /// <summary>
    /// What the program takes: an ONNX export of the G8Gray48x40 fixture and the fixture's input, then the same for
    /// the v2 fixture V2FixtureName (torchvision's ShuffleNetV2).
    /// </summary>
    public static string[] Arguments =>
        new[]
        {
            OnnxFixture.Path("g8_gray_48x40.onnx"), Path.Combine(PyTorchFixture.FixtureDirectory, "g8_gray_48x40.io.safetensors"),
            V2Fixture.PathOf(V2FixtureName + ".onnx"), V2Fixture.PathOf(V2FixtureName + ".io.safetensors"),
        };

    /// <summary>
    /// The consumer must see neither the repository's build files nor the test host's MSBuild state: the environment of
    /// every SDK the tests start as a child (BrowserSampleTests' publish too).
    /// </summary>
    public static IReadOnlyDictionary<string, string?> SdkEnvironment { get; } = new Dictionary<string, string?>
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["MSBuildExtensionsPath"] = null,
        ["MSBUILD_EXE_PATH"] = null,
        ["MSBuildSDKsPath"] = null,
    };

    /// <summary>Runs <paramref name="fileName"/> in <paramref name="directory"/>; fails with its output unless it exits with 0.</summary>
    public static string Run(string directory, string fileName, params string[] arguments)
    {
        var (exitCode, stdout, stderr) = ProcessRunner.Run(fileName, arguments, directory, SdkEnvironment);
        Assert.True(exitCode == 0, $"{fileName} {string.Join(' ', arguments)} failed ({exitCode}):\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary>Runs the built program (<paramref name="fileName"/> and any arguments before the program's own, e.g. dotnet and the dll).</summary>
    public static string RunProgram(string directory, string fileName, params string[] leading) =>
        Run(directory, fileName, leading.Concat(Arguments).ToArray());

    /// <summary>The logits the program printed on its line starting with <paramref name="label"/>.</summary>
    public static float[] Logits(string output, string label)
    {
        var match = Regex.Match(output, Regex.Escape(label) + @"(?: \S+=\S+)*? logits=(\S+)");
        Assert.True(match.Success, $"no \"{label}\" line in the consumer's output:\n{output}");
        return match.Groups[1].Value.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    }

    public static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = expected.Zip(actual, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        Assert.True(worst <= ReferenceMatrixTests.Tolerance, $"{what}: max error {worst:E3} relative to the largest logit {scale:G4}");
    }

    private static readonly Lazy<PyTorchFixture> s_onnxFixture = new(() => PyTorchFixture.Load("g8_gray_48x40"));

    private static readonly Lazy<V2Fixture> s_v2Fixture = new(() => V2Fixture.Load(V2FixtureName));

    /// <summary>
    /// The attribute models the program loads through <c>FromOnnx</c> give PyTorch's logits: the v1 model the
    /// fixture's, the v2 model torchvision's.
    /// </summary>
    public static void AssertOnnxModelsMatchPyTorch(string output)
    {
        AssertClose(s_onnxFixture.Value.Logits, Logits(output, "onnx G8Gray48x40"), "G8Gray48x40 from ONNX against PyTorch");
        AssertClose(s_v2Fixture.Value.Logits, Logits(output, "onnx V2Gray2Stages40x36"), "V2Gray2Stages40x36 from ONNX against torchvision");
        // A 2-thread team in the consumer's build (JIT or NativeAOT) gives the one-thread logits bit for bit.
        Assert.Contains("team threads=2 identical=yes", output);
    }
}
