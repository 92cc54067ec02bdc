using System.Globalization;
using System.Text.RegularExpressions;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The README's route (b): a project beside a checkout of this repository, wired with exactly the README's project
/// references and <c>AdditionalFiles</c> block (so none of the package's build files), in a folder outside the
/// repository. <see cref="PackageTests"/> covers route (a).
/// </summary>
[Trait("Category", "Slow")] // one SDK restore and build of a consumer
public class ProjectReferenceRouteTests
{
    [Fact]
    public void ConsumerOfTheRepositoryProjectsBuildsAndRuns()
    {
        string readme = File.ReadAllText(Repository.File("README.md"));
        int start = readme.IndexOf("**(b) Project references.**", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no route (b) (\"**(b) Project references.**\")");
        var blocks = DocSnippetTests.FencedBlocks(readme[start..].Split('\n'), "README.md");
        // "With this repository checked out next to your project": the block's ../ShuffleNetGen is this checkout.
        const string Checkout = "../ShuffleNetGen/";
        string block = blocks.First(b => b.Language == "xml").Code;
        Assert.Contains(Checkout, block);
        string itemGroup = block.Replace(Checkout, Repository.Root + "/");
        string json = DocSnippetTests.FencedBlocks(readme.Split('\n'), "README.md")
            .Single(b => b.Language == "json" && b.Code.Contains("\"$schema\"", StringComparison.Ordinal)).Code;

        string work = Path.Combine(Path.GetTempPath(), "sng-route-b-" + Guid.NewGuid().ToString("N")[..12]);
        string app = Path.Combine(work, "App");
        Directory.CreateDirectory(Path.Combine(app, "Models"));
        try
        {
            // Warnings as errors in the project, not on the command line: a global property would reach the
            // referenced projects and rebuild the repository's own outputs, which this test process has loaded.
            File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <InvariantGlobalization>true</InvariantGlobalization>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                {itemGroup}</Project>
                """);
            File.WriteAllText(Path.Combine(app, "Models", "TinyNet.shufflenet.json"), json);
            File.Copy(Repository.File("tests/PackageConsumer/Program.cs"), Path.Combine(app, "Program.cs"));

            Run(app, "dotnet", "build", "-c", "Release");
            string output = Run(app, "dotnet", Path.Combine(app, "bin", "Release", "net10.0", "App.dll"),
                OnnxFixture.Path("g8_gray_48x40.onnx"), Path.Combine(PyTorchFixture.FixtureDirectory, "g8_gray_48x40.io.safetensors"));

            // The JSON model reached the generator through the README's AdditionalFiles line, and the attribute
            // model loaded through FromOnnx (ShuffleNetGen.Onnx referenced) matches PyTorch.
            Assert.Matches(@"json TinyNet macs=\d+ logits=", output);
            var onnx = Regex.Match(output, "onnx G8Gray48x40 logits=(.*)");
            Assert.True(onnx.Success, output);
            var logits = onnx.Groups[1].Value.Trim().Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var expected = PyTorchFixture.Load("g8_gray_48x40").Logits;
            Assert.Equal(expected.Length, logits.Length);
            double scale = expected.Max(v => Math.Abs((double)v));
            double worst = logits.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max() / scale;
            Assert.True(worst <= ReferenceMatrixTests.Tolerance, $"max error {worst:E3} relative to {scale:G4}\n{output}");
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static string Run(string directory, string fileName, params string[] arguments)
    {
        var (exitCode, stdout, stderr) = ProcessRunner.Run(fileName, arguments, directory, new Dictionary<string, string?>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            // The consumer must not inherit the test host's MSBuild state.
            ["MSBuildExtensionsPath"] = null,
            ["MSBUILD_EXE_PATH"] = null,
            ["MSBuildSDKsPath"] = null,
        });
        Assert.True(exitCode == 0, $"{fileName} {string.Join(' ', arguments)} failed ({exitCode}):\n{stdout}\n{stderr}");
        return stdout;
    }
}
