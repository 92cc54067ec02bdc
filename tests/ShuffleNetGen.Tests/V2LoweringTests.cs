using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The ShuffleNet v2 family's lowering (generator/Families/ShuffleNetV2), checked before any kernel runs it: its
/// weight layout is torchvision's, its multiply-adds are torchvision's, its split, concat and shuffle are plane
/// bookkeeping in one tensor per stage, and the runtime's layer interpreter (calibration's float forward pass) run
/// over its layers reproduces torchvision's logits for every fixture.
/// </summary>
public class V2LoweringTests
{
    private readonly ITestOutputHelper _output;

    public V2LoweringTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string> Fixtures => V2Fixture.NameData;

    internal static NetworkSpec Spec(ReferenceV2Config c) => new(1, c.InputChannels, c.InputHeight, c.InputWidth, c.Classes, c.StemChannels, 2, true,
        new EquatableArray<int>(c.StageChannels), new EquatableArray<int>(c.StageRepeats), Version: 2, FinalChannels: c.FinalChannels);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void TheLoweredLayersGiveTorchvisionsLogits(string name)
    {
        var fixture = V2Fixture.Load(name);
        var spec = Spec(fixture.Config);
        var description = LoweredDescription.Of(spec, ModelPipeline.Build(spec));
        var logits = Int8Calibration.ForwardFloat(description, fixture.Weights(), fixture.Input);
        double error = Logits.RelativeError(logits, fixture.Logits);
        _output.WriteLine($"{name}: max |layers - torchvision| / max |logit| = {error:E2}");
        Assert.True(error <= 1e-5, $"{name}: relative error {error:E3}");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void TheWeightLayoutIsTorchvisionsStateDict(string name)
    {
        // The names and shapes; the layout lists them in forward order, where a stride-2 unit runs branch2 first.
        var config = V2Fixture.Load(name).Config;
        var graph = NetworkLowering.Lower(Spec(config));
        var expected = ReferenceShuffleNetV2.WeightShapes(config).Select(w => w.Name + " [" + string.Join(", ", w.Shape) + "]");
        Assert.Equal(expected.Order(StringComparer.Ordinal), graph.Weights.Select(w => w.Name + " [" + string.Join(", ", w.Shape) + "]").Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(ReferenceV2VsTorchvisionTests.TorchvisionMultiplyAddsAt224), MemberType = typeof(ReferenceV2VsTorchvisionTests))]
    public void MultiplyAddsAt224AreTorchvisions(double scale, long torchvision)
    {
        Assert.Equal(torchvision, NetworkLowering.Lower(Spec(ReferenceV2Config.ForScale(scale))).MultiplyAdds);
    }

    /// <summary>
    /// A stride-1 unit runs in its stage's tensor: the first half stays, the branch rotates through planes dead by
    /// then, and nothing else in the arena is alive, so its peak is 1.5 times the stage width, which is also the
    /// least any plan can have (at its first 1x1 both halves and that convolution's output are alive).
    /// </summary>
    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public void AStrideOneUnitPeaksAtOneAndAHalfStageWidthsOfPlanes(double scale)
    {
        var config = ReferenceV2Config.ForScale(scale);
        var graph = ModelPipeline.Build(Spec(config));
        foreach (var op in graph.Ops.Where(o => o.Section.Summary?.Contains("stride 1") == true))
        {
            var live = graph.Tensors.Where(t => t.InArena && t.FirstStep <= op.Step && op.Step <= t.LastStep).ToList();
            var stage = Assert.Single(live);
            int width = config.StageChannels[int.Parse(stage.Name.Substring("stage".Length)) - 2];
            Assert.Equal(width * 3 / 2, stage.Channels);
        }
        _output.WriteLine($"x{scale}: arena {graph.ArenaLength}, live lower bound {graph.LiveLowerBound}");
        Assert.Equal(graph.LiveLowerBound, graph.ArenaLength);
    }

    /// <summary>The in-process description the tests above run matches what the emitter writes into a compiled model.</summary>
    [Fact]
    public void TheInProcessDescriptionIsTheGeneratedOne()
    {
        var spec = new NetworkSpec(3, 3, 64, 64, 10, 12, 2, true, new EquatableArray<int>(new[] { 60, 120, 240 }), new EquatableArray<int>(new[] { 2, 3, 2 }),
            Precision: NumericPrecision.Int8);
        var lowered = LoweredDescription.Of(spec, ModelPipeline.Build(spec));
        Assert.Equal(G3Small64Int8.Description.Layers.Select(LoweredDescription.Text), lowered.Layers.Select(LoweredDescription.Text));
        Assert.Equal(G3Small64Int8.Description.WeightLayout.Select(t => t.ToString()), lowered.WeightLayout.Select(t => t.ToString()));
    }
}
