using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Generated models against the independent scalar reference, over a matrix of group counts, scales, input shapes,
/// stage counts and stem variants. Each case is generated, compiled and loaded in-process.
/// </summary>
public class ReferenceMatrixTests
{
    private readonly ITestOutputHelper _output;

    public ReferenceMatrixTests(ITestOutputHelper output) => _output = output;

    public const double Tolerance = 1e-4;

    /// <summary>Attribute arguments of each case; the class is always named Model.</summary>
    public static readonly TheoryData<string, string> Cases = new()
    {
        { "g1_1x_224", "Groups = 1, Scale = 1.0" },
        { "g3_1x_224", "Groups = 3, Scale = 1.0" },
        { "g8_0.5x_224", "Groups = 8, Scale = 0.5" },
        { "g2_0.5x_96x128", "Groups = 2, Scale = 0.5, InputHeight = 96, InputWidth = 128, Classes = 100" },
        { "g4_0.25x_65_gray", "Groups = 4, Scale = 0.25, InputChannels = 1, InputHeight = 65, InputWidth = 65, Classes = 10" },
        { "g8_1x_96", "Groups = 8, Scale = 1.0, InputHeight = 96, InputWidth = 96, Classes = 37" },
        { "g3_0.25x_65_two_stage", "Groups = 3, Scale = 0.25, Stages = new[] { 2, 3 }, InputHeight = 65, InputWidth = 65, Classes = 10" },
        { "g2_1x_64_four_stage", "Groups = 2, Scale = 1.0, Stages = new[] { 2, 2, 2, 2 }, InputHeight = 64, InputWidth = 64, Classes = 10" },
        { "g8_0.25x_28_stride1", "Groups = 8, Scale = 0.25, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false" },
        { "g1_0.5x_33x47_gray", "Groups = 1, Scale = 0.5, InputChannels = 1, InputHeight = 33, InputWidth = 47, Classes = 5" },
        { "g4_1x_96x128", "Groups = 4, Scale = 1.0, InputHeight = 96, InputWidth = 128, Classes = 20" },
        { "g3_0.5x_28_fashion", "Groups = 3, Scale = 0.5, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false" },
        { "g2_0.25x_65", "Groups = 2, Scale = 0.25, InputHeight = 65, InputWidth = 65, Classes = 10" },
        { "g3_explicit_40x30", "Groups = 3, StemChannels = 12, StageChannels = new[] { 48, 96, 192 }, InputHeight = 40, InputWidth = 30, Classes = 9" },
        { "g4_four_stage_stride1_32", "Groups = 4, Scale = 0.5, Stages = new[] { 1, 2, 2, 1 }, InputHeight = 32, InputWidth = 32, Classes = 10, StemStride = 1, StemMaxPool = false" },
        { "g1_tiny_16_two_stage", "Groups = 1, Scale = 0.25, Stages = new[] { 1, 2 }, InputHeight = 16, InputWidth = 16, Classes = 3" },
        { "g2_1.5x_56", "Groups = 2, Scale = 1.5, InputHeight = 56, InputWidth = 56, Classes = 10" },
        { "g8_0.5x_7x9_no_pool", "Groups = 8, Scale = 0.5, Stages = new[] { 2, 2 }, InputHeight = 7, InputWidth = 9, Classes = 4, StemMaxPool = false" },
    };

    public static string Source(string arguments) => $$"""
        using ShuffleNetGen;
        namespace Matrix;
        [ShuffleNet({{arguments}})]
        public partial class Model;
        """;

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsMatchTheScalarReference(string name, string arguments)
    {
        var compiled = LoadedModel.Compile(Source(arguments));
        var d = compiled.Description;
        var weights = RandomWeights.Create(compiled.WeightLayout, seed: name.Length * 7919 + 1);
        var model = compiled.FromTensors(weights);

        var random = new Random(123);
        var input = new float[d.InputChannels * d.InputHeight * d.InputWidth];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);

        var logits = new float[d.Classes];
        model.Forward(input, logits);

        var config = new ReferenceConfig(d.Groups, d.StemChannels, d.StageChannels.ToArray(), d.StageRepeats.ToArray(),
            d.InputChannels, d.InputHeight, d.InputWidth, d.Classes, d.StemStride, d.StemMaxPool);
        var expected = ReferenceShuffleNet.Forward(config, n => weights[n].Data, input);

        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"{name}: max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(scale > 1e-3, "reference logits are all near zero: the test would not see errors");
        Assert.True(worst <= Tolerance, $"{name}: max error {worst:E3} relative to the largest logit {scale:G4}");
        Assert.DoesNotContain(logits, float.IsNaN);

        // Same input twice: the arena holds no state between calls.
        var again = new float[d.Classes];
        model.Forward(input, again);
        Assert.Equal(logits, again);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MemoryPlanNeverOverlapsLiveTensors(string name, string arguments)
    {
        _ = name;
        var d = LoadedModel.Compile(Source(arguments)).Description;
        AssertPlanIsSound(d);
    }

    internal static void AssertPlanIsSound(ModelDescription d)
    {
        foreach (var slot in d.MemoryPlan)
        {
            Assert.InRange(slot.Offset, 0, d.ArenaLength - slot.Length);
            Assert.True(slot.FirstStep <= slot.LastStep, slot.Tensor);
        }
        for (int i = 0; i < d.MemoryPlan.Count; i++)
        {
            for (int j = i + 1; j < d.MemoryPlan.Count; j++)
            {
                var a = d.MemoryPlan[i];
                var b = d.MemoryPlan[j];
                bool aliveTogether = a.FirstStep <= b.LastStep && b.FirstStep <= a.LastStep;
                bool shareMemory = a.Offset < b.Offset + b.Length && b.Offset < a.Offset + a.Length;
                Assert.False(aliveTogether && shareMemory, $"{a.Tensor} [{a.Offset}, +{a.Length}) steps {a.FirstStep}-{a.LastStep} overlaps {b.Tensor} [{b.Offset}, +{b.Length}) steps {b.FirstStep}-{b.LastStep}");
            }
        }
        Assert.True(d.ArenaLength >= d.LiveLowerBound);
        Assert.True(d.ArenaLength <= d.NaiveActivationLength);
    }
}
