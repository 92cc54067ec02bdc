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
            _ => throw new ArgumentException(name),
        };
        var logits = new float[fixture.Logits.Length];
        model.Forward(fixture.Input, logits);

        double scale = fixture.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(fixture.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"{name}: max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(worst <= ReferenceMatrixTests.Tolerance, $"{name}: max error {worst:E3} relative to {scale:G4}");
    }

    /// <summary>The generated FromOnnx (emitted because this project references ShuffleNetGen.Onnx) on torch's export.</summary>
    [Fact]
    public void FromOnnxReproducesPyTorch()
    {
        var fixture = PyTorchFixture.Load("g3_small_64");
        var model = G3Small64.FromOnnx(Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", "g3_small_64.onnx"));
        var logits = new float[G3Small64.Classes];
        model.Forward(fixture.Input, logits);
        double scale = fixture.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(fixture.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        Assert.True(worst <= ReferenceMatrixTests.Tolerance, $"max error {worst:E3} relative to {scale:G4}");
    }
}
