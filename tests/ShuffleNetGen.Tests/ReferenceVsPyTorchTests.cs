using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The scalar reference against PyTorch itself. Everything else is tested against the reference, so this is the
/// link that ties the generated code to the real network definition.
/// </summary>
public class ReferenceVsPyTorchTests
{
    public const double Tolerance = 1e-4;

    private readonly ITestOutputHelper _output;

    public ReferenceVsPyTorchTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string> Names => PyTorchFixture.NameData;

    [Theory]
    [MemberData(nameof(Names))]
    public void ReferenceLogitsMatchPyTorch(string name)
    {
        var f = PyTorchFixture.Load(name);

        var logits = ReferenceShuffleNet.Forward(f.Config, n => f.Weights[n].Data, f.Input);

        Assert.Equal(f.Logits.Length, logits.Length);
        double scale = f.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(f.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"{name}: max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(scale > 1e-3, $"{name}: PyTorch logits are all near zero, so the comparison would not see errors");
        Assert.True(worst <= Tolerance, $"{name}: max error {worst:E3} relative to the largest logit {scale:G4}\n" +
            $"reference: {string.Join(", ", logits)}\npytorch:   {string.Join(", ", f.Logits)}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void FixtureHoldsExactlyTheTensorsTheReferenceNeeds(string name)
    {
        var f = PyTorchFixture.Load(name);

        var expected = ReferenceShuffleNet.WeightShapes(f.Config);
        Assert.Equal(expected.Select(s => s.Name).OrderBy(n => n, StringComparer.Ordinal),
            f.Weights.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var (tensorName, shape) in expected)
            Assert.True(shape.SequenceEqual(f.Weights[tensorName].Shape),
                $"{tensorName}: reference expects [{string.Join(", ", shape)}], fixture has {f.Weights[tensorName].ShapeText}");
    }
}
