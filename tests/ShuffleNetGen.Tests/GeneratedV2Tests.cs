using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Generated ShuffleNet v2 models against torchvision's own logits: the fixtures of tools/make_v2_fixtures.py, loaded
/// from their safetensors files in torchvision's names (num_batches_tracked included, as torch saves it) and, for the
/// torchvision-width cases whose weights are not committed, from the seeded state dict the fixture rebuilds.
/// </summary>
public class GeneratedV2Tests
{
    private readonly ITestOutputHelper _output;

    public GeneratedV2Tests(ITestOutputHelper output) => _output = output;

    /// <summary>float32 through the whole network against torchvision's float64: the v1 fixtures' tolerance.</summary>
    private const double Tolerance = 1e-5;

    public static TheoryData<string> Cases => new()
    {
        nameof(V2Custom57x41), nameof(V2OddHalves17x13), nameof(V2Gray2Stages40x36), nameof(V2OneStage21x30), nameof(V2FourStages80x72),
        nameof(V2X0_5_64x64), nameof(V2X1_0_56x40),
    };

    /// <summary>Every committed ONNX export of a stored fixture (folded, dynamic batch, batch norm kept, opset 9), by model.</summary>
    public static TheoryData<string, string> OnnxCases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var name in new[] { nameof(V2Custom57x41), nameof(V2OddHalves17x13), nameof(V2Gray2Stages40x36), nameof(V2OneStage21x30), nameof(V2FourStages80x72) })
                foreach (var file in V2Fixture.Load(Model(name).Fixture).OnnxFiles) data.Add(name, file);
            return data;
        }
    }

    /// <summary>The generated <c>FromOnnx</c> of a v2 model reads torch.onnx.export's graph of torchvision's network.</summary>
    [Theory]
    [MemberData(nameof(OnnxCases))]
    public void FromOnnxMatchesTorchvision(string name, string file)
    {
        var (fixtureName, _, description) = Model(name);
        var fixture = V2Fixture.Load(fixtureName);
        var model = OnnxModel(name, V2Fixture.PathOf(file));
        var logits = new float[description.Classes];
        model.Forward(fixture.Input, logits);
        double error = Logits.RelativeError(logits, fixture.Logits);
        _output.WriteLine($"{name} from {file}: max |generated - torchvision| / max |logit| = {error:E2}");
        Assert.True(error <= Tolerance, $"{name} from {file}: relative error {error:E3}");
    }

    private static IShuffleNetModel OnnxModel(string name, string path) => name switch
    {
        nameof(V2Custom57x41) => V2Custom57x41.FromOnnx(path),
        nameof(V2OddHalves17x13) => V2OddHalves17x13.FromOnnx(path),
        nameof(V2Gray2Stages40x36) => V2Gray2Stages40x36.FromOnnx(path),
        nameof(V2OneStage21x30) => V2OneStage21x30.FromOnnx(path),
        nameof(V2FourStages80x72) => V2FourStages80x72.FromOnnx(path),
        _ => throw new ArgumentException(name),
    };

    private static (string Fixture, Func<TensorSet, IShuffleNetModel> Bind, ModelDescription Description) Model(string name) => name switch
    {
        nameof(V2Custom57x41) => ("custom_57x41", t => V2Custom57x41.FromTensors(t), V2Custom57x41.Description),
        nameof(V2OddHalves17x13) => ("custom_odd_halves_17x13", t => V2OddHalves17x13.FromTensors(t), V2OddHalves17x13.Description),
        nameof(V2Gray2Stages40x36) => ("gray_2stages_40x36", t => V2Gray2Stages40x36.FromTensors(t), V2Gray2Stages40x36.Description),
        nameof(V2OneStage21x30) => ("one_stage_21x30", t => V2OneStage21x30.FromTensors(t), V2OneStage21x30.Description),
        nameof(V2FourStages80x72) => ("four_stages_80x72", t => V2FourStages80x72.FromTensors(t), V2FourStages80x72.Description),
        nameof(V2X0_5_64x64) => ("tv_x0_5_64x64", t => V2X0_5_64x64.FromTensors(t), V2X0_5_64x64.Description),
        nameof(V2X1_0_56x40) => ("tv_x1_0_56x40", t => V2X1_0_56x40.FromTensors(t), V2X1_0_56x40.Description),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsMatchTorchvision(string name)
    {
        var (fixtureName, bind, description) = Model(name);
        var fixture = V2Fixture.Load(fixtureName);
        var weights = fixture.Stored ? Safetensors.Read(V2Fixture.PathOf(fixtureName + ".safetensors"), description) : fixture.Weights();
        var model = bind(weights);
        var logits = new float[description.Classes];
        model.Forward(fixture.Input, logits);
        double error = Logits.RelativeError(logits, fixture.Logits);
        _output.WriteLine($"{name} ({fixtureName}): max |generated - torchvision| / max |logit| = {error:E2}");
        Assert.True(error <= Tolerance, $"{name}: relative error {error:E3}");
    }
}
