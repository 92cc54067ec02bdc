using Google.Protobuf;
using ShuffleNetGen.Onnx;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// ONNX files from <c>tools/make_onnx_fixtures.py</c> (torch.onnx.export with batch norm folded at opsets 9, 13 and 17;
/// torch's export keeping BatchNormalization; a hand-built graph with the other accepted forms) imported into the
/// compiled fixture models and run against PyTorch's logits; and every kind of bad input.
/// </summary>
public class OnnxImportTests
{
    private readonly ITestOutputHelper _output;

    public OnnxImportTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string, string> Files => new()
    {
        { "g3_small_64.onnx", "g3_small_64" },
        { "g8_gray_48x40.onnx", "g8_gray_48x40" },
        { "g2_odd_33.onnx", "g2_odd_33" },
        { "g8_gray_48x40_bn.onnx", "g8_gray_48x40" },
        { "g3_small_64_handbuilt.onnx", "g3_small_64" },
    };

    private static IShuffleNetModel Bind(string fixture, TensorSet tensors) => fixture switch
    {
        "g3_small_64" => G3Small64.FromTensors(tensors),
        "g8_gray_48x40" => G8Gray48x40.FromTensors(tensors),
        "g2_odd_33" => G2Odd33.FromTensors(tensors),
        _ => throw new ArgumentException(fixture),
    };

    private static ModelDescription DescriptionOf(string fixture) => fixture switch
    {
        "g3_small_64" => G3Small64.Description,
        "g8_gray_48x40" => G8Gray48x40.Description,
        "g2_odd_33" => G2Odd33.Description,
        _ => throw new ArgumentException(fixture),
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void ImportedModelReproducesPyTorchLogits(string file, string fixtureName)
    {
        var fixture = PyTorchFixture.Load(fixtureName);
        var tensors = OnnxWeights.Read(OnnxFixture.Path(file), DescriptionOf(fixtureName));
        var model = Bind(fixtureName, tensors);
        var logits = new float[fixture.Logits.Length];
        model.Forward(fixture.Input, logits);

        double scale = fixture.Logits.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(fixture.Logits, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"{file}: max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(worst <= 1e-4, $"{file}: max error {worst:E3} relative to {scale:G4}");
    }

    [Fact]
    public void StreamOverloadReadsTheSameTensors()
    {
        using var stream = File.OpenRead(OnnxFixture.Path("g3_small_64.onnx"));
        var fromStream = OnnxWeights.Read(stream, G3Small64.Description);
        var fromPath = OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description);
        Assert.Equal(fromPath.Select(t => t.Name), fromStream.Select(t => t.Name));
        foreach (var t in fromPath) Assert.Equal(t.Data, fromStream[t.Name].Data);
    }

    [Fact]
    public void BatchNormalizationNodesWithPyTorchEpsilonGiveTheSafetensorsWeightsBitForBit()
    {
        var onnx = OnnxWeights.Read(OnnxFixture.Path("g8_gray_48x40_bn.onnx"), G8Gray48x40.Description);
        var fixture = PyTorchFixture.Load("g8_gray_48x40");
        Assert.Equal(G8Gray48x40.Description.WeightLayout.Count, onnx.Count);
        foreach (var shape in G8Gray48x40.Description.WeightLayout)
        {
            Assert.Equal(shape.Dimensions, onnx[shape.Name].Shape);
            Assert.True(fixture.Weights[shape.Name].Data.AsSpan().SequenceEqual(onnx[shape.Name].Data), shape.Name);
        }
    }

    [Fact]
    public void FoldedConvolutionBiasSurvivesTheLoadersBatchNormFoldExactly()
    {
        // The encoding (gamma 2^19, var 2^38, mean 0, beta = bias) must fold back to scale 1 and shift = bias exactly.
        var tensors = OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description);
        var d = G3Small64.Description;
        var packed = new float[d.StemChannels * (d.InputChannels * 9 + 1)];
        WeightPacker.Window3x3(tensors, "conv1", "bn1", d.StemChannels, d.InputChannels, packed);
        var w = tensors["conv1.weight"].Data;
        var b = tensors["bn1.bias"].Data;
        int stride = d.InputChannels * 9 + 1;
        for (int c = 0; c < d.StemChannels; c++)
        {
            for (int i = 0; i < stride - 1; i++) Assert.Equal(w[c * (stride - 1) + i], packed[c * stride + i]);
            Assert.Equal(b[c], packed[c * stride + stride - 1]);
        }
    }

    // ------------------------------------------------------------------ mismatched declarations

    [Fact]
    public void FileForAnotherInputShapeNamesTheInput()
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G8Gray48x40.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("input", e.NodeName);
        Assert.Contains("[1, 3, 64, 64]", e.Message);
        Assert.Contains("[N, 1, 48, 40]", e.Message);
        Assert.Contains("g3_small_64.onnx", e.Message);
    }

    [Fact]
    public void G3FileBoundToAG8ModelNamesTheShuffle()
    {
        var g8 = G3Small64.Description with { Groups = 8, Name = "G8Variant" };
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), g8));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.0/Reshape", e.NodeName);
        Assert.Contains("8 groups", e.Message);
        Assert.Contains("in 3 groups", e.Message);
        Assert.Contains("G8Variant", e.Message);
    }

    [Fact]
    public void GroupAttributeMismatchNamesTheConvolution()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        var conv = file.Graph.Node.Single(n => n.Name == "/units.1/conv1/Conv");
        conv.Attribute.Single(a => a.Name == "group").I = 1;
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.1/conv1/Conv", e.NodeName);
        Assert.Contains("group = 3", e.Message);
        Assert.Contains("the graph has group = 1", e.Message);
    }

    [Fact]
    public void ClassCountMismatchNamesTheClassifier()
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description with { Classes = 7 }));
        _output.WriteLine(e.Message);
        Assert.Equal("/fc/Gemm", e.NodeName);
        Assert.Contains("to 7 classes", e.Message);
        Assert.Contains("(10 classes)", e.Message);
    }

    /// <summary>
    /// The description of G3Small64 declared with <paramref name="change"/>, compiled in process: the importer follows a
    /// description's layers, so a mismatch is declared as a user would declare it, not patched into a record.
    /// </summary>
    private static ModelDescription G3Small64Variant(string change) => LoadedModel.Compile($$"""
        using ShuffleNetGen;
        [ShuffleNet(Groups = 3, StemChannels = 12, StageChannels = new[] { 60, 120, 240 }, InputHeight = 64, InputWidth = 64, Classes = 10, {{change}})]
        public partial class Model;
        """).Description;

    [Fact]
    public void FewerDeclaredUnitsNamesTheExtraUnit()
    {
        var fewer = G3Small64Variant("Stages = new[] { 2, 3, 1 }");
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), fewer));
        _output.WriteLine(e.Message);
        Assert.Contains("6 units", e.Message);
        Assert.Contains("more units", e.Message);
    }

    [Fact]
    public void MoreDeclaredUnitsNamesTheGlobalPool()
    {
        var more = G3Small64Variant("Stages = new[] { 2, 3, 3 }");
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), more));
        _output.WriteLine(e.Message);
        Assert.Contains("GlobalAveragePool", e.Message);
        Assert.Contains("8 units", e.Message);
    }

    [Fact]
    public void StemStrideAndMaxPoolMismatchesNameTheStem()
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description with { StemStride = 1 }));
        _output.WriteLine(e.Message);
        Assert.Equal("/conv1/Conv", e.NodeName);
        Assert.Contains("stride 1", e.Message);
        Assert.Contains("strides [2, 2]", e.Message);

        e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description with { StemMaxPool = false }));
        _output.WriteLine(e.Message);
        Assert.Equal("/maxpool/MaxPool", e.NodeName);
        Assert.Contains("StemMaxPool = false", e.Message);
    }

    [Fact]
    public void WidthMismatchNamesTheConvolutionAndBothShapes()
    {
        var wider = G3Small64.Description with { StemChannels = 24 };
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), wider));
        _output.WriteLine(e.Message);
        Assert.Equal("/conv1/Conv", e.NodeName);
        Assert.Contains("[24, 3, 3, 3]", e.Message);
        Assert.Contains("[12, 3, 3, 3]", e.Message);
    }

    // ------------------------------------------------------------------ unsupported and corrupt files

    [Fact]
    public void UnsupportedOpsetIsRejected()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        file.OpsetImport[0].Version = 6;
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        Assert.Contains("opset 6", e.Message);
    }

    [Fact]
    public void OperatorAfterTheLogitsIsNamed()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        var gemm = file.Graph.Node.Single(n => n.OpType == "Gemm");
        gemm.Output[0] = "raw_logits";
        file.Graph.Node.Add(new NodeProto { Name = "probabilities", OpType = "Softmax", Input = { "raw_logits" }, Output = { "logits" } });
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Contains("raw_logits", e.Message);
    }

    [Fact]
    public void UnknownOperatorInAUnitIsNamed()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        var relu = file.Graph.Node.First(n => n.Name == "/units.1/Relu");
        relu.OpType = "LeakyRelu";
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.1/Relu", e.NodeName);
        Assert.Contains("LeakyRelu", e.Message);
    }

    [Fact]
    public void CustomDomainOperatorIsRejected()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        file.Graph.Node.First(n => n.OpType == "Conv").Domain = "com.microsoft";
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        Assert.Contains("com.microsoft", e.Message);
    }

    [Fact]
    public void WeightWithTooFewBytesNamesTheNode()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        var conv = file.Graph.Node.First(n => n.Name == "/units.2/dw/Conv");
        var init = file.Graph.Initializer.Single(i => i.Name == conv.Input[1]);
        init.RawData = ByteString.CopyFrom(init.RawData.Span[..^4]);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.2/dw/Conv", e.NodeName);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void NodeWithoutOutputIsRejected()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        file.Graph.Node.First(n => n.OpType == "Relu").Output.Clear();
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        Assert.Contains("no output", e.Message);
    }

    [Fact]
    public void ExternalDataIsRejectedWithAHint()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        var init = file.Graph.Initializer.First(i => i.Dims.Count == 4);
        init.DataLocation = TensorProto.Types.DataLocation.External;
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64.Description));
        Assert.Contains("external data", e.Message);
    }

    [Fact]
    public void EmptyGarbageAndNonOnnxDataGiveOnnxFormatException()
    {
        Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(new MemoryStream(), G3Small64.Description));
        var safetensors = SafetensorsFiles.Fixture("g3_small_64");
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(new MemoryStream(safetensors), G3Small64.Description));
        _output.WriteLine(e.Message);
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            var bytes = new byte[random.Next(1, 4096)];
            random.NextBytes(bytes);
            Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(new MemoryStream(bytes), G3Small64.Description));
        }
    }

    [Fact]
    public void TruncatedFilesGiveOnnxFormatException()
    {
        var bytes = File.ReadAllBytes(OnnxFixture.Path("g3_small_64.onnx"));
        var random = new Random(11);
        var cuts = new List<int> { 0, 1, 2, 16, bytes.Length / 2, bytes.Length - 1 };
        for (int i = 0; i < 40; i++) cuts.Add(random.Next(bytes.Length));
        foreach (int cut in cuts)
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(new MemoryStream(bytes, 0, cut), G3Small64.Description));
            if (cut == bytes.Length / 2) _output.WriteLine($"cut at {cut}: {e.Message}");
        }
        string path = Path.Combine(Path.GetTempPath(), $"shufflenetgen-truncated-{Environment.ProcessId}.onnx");
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 3).ToArray());
        try
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(path, G3Small64.Description));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void CorruptedBytesNeverEscapeAsAnotherExceptionType()
    {
        var bytes = File.ReadAllBytes(OnnxFixture.Path("g8_gray_48x40.onnx"));
        var random = new Random(5);
        int rejected = 0;
        for (int i = 0; i < 400; i++)
        {
            var copy = (byte[])bytes.Clone();
            // Half the copies are damaged only in the first 4 KB, where torch writes the nodes and attributes.
            int range = i % 2 == 0 ? copy.Length : 4096;
            for (int k = 0; k < 4; k++) copy[random.Next(range)] = (byte)random.Next(256);
            try
            {
                OnnxWeights.Read(new MemoryStream(copy), G8Gray48x40.Description);
            }
            catch (OnnxFormatException)
            {
                rejected++;
            }
        }
        _output.WriteLine($"{rejected} of 400 corrupted copies rejected with OnnxFormatException (the rest changed only weight values)");
        Assert.True(rejected > 0);
    }
}
