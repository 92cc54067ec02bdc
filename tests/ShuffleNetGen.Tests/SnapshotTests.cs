using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>Pins the generated source, so any change to emitted code shows up as a diff in review.</summary>
public class SnapshotTests
{
    [Theory]
    [InlineData("Paper1xG3_224", "Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputChannels = 3, InputHeight = 224, InputWidth = 224, Classes = 1000")]
    [InlineData("Small025xG3_64", "Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64, Classes = 10")]
    [InlineData("TwoStageGrayG8_28", "Groups = 8, Scale = 0.5, Stages = new[] { 4, 8 }, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false")]
    public void GeneratedSourceIsPinned(string name, string arguments)
    {
        string source = $$"""
            using ShuffleNetGen;
            namespace Snapshots;
            [ShuffleNet({{arguments}})]
            public partial class {{name}};
            """;
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        var generated = Assert.Single(run.Results.Single().GeneratedSources);
        Snapshot.Verify(name, generated.SourceText.ToString());
    }
}
