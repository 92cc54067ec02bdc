using ShuffleNetGen.Generator;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>The derived architecture against the figures published for ShuffleNet v1.</summary>
public class PaperFiguresTests
{
    private static NetworkSpec Resolve(int groups, double scale)
    {
        var settings = NetworkSettings.Default with { Groups = groups, Scale = scale };
        var (spec, errors) = NetworkResolver.Resolve(settings);
        Assert.Empty(errors);
        return spec!;
    }

    // Paper, Table 1: complexity of the 1x network by group count.
    [Theory]
    [InlineData(1, 143e6)]
    [InlineData(2, 140e6)]
    [InlineData(3, 137e6)]
    [InlineData(4, 133e6)]
    [InlineData(8, 137e6)]
    public void MultiplyAddsAt1xMatchTable1(int groups, double paper)
    {
        long macs = ModelPipeline.Build(Resolve(groups, 1.0)).MultiplyAdds;
        Assert.InRange(macs / paper, 0.97, 1.03);
    }

    // Paper, Table 2 and section 4.1: g = 3 at 0.5x (38 MFLOPs), 1x (140), 2x (524).
    [Theory]
    [InlineData(0.5, 38e6)]
    [InlineData(1.0, 140e6)]
    [InlineData(2.0, 524e6)]
    public void MultiplyAddsForThreeGroupsMatchTable2(double scale, double paper)
    {
        long macs = ModelPipeline.Build(Resolve(3, scale)).MultiplyAdds;
        Assert.InRange(macs / paper, 0.97, 1.03);
    }

    // Official implementation (megvii ShuffleNetV1) widths, stem / stage 2 / 3 / 4.
    [Theory]
    [InlineData(3, 0.5, 12, 120)]
    [InlineData(3, 1.0, 24, 240)]
    [InlineData(3, 1.5, 24, 360)]
    [InlineData(3, 2.0, 48, 480)]
    [InlineData(8, 0.5, 16, 192)]
    [InlineData(8, 1.0, 24, 384)]
    [InlineData(8, 1.5, 24, 576)]
    [InlineData(8, 2.0, 48, 768)]
    [InlineData(1, 1.0, 24, 144)]
    [InlineData(2, 1.0, 24, 200)]
    [InlineData(4, 1.0, 24, 272)]
    public void DerivedWidthsMatchTheOfficialCode(int groups, double scale, int stem, int stage2)
    {
        var spec = Resolve(groups, scale);
        Assert.Equal(stem, spec.StemChannels);
        Assert.Equal(new[] { stage2, stage2 * 2, stage2 * 4 }, spec.StageChannels.ToArray());
    }

    // Official parameter counts (millions): g = 3 0.5x 0.7, 1x 1.9, 1.5x 3.4, 2x 5.4; g = 8 0.5x 1.0, 1x 2.4, 1.5x 4.3, 2x 6.5.
    [Theory]
    [InlineData(3, 0.5, 0.7)]
    [InlineData(3, 1.0, 1.9)]
    [InlineData(3, 1.5, 3.4)]
    [InlineData(3, 2.0, 5.4)]
    [InlineData(8, 0.5, 1.0)]
    [InlineData(8, 1.0, 2.4)]
    [InlineData(8, 1.5, 4.3)]
    [InlineData(8, 2.0, 6.5)]
    public void ParameterCountsMatchTheOfficialCode(int groups, double scale, double millions)
    {
        long parameters = ModelPipeline.Build(Resolve(groups, scale)).ParameterCount;
        // The official figures are rounded to 0.1M.
        Assert.InRange(parameters / 1e6, millions - 0.06, millions + 0.06);
    }

    // Outside the official table the rule must still give widths every unit can split, for every group count.
    [Theory]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.75)]
    [InlineData(1.25)]
    [InlineData(1.5)]
    [InlineData(2.0)]
    [InlineData(3.0)]
    public void DerivedWidthsAreAlwaysLegal(double scale)
    {
        foreach (int groups in new[] { 1, 2, 3, 4, 8 })
        {
            var (spec, errors) = NetworkResolver.Resolve(NetworkSettings.Default with { Groups = groups, Scale = scale });
            Assert.True(errors.Count == 0, $"g={groups} s={scale}: {string.Join("; ", errors.Select(e => string.Join(", ", e.Arguments)))}");
            Assert.NotNull(spec);
        }
    }
}
