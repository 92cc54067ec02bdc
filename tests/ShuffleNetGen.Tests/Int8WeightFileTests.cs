using System.Text;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The int8 weight file (docs/int8.md, "Weights at rest"): written from calibrated float weights, it must bind to the
/// same packed weights, so the same logits bit for bit; a file of another version or a corrupt one must be refused
/// naming the version or the tensor and what was expected.
/// </summary>
public class Int8WeightFileTests
{
    private readonly ITestOutputHelper _output;

    public Int8WeightFileTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void V1FileGivesTheCalibratedModelsLogitsBitForBit() => AssertRoundTrip<G3Small64Int8>(5);

    [Fact]
    public void V1OfficialOrderGrayFileGivesTheCalibratedModelsLogitsBitForBit() => AssertRoundTrip<G8Gray48x40OfficialInt8>(6);

    [Fact]
    public void V2FileGivesTheCalibratedModelsLogitsBitForBit() => AssertRoundTrip<V2Custom57x41Int8>(7);

    [Fact]
    public void V2OddHalvesFileGivesTheCalibratedModelsLogitsBitForBit() => AssertRoundTrip<V2OddHalves17x13Int8>(8);

    private void AssertRoundTrip<TModel>(int seed) where TModel : class, IShuffleNetModel<TModel>
    {
        var description = TModel.Description;
        var calibrated = RandomWeights.ForModel(description, seed);
        var fromTensors = TModel.FromTensors(calibrated);

        var floatFile = new MemoryStream();
        Safetensors.Write(floatFile, calibrated);
        var int8File = new MemoryStream();
        Safetensors.Write(int8File, calibrated, description);
        _output.WriteLine($"{description.Name}: calibrated F32 file {floatFile.Length} bytes, int8 file {int8File.Length} bytes ({(double)int8File.Length / floatFile.Length:F3}x)");
        Assert.True(int8File.Length < floatFile.Length / 2, $"int8 file {int8File.Length} bytes against {floatFile.Length} for float");

        floatFile.Position = 0;
        int8File.Position = 0;
        var fromFloatFile = TModel.FromSafetensors(floatFile);
        var fromInt8File = TModel.FromSafetensors(int8File);
        // Written again from what was read, the file is the same bytes: nothing is lost or re-rounded on the way.
        int8File.Position = 0;
        var reread = Safetensors.Read(int8File, description);
        var again = new MemoryStream();
        Safetensors.Write(again, reread, description);
        Assert.Equal(int8File.ToArray(), again.ToArray());

        // The packed weights themselves, not only the logits: the int8 layers requantize their inputs, so a multiplier
        // one ulp off can leave every logit of a few images unchanged.
        var packed = PackedWeights(fromTensors);
        AssertBitwiseEqual(packed, PackedWeights(fromInt8File));
        AssertBitwiseEqual(packed, PackedWeights(fromFloatFile));

        var expected = new float[TModel.ClassCount];
        var actual = new float[TModel.ClassCount];
        foreach (var image in RandomWeights.Images(TModel.InputElementCount, 6, seed + 100))
        {
            fromTensors.Forward(image, expected);
            fromInt8File.Forward(image, actual);
            AssertBitwiseEqual(expected, actual);
            fromFloatFile.Forward(image, actual);
            AssertBitwiseEqual(expected, actual);
        }
    }

    private static float[] PackedWeights<TModel>(TModel model) =>
        (float[])typeof(TModel).GetField("_sngWeights", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(model)!;

    private static void AssertBitwiseEqual(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"element {i}: {expected[i]:R} from the calibrated tensors, {actual[i]:R} from the file");
    }

    /// <summary>
    /// tools/quantize.py's output (the trained Fashion-MNIST weights plus torch.ao's activation scales, the fixture of
    /// tools/make_int8_fixtures.py) converts through the same writer, to the same packed weights, at under a third of
    /// the size: the depthwise and head layers that stay F32 are a larger share of this small model.
    /// </summary>
    [Fact]
    public void QuantizeScriptOutputConvertsToAFileOfTheSamePackedWeights()
    {
        var calibrated = Safetensors.Read(Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors"));
        foreach (var t in Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "int8", "fashion_torchao.calibration.safetensors"))) calibrated.Add(t);
        var floatFile = new MemoryStream();
        Safetensors.Write(floatFile, calibrated);
        var int8File = new MemoryStream();
        Safetensors.Write(int8File, calibrated, FashionNetInt8ForTests.Description);
        _output.WriteLine($"Fashion-MNIST int8: calibrated F32 file {floatFile.Length} bytes, int8 file {int8File.Length} bytes ({(double)int8File.Length / floatFile.Length:F3}x)");
        Assert.True(int8File.Length * 3 < floatFile.Length, $"int8 file {int8File.Length} bytes against {floatFile.Length} for float");

        int8File.Position = 0;
        AssertBitwiseEqual(PackedWeights(FashionNetInt8ForTests.FromTensors(calibrated)), PackedWeights(FashionNetInt8ForTests.FromSafetensors(int8File)));
    }

    [Fact]
    public void FileHoldsI8WeightsFoldedBiasesAndTheFormatVersion()
    {
        var description = G3Small64Int8.Description;
        var folded = Int8WeightFile.Fold(description, RandomWeights.ForModel(description, 3));
        Assert.Equal("int8", folded.Metadata["shufflenetgen.format"]);
        Assert.Equal("1", folded.Metadata["shufflenetgen.format_version"]);
        Assert.Equal(TensorDType.I8, folded["units.0.conv1.weight"].DType);
        Assert.Equal(TensorDType.I8, folded["fc.weight"].DType);
        Assert.Equal(TensorDType.F32, folded["units.0.dw.weight"].DType);
        Assert.Equal(new[] { folded["units.0.conv1.weight"].Shape[0] }, folded["units.0.conv1.weight_scale"].Shape);
        Assert.True(folded.TryGet("units.0.dw.bias", out _));
        Assert.False(folded.TryGet("units.0.bn1.running_var", out _));
        Assert.All(folded["units.0.conv1.weight"].Data, v => Assert.InRange(v, -127, 127));
        var layout = Int8WeightFile.Layout(description);
        Assert.Equal(layout.Select(l => l.Shape.Name), folded.Select(t => t.Name));
    }

    [Fact]
    public void CalibratingOrRunningAnInt8FileInFloatIsRefusedNamingTheFormat()
    {
        var description = G3Small64Int8.Description;
        var image = new float[G3Small64Int8.InputLength];
        var calibrate = Assert.Throws<ArgumentException>(() => Int8Calibration.Calibrate(description, Folded(), new[] { image }));
        Assert.Contains("int8 weight file", calibrate.Message);
        Assert.Contains("float", calibrate.Message);
        var forward = Assert.Throws<ArgumentException>(() => Int8Calibration.ForwardFloat(description, Folded(), image));
        Assert.Contains("int8 weight file", forward.Message);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("0")]
    [InlineData("1.0")]
    public void AFileOfAnotherVersionIsRefusedNamingBothVersions(string version)
    {
        var stream = PatchedHeader(h => h.Replace("\"shufflenetgen.format_version\":\"1\"", $"\"shufflenetgen.format_version\":\"{version}\""));
        var e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromSafetensors(stream));
        Assert.Contains($"version '{version}'", e.Message);
        Assert.Contains("reads version 1 only", e.Message);
    }

    [Fact]
    public void AFileWithoutAVersionOrOfAnotherFormatIsRefused()
    {
        var e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromSafetensors(PatchedHeader(h => h.Replace(",\"shufflenetgen.format_version\":\"1\"", ""))));
        Assert.Contains("without 'shufflenetgen.format_version'; expected version 1", e.Message);
        e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromSafetensors(PatchedHeader(h => h.Replace("\"shufflenetgen.format\":\"int8\"", "\"shufflenetgen.format\":\"int4\""))));
        Assert.Contains("'int4'", e.Message);
        Assert.Contains("reads 'int8'", e.Message);
    }

    [Fact]
    public void AVersionWrittenAsANumberIsRefusedNotIgnored()
    {
        var stream = PatchedHeader(h => h.Replace("\"shufflenetgen.format_version\":\"1\"", "\"shufflenetgen.format_version\":2"));
        var e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromSafetensors(stream));
        Assert.Contains("'shufflenetgen.format_version' is 2", e.Message);
    }

    [Fact]
    public void AQuantizedWeightStoredAsF32IsRefusedNamingItAndTheDtype()
    {
        const string name = "units.1.conv3.weight";
        var e = LoadCorrupt(name, t => new NamedTensor(t.Name, t.Shape, t.Data, TensorDType.F32));
        Assert.Contains($"'{name}' is F32; expected I8", e.Message);
    }

    [Fact]
    public void AFoldedDepthwiseWeightStoredAsI8IsRefused()
    {
        const string name = "units.1.dw.weight";
        var e = LoadCorrupt(name, t => new NamedTensor(t.Name, t.Shape, t.Data.Select(v => MathF.Round(Math.Clamp(v, -100, 100))).ToArray(), TensorDType.I8));
        Assert.Contains($"'{name}' is I8; expected F32", e.Message);
    }

    [Fact]
    public void AMisShapedScaleIsRefusedNamingItAndTheShapeExpected()
    {
        const string name = "units.2.conv1.weight_scale";
        var e = LoadCorrupt(name, t => new NamedTensor(t.Name, new[] { 1, t.Shape[0] }, t.Data));
        Assert.Contains($"'{name}' has shape [1, {ScaleCount(name)}]; expected F32 [{ScaleCount(name)}]", e.Message);
    }

    [Fact]
    public void AMissingScaleIsRefusedNamingIt()
    {
        const string name = "fc.weight_scale";
        var e = LoadCorrupt(name, _ => null);
        Assert.Contains($"lacks tensor '{name}'; expected F32 [{ScaleCount(name)}] (one weight scale per output channel)", e.Message);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(0f, "0")]
    [InlineData(-0.5f, "-0.5")]
    [InlineData(float.PositiveInfinity, "+Infinity")]
    public void ABadScaleIsRefusedNamingItsTensorAndChannel(float bad, string shown)
    {
        const string name = "units.3.conv3.weight_scale";
        var e = LoadCorrupt(name, t =>
        {
            var data = (float[])t.Data.Clone();
            data[2] = bad;
            return new NamedTensor(t.Name, t.Shape, data);
        });
        Assert.Contains($"'{name}' holds {shown}", e.Message);
    }

    [Fact]
    public void AWeightOfMinus128IsRefused()
    {
        const string name = "units.0.conv1.weight";
        var e = LoadCorrupt(name, t =>
        {
            var data = (float[])t.Data.Clone();
            data[1] = -128;
            return new NamedTensor(t.Name, t.Shape, data, TensorDType.I8);
        });
        Assert.Contains($"'{name}' holds -128 at flat index 1; quantized weights are symmetric, -127..127", e.Message);
    }

    [Fact]
    public void I8TensorsWithoutTheFormatsMetadataAreRefused()
    {
        // The key renamed, same length: a file with I8 tensors whose metadata says nothing about them.
        var stream = PatchedHeader(h => h.Replace("\"shufflenetgen.format\":", "\"shufflenetgen.formax\":"));
        var e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromSafetensors(stream));
        Assert.Equal("units.0.conv1.weight", e.TensorName);
        Assert.Contains("which ShuffleNetGen reads only in an int8 weight file", e.Message);
    }

    [Fact]
    public void TheWriterRefusesWhatTheReaderWouldRefuse()
    {
        var unknownVersion = Folded();
        unknownVersion.Metadata["shufflenetgen.format_version"] = "2";
        var e = Assert.Throws<ArgumentException>(() => Safetensors.Write(new MemoryStream(), unknownVersion));
        Assert.Contains("version '2'", e.Message);

        var noFormat = Folded();
        noFormat.Metadata.Clear();
        e = Assert.Throws<ArgumentException>(() => Safetensors.Write(new MemoryStream(), noFormat));
        Assert.Contains("Tensor 'units.0.conv1.weight' is I8, which is read only in an int8 weight file", e.Message);
    }

    [Fact]
    public void AFloatModelRefusesAnInt8File()
    {
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromSafetensors(Int8File()));
        Assert.Contains("G3Small64 is a float model, but the weights are an int8 weight file", e.Message);
    }

    [Fact]
    public void FloatTensorsStillLoadAfterAnInt8FileWasRead()
    {
        // The format is a property of the tensor set, never of the model: the same model class binds both forms.
        var calibrated = RandomWeights.ForModel(G3Small64Int8.Description, 9);
        G3Small64Int8.FromSafetensors(Int8File());
        var image = RandomWeights.Images(G3Small64Int8.InputLength, 1, 1)[0];
        var a = new float[G3Small64Int8.Classes];
        var b = new float[G3Small64Int8.Classes];
        G3Small64Int8.FromTensors(calibrated).Forward(image, a);
        G3Small64Int8.FromTensors(Int8WeightFile.Fold(G3Small64Int8.Description, calibrated)).Forward(image, b);
        AssertBitwiseEqual(a, b);
    }

    private static int ScaleCount(string name) =>
        G3Small64Int8.WeightLayout.Single(t => t.Name == name.Replace(".weight_scale", ".weight")).Dimensions[0];

    private static TensorSet Folded() => Int8WeightFile.Fold(G3Small64Int8.Description, RandomWeights.ForModel(G3Small64Int8.Description, 4));

    private static MemoryStream Int8File()
    {
        var set = Folded();
        var stream = new MemoryStream();
        Safetensors.Write(stream, set);
        stream.Position = 0;
        return stream;
    }

    /// <summary>
    /// The int8 file of a random model with its JSON header edited as text (the writer refuses to write such files).
    /// The data offsets count from the data section, so only the length prefix and the padding change.
    /// </summary>
    private static MemoryStream PatchedHeader(Func<string, string> edit)
    {
        var file = Int8File().ToArray();
        int length = (int)BitConverter.ToUInt64(file, 0);
        string header = Encoding.UTF8.GetString(file, 8, length);
        string patched = edit(header).TrimEnd();
        Assert.NotEqual(header.TrimEnd(), patched);
        var json = Encoding.UTF8.GetBytes(patched.PadRight((patched.Length + 7) & ~7));
        var result = new MemoryStream();
        result.Write(BitConverter.GetBytes((ulong)json.Length));
        result.Write(json);
        result.Write(file, 8 + length, file.Length - 8 - length);
        result.Position = 0;
        return result;
    }

    /// <summary>
    /// Loads an int8 file with one tensor replaced (or left out, for null) by the file route and by the in-memory one;
    /// both must refuse it naming that tensor. Returns the file route's exception.
    /// </summary>
    private static WeightFormatException LoadCorrupt(string name, Func<NamedTensor, NamedTensor?> corrupt)
    {
        var good = Folded();
        var bad = new TensorSet();
        foreach (var pair in good.Metadata) bad.Metadata[pair.Key] = pair.Value;
        foreach (var t in good)
        {
            var replacement = t.Name == name ? corrupt(t) : t;
            if (replacement is not null) bad.Add(replacement);
        }
        var stream = new MemoryStream();
        Safetensors.Write(stream, bad);
        stream.Position = 0;
        var fromFile = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromSafetensors(stream));
        Assert.Equal(name, fromFile.TensorName);
        var fromTensors = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromTensors(bad));
        Assert.Equal(name, fromTensors.TensorName);
        return fromFile;
    }
}
