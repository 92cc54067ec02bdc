using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Models;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>Models compiled by this project's build, loaded from PyTorch's weight files, against PyTorch's logits.</summary>
public class GeneratedVsPyTorchTests
{
    private readonly ITestOutputHelper _output;

    public GeneratedVsPyTorchTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [MemberData(nameof(PyTorchFixture.NameData), MemberType = typeof(PyTorchFixture))]
    public void LogitsMatchPyTorch(string name)
    {
        var fixture = PyTorchFixture.Load(name);
        string weightsPath = Path.Combine(PyTorchFixture.FixtureDirectory, name + ".safetensors");
        IShuffleNetModel model = name switch
        {
            "g3_small_64" => G3Small64.FromSafetensors(weightsPath),
            "g8_gray_48x40" => G8Gray48x40.FromSafetensors(File.OpenRead(weightsPath)),
            "g2_odd_33" => G2Odd33.FromSafetensors(weightsPath),
            "megvii_g8_official_48" => MegviiG8Official48.FromSafetensors(weightsPath),
            "megvii_g4_official_48" => MegviiG4Official48.FromSafetensors(weightsPath),
            _ => throw new ArgumentException(name),
        };
        var logits = new float[fixture.Logits.Length];
        model.Forward(fixture.Input, logits);

        double scale = fixture.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(fixture.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"{name}: max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(worst <= ReferenceMatrixTests.Tolerance, $"{name}: max error {worst:E3} relative to {scale:G4}");
    }

    /// <summary>
    /// The megvii fixtures' weights were converted for the official order; the same weights in a paper-order model
    /// (same widths otherwise) give other logits, so the check above would see a generator that ignored the order.
    /// </summary>
    [Fact]
    public void OfficialWeightsInAPaperOrderModelDoNotMatch()
    {
        var fixture = PyTorchFixture.Load("megvii_g8_official_48");
        var model = MegviiG8Paper48.FromSafetensors(Path.Combine(PyTorchFixture.FixtureDirectory, "megvii_g8_official_48.safetensors"));
        var logits = new float[fixture.Logits.Length];
        model.Forward(fixture.Input, logits);
        double scale = fixture.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(fixture.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"paper order on official weights: max relative error {worst:E2}");
        Assert.True(worst > 1e-2, $"max error {worst:E3}: the shuffle order made no difference");
        Assert.Equal(ShuffleOrder.Official, MegviiG8Official48.Description.ShuffleOrder);
        Assert.Equal(ShuffleOrder.Paper, MegviiG8Paper48.Description.ShuffleOrder);
    }

    /// <summary>An official-order model refuses an ONNX graph whose shuffle is the paper's, naming the reshape.</summary>
    [Fact]
    public void OfficialOrderModelRefusesAPaperOrderOnnxGraph()
    {
        var error = Assert.Throws<ShuffleNetGen.Onnx.OnnxFormatException>(() =>
            G8Gray48x40Official.FromOnnx(OnnxFixture.Path("g8_gray_48x40.onnx")));
        _output.WriteLine(error.Message);
        Assert.Contains("official (megvii) channel shuffle with 8 groups", error.Message);
        Assert.Contains("reshape to [1, 2, 8,", error.Message);
    }

    /// <summary>The generated FromOnnx (emitted because this project references ShuffleNetGen.Onnx) on torch's export.</summary>
    [Fact]
    public void FromOnnxReproducesPyTorch()
    {
        var fixture = PyTorchFixture.Load("g3_small_64");
        var model = G3Small64.FromOnnx(OnnxFixture.Path("g3_small_64.onnx"));
        var logits = new float[G3Small64.Classes];
        model.Forward(fixture.Input, logits);
        double scale = fixture.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(fixture.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        Assert.True(worst <= ReferenceMatrixTests.Tolerance, $"max error {worst:E3} relative to {scale:G4}");
    }
}
