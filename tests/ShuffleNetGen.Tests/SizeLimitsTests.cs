using ShuffleNetGen.Generator;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The parse step checks the int32 size limits on the lowered graph itself (the family's one statement), so the figure
/// a limit diagnostic gives is the one the passes arrive at, with no second account of the sizes to keep equal.
/// </summary>
public class SizeLimitsTests
{
    [Fact]
    public void TheOversizedArenaIsReportedWithThePlannedFigure()
    {
        // The declaration DiagnosticLocationTests pins SNG0011's message with.
        var settings = NetworkSettings.Default with { InputHeight = 4096, InputWidth = 4096, StemStride = 1, StemMaxPool = false, StemChannels = 240, Scale = 4 };
        var finding = TooLarge(settings);
        Assert.Equal("The activation arena", finding.Arguments[0]);
        Assert.Equal(12079595520L, finding.Arguments[1]);
        var (network, _) = NetworkResolver.Resolve(settings);
        Assert.Equal(ModelPipeline.Build(network!).ArenaLength, finding.Arguments[1]);
    }

    [Fact]
    public void OversizedPackedWeightsAreReportedWithTheLaidOutFigure()
    {
        // A small image, so the arena is far below the limit, and a classifier of 2^20 classes over 3,840 features.
        var settings = NetworkSettings.Default with { InputHeight = 32, InputWidth = 32, Scale = 4, Classes = 1 << 20 };
        var finding = TooLarge(settings);
        Assert.Equal("The packed weights", finding.Arguments[0]);
        var (network, _) = NetworkResolver.Resolve(settings);
        Assert.Equal(WeightLayout.Assign(NetworkLowering.Lower(network!)).PackedWeightLength, finding.Arguments[1]);
        Assert.True((long)finding.Arguments[1] > int.MaxValue);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void ADeclarationJustUnderTheLimitsPasses(int precision)
    {
        var settings = NetworkSettings.Default with { InputHeight = 512, InputWidth = 512, Precision = precision };
        var (network, findings) = DeclarationValidator.Validate(settings, SettingSyntax.Attribute);
        Assert.NotNull(network);
        Assert.DoesNotContain(findings, f => f.Descriptor.Id == DiagnosticDescriptors.ModelTooLarge.Id);
    }

    private static SettingError TooLarge(NetworkSettings settings)
    {
        var (network, findings) = DeclarationValidator.Validate(settings, SettingSyntax.Attribute);
        Assert.Null(network);
        return Assert.Single(findings, f => f.Descriptor.Id == DiagnosticDescriptors.ModelTooLarge.Id);
    }
}
