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

    /// <summary>
    /// The pinned 1x g=3 source shows an ARM64 (AdvSimd) branch in at least one kernel of every kind, so a change
    /// that drops one shows up here and not only under emulation.
    /// </summary>
    [Theory]
    [InlineData("Conv3x3_s2", "AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar")]
    [InlineData("MaxPool3x3_s2", "AdvSimd.Arm64.MaxPairwise")]
    [InlineData("Depthwise3x3_s2", "AdvSimd.Arm64.UnzipEven")]
    [InlineData("AvgPool3x3_s2", "AdvSimd.Arm64.AddPairwise")]
    [InlineData("Pointwise_g3", "AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar")]
    [InlineData("GlobalAvgPool", "AdvSimd.Arm64.AddPairwise")]
    [InlineData("Linear", "AdvSimd.FusedMultiplyAdd")]
    public void SnapshotShowsAnAdvSimdVariantOfEachKernelKind(string kernelPrefix, string instruction)
    {
        string path = Snapshot.VerifiedPath("Paper1xG3_224");
        var kernels = File.ReadAllText(path).Split("private static void ").Skip(1)
            .Where(body => body.StartsWith(kernelPrefix, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(kernels);
        Assert.Contains(kernels, body => body.Contains($"if (AdvSimd.Arm64.IsSupported)", StringComparison.Ordinal) && body.Contains(instruction, StringComparison.Ordinal));
    }
}
