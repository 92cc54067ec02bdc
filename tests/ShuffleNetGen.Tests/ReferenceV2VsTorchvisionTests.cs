using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The scalar ShuffleNet v2 reference against torchvision itself (Fixtures/v2, tools/make_v2_fixtures.py). The
/// generator's v2 models are tested against the reference, so this ties them to torchvision's network.
/// </summary>
public class ReferenceV2VsTorchvisionTests
{
    /// <summary>
    /// Both sides compute in float64 from the same float32 weights; what remains is the float32 rounding of the stored
    /// logits and summation order (measured: at most ~1e-7 of the largest logit).
    /// </summary>
    public const double Tolerance = 1e-5;

    private readonly ITestOutputHelper _output;

    public ReferenceV2VsTorchvisionTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string> Names => V2Fixture.NameData;

    public static TheoryData<string> StoredNames => V2Fixture.StoredNameData;

    [Theory]
    [MemberData(nameof(Names))]
    public void ReferenceLogitsMatchTorchvision(string name)
    {
        var f = V2Fixture.Load(name);
        var weights = f.Weights();

        var logits = ReferenceShuffleNetV2.Forward(f.Config, n => weights[n].Data, f.Input);

        Assert.Equal(f.Logits.Length, logits.Length);
        double scale = f.Logits.Max(v => Math.Abs((double)v));
        double worst = Logits.RelativeError(logits, f.Logits);
        _output.WriteLine($"{name} ({f.Config}): max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(scale > 1e-3, $"{name}: torchvision's logits are all near zero, so the comparison would not see errors");
        Assert.True(worst <= Tolerance, $"{name}: max error {worst:E3} relative to the largest logit {scale:G4}\n" +
            $"reference:   {string.Join(", ", logits.Take(20))}\ntorchvision: {string.Join(", ", f.Logits.Take(20))}");
    }

    /// <summary>The comparison above can fail: one changed value anywhere in the network moves the logits past the tolerance.</summary>
    [Theory]
    [InlineData("conv1.0.weight", 0)]
    [InlineData("stage2.0.branch1.1.running_var", 0)]
    // The center tap: in this fixture stage 3 runs on 3x2 -> 2x1 planes, where a stride-2 depthwise conv's top-left
    // tap only ever reads padding (perturbing element 0 changes nothing, which is right).
    [InlineData("stage3.0.branch2.3.weight", 4)]
    [InlineData("stage4.1.branch2.6.bias", 0)]
    [InlineData("conv5.1.running_mean", 0)]
    [InlineData("fc.bias", 0)]
    public void OnePerturbedWeightBreaksTheMatch(string tensor, int index)
    {
        var f = V2Fixture.Load("custom_odd_halves_17x13");
        var weights = f.Weights();
        var changed = (float[])weights[tensor].Data.Clone();
        changed[index] += 0.25f;

        var logits = ReferenceShuffleNetV2.Forward(f.Config, n => n == tensor ? changed : weights[n].Data, f.Input);

        Assert.Equal(f.Logits.Length, logits.Length);
        double worst = Logits.RelativeError(logits, f.Logits);
        _output.WriteLine($"{tensor}[{index}] + 0.25: max relative error {worst:E2}");
        Assert.True(worst > 100 * Tolerance, $"changing {tensor}[{index}] moved the logits by only {worst:E2} of the largest");
    }

    /// <summary>
    /// The committed weights file is the whole state_dict as torch holds it: torchvision's names in its order, every
    /// batch norm's num_batches_tracked kept as an I64 scalar, the data exactly the seeded weights the script used.
    /// </summary>
    [Theory]
    [MemberData(nameof(StoredNames))]
    public void StoredFileIsTheWholeStateDict(string name)
    {
        var f = V2Fixture.Load(name);
        string path = f.WeightsFile();

        var header = V2Fixture.ReadHeader(path);
        var expected = ReferenceShuffleNetV2.WeightShapes(f.Config, includeBatchCounters: true);
        Assert.Equal(expected.Select(e => e.Name), header.Select(h => h.Name));
        foreach (var ((tensorName, shape), h) in expected.Zip(header))
        {
            Assert.True(shape.SequenceEqual(h.Shape), $"{tensorName}: reference expects [{string.Join(", ", shape)}], file has [{string.Join(", ", h.Shape)}]");
            Assert.Equal(tensorName.EndsWith(".num_batches_tracked", StringComparison.Ordinal) ? "I64" : "F32", h.DType);
        }
        Assert.Equal(f.DataSha256, V2Fixture.DataSectionSha256(path));
    }

    /// <summary>
    /// The runtime's reader takes a torchvision state_dict as it is: the int64 num_batches_tracked entries are accepted
    /// and left out of the set, every float tensor is there.
    /// </summary>
    [Theory]
    [InlineData("custom_57x41")]
    [InlineData("tv_x0_5_64x64")]
    public void RuntimeReaderSkipsTheInt64BatchCounters(string name)
    {
        var f = V2Fixture.Load(name);

        var set = Safetensors.Read(f.WeightsFile());

        var floats = ReferenceShuffleNetV2.WeightShapes(f.Config);
        Assert.Equal(floats.Select(e => e.Name), set.Select(t => t.Name));
        Assert.DoesNotContain(set, t => t.Name.EndsWith(".num_batches_tracked", StringComparison.Ordinal));
    }

    /// <summary>
    /// The seeded weights rebuild exactly (same names, shapes, dtypes and bits as the script's), for every fixture:
    /// for the stored ones this checks the C# generator against the committed file.
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void SeededWeightsRebuildExactly(string name)
    {
        var f = V2Fixture.Load(name);

        var tensors = V2Fixture.Generate(f.Config, f.Seed);

        Assert.Equal(f.LayoutSha256, V2Fixture.LayoutSha256Of(tensors));
        Assert.Equal(f.DataSha256, V2Fixture.DataSha256Of(tensors));
    }

    /// <summary>
    /// torchvision's multiply-adds of shufflenet_v2_x*() at 3x224x224, by width multiplier: tools/make_v2_fixtures.py
    /// --count-macs, forward hooks on Conv2d and Linear. <see cref="V2LoweringTests"/> checks the lowering against them too.
    /// </summary>
    public static TheoryData<double, long> TorchvisionMultiplyAddsAt224 => new()
    {
        { 0.5, 40_476_448L },
        { 1.0, 144_907_992L },
        { 1.5, 295_759_392L },
        { 2.0, 583_253_464L },
    };

    [Theory]
    [MemberData(nameof(TorchvisionMultiplyAddsAt224))]
    public void MultiplyAddsMatchTorchvisionAt224(double scale, long torchvision)
    {
        Assert.Equal(torchvision, ReferenceShuffleNetV2.MultiplyAdds(ReferenceV2Config.ForScale(scale)));
    }

    [Fact]
    public void ScaleFixturesAreTorchvisionsWidths()
    {
        foreach (var name in V2Fixture.Names.Where(n => n.StartsWith("tv_", StringComparison.Ordinal)))
        {
            var f = V2Fixture.Load(name);
            Assert.NotNull(f.Scale);
            var tv = ReferenceV2Config.ForScale(f.Scale!.Value, f.Config.InputHeight, f.Config.InputWidth);
            Assert.Equal(tv.ToString(), f.Config.ToString());
        }
    }
}
