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
            File.Copy(ConsumerProgram.SourcePath, Path.Combine(app, "Program.cs"));

            ConsumerProgram.Run(app, "dotnet", "build", "-c", "Release");
            string output = ConsumerProgram.RunProgram(app, "dotnet", Path.Combine(app, "bin", "Release", "net10.0", "App.dll"));

            // The JSON model reached the generator through the README's AdditionalFiles line, and the attribute
            // model loaded through FromOnnx (ShuffleNetGen.Onnx referenced) matches PyTorch.
            Assert.Matches(@"json TinyNet macs=\d+ logits=", output);
            ConsumerProgram.AssertOnnxModelsMatchPyTorch(output);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
