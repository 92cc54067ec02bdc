using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The Vector256 stem at stride 2 stages its input rows (<c>Simd.StageStride2Rows256</c>) only while every plane's
/// three staged rows fit Zen 3's L1: a wider input keeps de-interleaving at each tap, so the declared width does not
/// grow the staged rows on the fused step's stack without bound, nor stage rows that L1 cannot hold.
/// </summary>
public class StemStagingTests
{
    [Theory]
    [InlineData(224, true)]
    [InlineData(1000, false)]
    public void TheVector256StemStagesRowsOnlyWhileTheyFitL1(int width, bool staged)
    {
        string source = $$"""
            using ShuffleNetGen;
            namespace Staging;
            [ShuffleNet(Groups = 3, Scale = 0.25, InputHeight = 32, InputWidth = {{width}}, Classes = 10)]
            public partial class Model;
            """;
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        Assert.Empty(run.Diagnostics);
        string text = Assert.Single(run.Results.Single().GeneratedSources).SourceText.ToString();
        Assert.Contains("ch_V256(", text);
        Assert.Equal(staged, text.Contains("Simd.StageStride2Rows256("));
    }
}
