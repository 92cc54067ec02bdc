using Google.Protobuf;
using ShuffleNetGen.Onnx;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// QDQ-quantized ONNX models read by <see cref="OnnxWeights"/>: built here from the float fixture by a small QDQ
/// writer of the tests' own (so the expected activation scales are known), and every malformed or unsupported
/// quantization named at its node.
/// </summary>
public class OnnxQdqImportTests
{
    private readonly ITestOutputHelper _output;

    public OnnxQdqImportTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// The file's 1x1 convolutions as the tests' QDQ writer quantizes them: the calibrated 7-bit range re-stated over
    /// the full uint8 range (a QDQ pair states a range), weights int8 per output channel behind DequantizeLinear.
    /// </summary>
    private static (ModelProto File, TensorSet Calibrated) QuantizedG3Small64()
    {
        var floatWeights = OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description);
        var calibrated = Int8Calibration.Calibrate(G3Small64Int8.Description, floatWeights, RandomWeights.Images(G3Small64.InputLength, 8, 5));
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        foreach (var conv in file.Graph.Node.Where(n => n.OpType == "Conv").ToList())
        {
            string? name = PointwiseName(conv);
            if (name is null) continue;
            float scale7 = calibrated[name + Int8Calibration.InputScaleSuffix].Data[0];
            int zero7 = (int)calibrated[name + Int8Calibration.InputZeroPointSuffix].Data[0];
            // The same real range [−z7·s7, (127 − z7)·s7] over 0..255.
            double low = -zero7 * (double)scale7, high = (127 - zero7) * (double)scale7;
            float scale8 = (float)((high - low) / 255);
            int zero8 = (int)Math.Clamp(Math.Round(-low / scale8, MidpointRounding.ToEven), 0, 255);
            QuantizeInput(file, conv, scale8, zero8);
            QuantizeWeightPerChannel(file, conv);
        }
        return (file, calibrated);
    }

    /// <summary>"units.N.conv1" for torch's "/units.N/conv1/Conv", or null for another convolution.</summary>
    private static string? PointwiseName(NodeProto conv)
    {
        var parts = conv.Name.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 3 && parts[0].StartsWith("units.", StringComparison.Ordinal) && parts[1] is "conv1" or "conv3" ? parts[0] + "." + parts[1] : null;
    }

    private static void QuantizeInput(ModelProto file, NodeProto conv, float scale, int zero)
    {
        string x = conv.Input[0], prefix = conv.Name + "/input";
        file.Graph.Initializer.Add(FloatScalar(prefix + "_scale", scale));
        file.Graph.Initializer.Add(new TensorProto { Name = prefix + "_zero", DataType = (int)TensorProto.Types.DataType.Uint8, RawData = ByteString.CopyFrom((byte)zero) });
        int at = file.Graph.Node.IndexOf(conv);
        file.Graph.Node.Insert(at, new NodeProto { Name = prefix + "_Q", OpType = "QuantizeLinear", Input = { x, prefix + "_scale", prefix + "_zero" }, Output = { prefix + "_q" } });
        file.Graph.Node.Insert(at + 1, new NodeProto { Name = prefix + "_DQ", OpType = "DequantizeLinear", Input = { prefix + "_q", prefix + "_scale", prefix + "_zero" }, Output = { prefix + "_dq" } });
        conv.Input[0] = prefix + "_dq";
    }

    private static void QuantizeWeightPerChannel(ModelProto file, NodeProto conv)
    {
        var weight = file.Graph.Initializer.Single(i => i.Name == conv.Input[1]);
        var values = new float[weight.RawData.Length / 4];
        Buffer.BlockCopy(weight.RawData.ToByteArray(), 0, values, 0, weight.RawData.Length);
        int outputs = (int)weight.Dims[0], per = values.Length / outputs;
        var q = new byte[values.Length];
        var scales = new float[outputs];
        for (int o = 0; o < outputs; o++)
        {
            float largest = 0;
            for (int i = 0; i < per; i++) largest = Math.Max(largest, Math.Abs(values[o * per + i]));
            scales[o] = largest == 0 ? 1 : largest / 127;
            for (int i = 0; i < per; i++) q[o * per + i] = (byte)(sbyte)Math.Round(values[o * per + i] / scales[o]);
        }
        string name = conv.Name + "/weight";
        var quantized = new TensorProto { Name = name + "_q", DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(q) };
        quantized.Dims.AddRange(weight.Dims);
        var scaleTensor = new TensorProto { Name = name + "_scale", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { scales } };
        scaleTensor.Dims.Add(outputs);
        file.Graph.Initializer.Remove(weight);
        file.Graph.Initializer.Add(quantized);
        file.Graph.Initializer.Add(scaleTensor);
        int at = file.Graph.Node.IndexOf(conv);
        var dq = new NodeProto { Name = name + "_DQ", OpType = "DequantizeLinear", Input = { name + "_q", name + "_scale" }, Output = { name + "_dq" } };
        dq.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        file.Graph.Node.Insert(at, dq);
        conv.Input[1] = name + "_dq";
    }

    private static TensorProto FloatScalar(string name, float value) =>
        new() { Name = name, DataType = (int)TensorProto.Types.DataType.Float, FloatData = { value } };

    [Fact]
    public void QdqPairsGiveTheCalibratedActivationScalesAndTheSameLogits()
    {
        var (file, calibrated) = QuantizedG3Small64();
        var imported = OnnxFixture.Read(file, G3Small64Int8.Description);

        double worstScale = 0;
        foreach (var conv in Int8Calibration.PointwiseConvolutions(G3Small64Int8.Description))
        {
            float expected = calibrated[conv + Int8Calibration.InputScaleSuffix].Data[0];
            float got = imported[conv + Int8Calibration.InputScaleSuffix].Data[0];
            worstScale = Math.Max(worstScale, Math.Abs(got - (double)expected) / expected);
            Assert.Equal(calibrated[conv + Int8Calibration.InputZeroPointSuffix].Data[0], imported[conv + Int8Calibration.InputZeroPointSuffix].Data[0]);
        }
        _output.WriteLine($"largest relative scale difference after the uint8 round trip: {worstScale:E2}");
        Assert.True(worstScale < 1e-6, $"scale off by {worstScale:E2} relative");

        // Dequantized weights re-quantize to the same integers, so the int8 logits stay where calibration put them.
        var fromFile = G3Small64Int8.FromTensors(imported);
        var fromCalibration = G3Small64Int8.FromTensors(calibrated);
        double worst = 0;
        foreach (var image in RandomWeights.Images(G3Small64.InputLength, 4, 9))
        {
            var a = new float[G3Small64.Classes];
            var b = new float[G3Small64.Classes];
            fromFile.Forward(image, a);
            fromCalibration.Forward(image, b);
            double range = b.Max(v => Math.Abs((double)v));
            worst = Math.Max(worst, a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max() / range);
        }
        _output.WriteLine($"int8 logits, QDQ file against direct calibration: max relative difference {worst:E2}");
        // The weights' integers are the same and the bias stays float here, so only a scale's last bit can differ.
        Assert.True(worst < 1e-5, $"logits differ by {worst:E2} relative");
    }

    /// <summary>
    /// The torch.ao route end to end: tools/quantize.py calibrated the trained Fashion-MNIST model with torch's
    /// histogram observers (7-bit, reduce_range) and wrote both the calibration tensors and the QDQ model
    /// (tools/make_int8_fixtures.py). Both load, agree with each other, and follow torch's own quantized model.
    /// </summary>
    [Fact]
    public void TorchAoCalibrationLoadsFromSafetensorsAndFromItsQdqModelAlike()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "int8");
        var weights = Safetensors.Read(Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors"));
        var withTorchScales = new TensorSet();
        foreach (var t in weights) withTorchScales.Add(t);
        foreach (var t in Safetensors.Read(Path.Combine(folder, "fashion_torchao.calibration.safetensors"))) withTorchScales.Add(t);
        var fromSafetensors = FashionNetInt8ForTests.FromTensors(withTorchScales);
        var imported = OnnxWeights.Read(Path.Combine(folder, "fashion_torchao_qdq.onnx"), FashionNetInt8ForTests.Description);
        var fromOnnx = FashionNetInt8ForTests.FromTensors(imported);

        foreach (var conv in Int8Calibration.PointwiseConvolutions(FashionNetInt8ForTests.Description))
        {
            float torchScale = withTorchScales[conv + Int8Calibration.InputScaleSuffix].Data[0];
            float fileScale = imported[conv + Int8Calibration.InputScaleSuffix].Data[0];
            Assert.True(Math.Abs(fileScale - torchScale) <= 2.5e-7 * torchScale, $"{conv}: scale {fileScale:R} from the QDQ file, {torchScale:R} from torch.ao");
            Assert.Equal(withTorchScales[conv + Int8Calibration.InputZeroPointSuffix].Data[0], imported[conv + Int8Calibration.InputZeroPointSuffix].Data[0]);
        }

        var io = Safetensors.Read(Path.Combine(folder, "fashion_torchao.io.safetensors"));
        var input = io["input"].Data;
        var torchInt8 = io["torch_int8_logits"].Data;
        var torchFloat = io["float_logits"].Data;
        int count = io["input"].Shape[0], classes = FashionNetInt8ForTests.Classes, length = FashionNetInt8ForTests.InputLength;
        int routesAgree = 0, safetensorsAgreeWithTorch = 0, onnxAgreesWithTorch = 0, agreeWithFloat = 0;
        double worstRouteCosine = 1, worstTorchCosine = 1, worstRouteDifference = 0;
        var a = new float[classes];
        var b = new float[classes];
        for (int k = 0; k < count; k++)
        {
            var image = input.AsSpan(k * length, length).ToArray();
            fromSafetensors.Forward(image, a);
            fromOnnx.Forward(image, b);
            var torchRow = torchInt8.AsSpan(k * classes, classes).ToArray();
            if (Logits.ArgMax(a) == Logits.ArgMax(b)) routesAgree++;
            if (Logits.ArgMax(a) == Logits.ArgMax(torchRow)) safetensorsAgreeWithTorch++;
            if (Logits.ArgMax(b) == Logits.ArgMax(torchRow)) onnxAgreesWithTorch++;
            if (Logits.ArgMax(a) == Logits.ArgMax(torchFloat.AsSpan(k * classes, classes).ToArray())) agreeWithFloat++;
            worstRouteCosine = Math.Min(worstRouteCosine, Logits.Cosine(a, b, centred: false));
            worstRouteDifference = Math.Max(worstRouteDifference, a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max());
            worstTorchCosine = Math.Min(worstTorchCosine, Math.Min(Logits.Cosine(a, torchRow, centred: false), Logits.Cosine(b, torchRow, centred: false)));
        }
        _output.WriteLine($"{count} images: safetensors route against QDQ route: top-1 {routesAgree}/{count}, worst cosine {worstRouteCosine:F6}, max |dlogit| {worstRouteDifference:F4}; " +
                          $"against torch's int8 model: top-1 {safetensorsAgreeWithTorch}/{count} and {onnxAgreesWithTorch}/{count}, worst cosine {worstTorchCosine:F5}; safetensors route against float: top-1 {agreeWithFloat}/{count}");
        // The routes differ in the bias: the QDQ file stores it as int32 at input scale x weight scale (as ONNX
        // Runtime needs it), a rounding of up to half that step, which moves some activations across a quantization
        // step downstream. Close, then, not equal.
        Assert.True(routesAgree >= count - 1, $"the two routes agree on top-1 for {routesAgree}/{count}");
        Assert.True(worstRouteCosine > 0.999, $"worst cosine between the two routes {worstRouteCosine:F6}");
        // torch's model also requantizes every conv output, which ShuffleNetGen does not.
        Assert.True(Math.Min(safetensorsAgreeWithTorch, onnxAgreesWithTorch) >= count - 1, $"top-1 agrees with torch's int8 model on {safetensorsAgreeWithTorch} and {onnxAgreesWithTorch} of {count}");
        Assert.True(worstTorchCosine > 0.99, $"worst cosine with torch's int8 logits {worstTorchCosine:F5}");
    }

    [Fact]
    public void FloatOnnxForAnInt8ModelGivesFloatWeightsForCalibration()
    {
        var tensors = OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64Int8.Description);
        Assert.DoesNotContain(tensors, t => t.Name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal));
        var e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromTensors(tensors));
        Assert.Contains("Int8Calibration.Calibrate", e.Message);
        var calibrated = Int8Calibration.Calibrate(G3Small64Int8.Description, tensors, RandomWeights.Images(G3Small64.InputLength, 2, 1));
        Assert.NotNull(G3Small64Int8.FromTensors(calibrated));
    }

    [Fact]
    public void FloatModelReadsAQdqFileAsItsDequantizedWeights()
    {
        var (file, _) = QuantizedG3Small64();
        var tensors = OnnxFixture.Read(file, G3Small64.Description);
        Assert.Equal(G3Small64.Description.WeightLayout.Count, tensors.Count);
        var floatWeights = OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), G3Small64.Description);
        var w = tensors["units.0.conv1.weight"].Data;
        var original = floatWeights["units.0.conv1.weight"].Data;
        float largest = original.Max(Math.Abs);
        Assert.All(w.Zip(original), p => Assert.True(Math.Abs(p.First - p.Second) <= largest / 254 * 1.0001, $"{p.First} vs {p.Second}"));
    }

    [Fact]
    public void PartlyQuantizedFileNamesTheFirstConvolutionWithoutAPair()
    {
        var (file, _) = QuantizedG3Small64();
        var dq = file.Graph.Node.Single(n => n.Name == "/units.2/conv3/Conv/input_DQ");
        var conv = file.Graph.Node.Single(n => n.Name == "/units.2/conv3/Conv");
        conv.Input[0] = file.Graph.Node.Single(n => n.Name == "/units.2/conv3/Conv/input_Q").Input[0];
        file.Graph.Node.Remove(dq);
        file.Graph.Node.Remove(file.Graph.Node.Single(n => n.Name == "/units.2/conv3/Conv/input_Q"));
        file.Graph.Initializer.Remove(file.Graph.Initializer.Single(i => i.Name == "/units.2/conv3/Conv/input_scale"));
        file.Graph.Initializer.Remove(file.Graph.Initializer.Single(i => i.Name == "/units.2/conv3/Conv/input_zero"));
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.2/conv3/Conv", e.NodeName);
        Assert.Contains("units.2.conv3", e.Message);
    }

    [Fact]
    public void PairWithDifferentParametersNamesTheDequantize()
    {
        var (file, _) = QuantizedG3Small64();
        var dq = file.Graph.Node.Single(n => n.Name == "/units.1/conv1/Conv/input_DQ");
        file.Graph.Initializer.Add(FloatScalar("other_scale", 0.5f));
        dq.Input[1] = "other_scale";
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal(dq.Name, e.NodeName);
        Assert.Contains("same parameters", e.Message);
    }

    [Fact]
    public void PerAxisActivationScaleIsRejectedAtTheQuantize()
    {
        var (file, _) = QuantizedG3Small64();
        var scale = file.Graph.Initializer.Single(i => i.Name == "/units.1/conv1/Conv/input_scale");
        float value = scale.FloatData[0];
        scale.FloatData.Add(value);
        scale.Dims.Add(2);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.1/conv1/Conv/input_Q", e.NodeName);
        Assert.Contains("per axis", e.Message);
    }

    [Fact]
    public void SixteenBitActivationIsRejectedAtTheQuantize()
    {
        var (file, _) = QuantizedG3Small64();
        var zero = file.Graph.Initializer.Single(i => i.Name == "/units.0/conv1/Conv/input_zero");
        zero.DataType = (int)TensorProto.Types.DataType.Uint16;
        zero.RawData = ByteString.CopyFrom(new byte[] { zero.RawData[0], 0 });
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.0/conv1/Conv/input_Q", e.NodeName);
        Assert.Contains("UINT16", e.Message);
        // A float model does not use the activation ranges, so it reads the same file.
        Assert.Equal(G3Small64.Description.WeightLayout.Count, OnnxFixture.Read(file, G3Small64.Description).Count);
    }

    [Fact]
    public void QOperatorFormatIsNamedWithTheQdqHint()
    {
        var file = OnnxFixture.Parse("g3_small_64.onnx");
        var conv = file.Graph.Node.First(n => n.Name == "/units.0/conv1/Conv");
        conv.OpType = "QLinearConv";
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.0/conv1/Conv", e.NodeName);
        Assert.Contains("QuantFormat.QDQ", e.Message);
    }

    [Fact]
    public void QuantizedWeightWithTooFewBytesNamesTheDequantize()
    {
        var (file, _) = QuantizedG3Small64();
        var weight = file.Graph.Initializer.Single(i => i.Name == "/units.3/conv1/Conv/weight_q");
        weight.RawData = ByteString.CopyFrom(weight.RawData.Span[..^1]);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.3/conv1/Conv/weight_DQ", e.NodeName);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void PerChannelScalesOfTheWrongLengthNameTheDequantize()
    {
        var (file, _) = QuantizedG3Small64();
        var scales = file.Graph.Initializer.Single(i => i.Name == "/units.3/conv1/Conv/weight_scale");
        scales.FloatData.RemoveAt(scales.FloatData.Count - 1);
        scales.Dims[0] -= 1;
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, G3Small64Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.3/conv1/Conv/weight_DQ", e.NodeName);
        Assert.Contains("per-axis", e.Message);
    }

    // ------------------------------------------------------------ hostile activation and weight quantization (issue 23)

    /// <summary>The committed torch.ao QDQ fixture (tools/make_int8_fixtures.py): pairs on every 1x1 input and after every ReLU.</summary>
    private static ModelProto TorchAoQdq() =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "int8", "fashion_torchao_qdq.onnx")));

    private static void SetFloats(ModelProto file, string initializer, params float[] values)
    {
        var t = file.Graph.Initializer.Single(i => i.Name == initializer);
        Assert.Equal((int)TensorProto.Types.DataType.Float, t.DataType);
        var current = t.RawData.Length > 0 ? t.RawData.Length / 4 : t.FloatData.Count;
        Assert.Equal(current, values.Length);
        t.FloatData.Clear();
        t.RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray());
    }

    /// <summary>
    /// A scale whose stated range ((255 − zp)·scale) is beyond float range: it became +Infinity on its way to
    /// ActivationQuantization.FromRange, which turned it into scale 1, zero point 0 without a word. 1e36 (a range of
    /// 2.55e38) still fits, and loads as that range.
    /// </summary>
    [Theory]
    [InlineData(1e37f)]
    [InlineData(2e36f)]
    [InlineData(3e38f)]
    public void ActivationRangeBeyondFloatIsRefusedNamingTheQuantize(float scale)
    {
        var file = TorchAoQdq();
        SetFloats(file, "units.5.conv1.input.scale", scale);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, FashionNetInt8ForTests.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("units.5.conv1.input.QuantizeLinear", e.NodeName);
        Assert.Contains("units.5.conv1", e.Message);
        Assert.Contains("beyond float range", e.Message);
    }

    [Fact]
    public void ActivationRangeJustWithinFloatLoadsAsThatRange()
    {
        var file = TorchAoQdq();
        var zero = file.Graph.Initializer.Single(i => i.Name == "units.5.conv1.input.zero_point");
        Assert.Equal((int)TensorProto.Types.DataType.Uint8, zero.DataType);
        int z = zero.RawData[0];
        SetFloats(file, "units.5.conv1.input.scale", 1e36f);
        var tensors = OnnxFixture.Read(file, FashionNetInt8ForTests.Description);
        // The pair states [−z·s, (255 − z)·s]; widened to include 0 and spread over 127 steps.
        double low = Math.Min(-z * 1e36, 0), high = Math.Max((255 - z) * 1e36, 0);
        double expected = (high - low) / 127;
        float got = tensors["units.5.conv1.input_scale"].Data[0];
        Assert.True(Math.Abs(got - expected) <= 1e-6 * expected, $"scale {got:R}, expected about {expected:R}");
    }

    /// <summary>Dequantization scales that are zero or negative made weights and biases of zero or of flipped sign.</summary>
    [Theory]
    [InlineData(0f, "weight")]
    [InlineData(-0.01f, "weight")]
    [InlineData(0f, "bias")]
    [InlineData(-0.01f, "bias")]
    public void WeightOrBiasDequantizeScaleNotPositiveIsRefused(float scale, string role)
    {
        var file = TorchAoQdq();
        string initializer = $"units.2.conv3.{role}_scale";
        var values = file.Graph.Initializer.Single(i => i.Name == initializer);
        var current = Enumerable.Range(0, values.RawData.Length / 4).Select(i => BitConverter.ToSingle(values.RawData.Span.Slice(i * 4, 4))).ToArray();
        current[current.Length / 2] = scale;
        SetFloats(file, initializer, current);
        foreach (var description in new[] { FashionNetForTests.Description, FashionNetInt8ForTests.Description })
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, description));
            _output.WriteLine(e.Message);
            Assert.Equal($"units.2.conv3.{role}.DequantizeLinear", e.NodeName);
            Assert.Contains("positive and finite", e.Message);
        }
    }

    /// <summary>
    /// The pairs after the ReLUs (ONNX Runtime's output quantization) feed no 1x1 input, so no model reads their range;
    /// they were seen through whatever they held. A scale that is NaN, zero or negative is no quantization at all.
    /// </summary>
    [Theory]
    [InlineData(float.NaN)]
    [InlineData(0f)]
    [InlineData(-0.02f)]
    [InlineData(float.PositiveInfinity)]
    public void PairAfterReluWithAMeaninglessScaleIsRefused(float scale)
    {
        var file = TorchAoQdq();
        SetFloats(file, "units.3.conv1.output.scale", scale);
        foreach (var description in new[] { FashionNetForTests.Description, FashionNetInt8ForTests.Description })
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, description));
            _output.WriteLine(e.Message);
            Assert.Equal("units.3.conv1.output.QuantizeLinear", e.NodeName);
            Assert.Contains("positive and finite", e.Message);
        }
    }

    /// <summary>A pair after a ReLU whose halves disagree rescales the activation; a float model would drop that silently.</summary>
    [Fact]
    public void PairAfterReluWhoseHalvesDisagreeIsRefusedForAFloatModelToo()
    {
        var file = TorchAoQdq();
        var dq = file.Graph.Node.Single(n => n.Name == "units.3.conv1.output.DequantizeLinear");
        file.Graph.Initializer.Add(FloatScalar("other_scale", 0.5f));
        dq.Input[1] = "other_scale";
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, FashionNetForTests.Description));
        _output.WriteLine(e.Message);
        Assert.Equal(dq.Name, e.NodeName);
        Assert.Contains("same parameters", e.Message);
    }

    /// <summary>
    /// A QuantizeLinear's output is integers; a Conv cannot read it (the graph is not valid ONNX). The walk saw
    /// QuantizeLinear through like Identity, so a float model loaded the graph as if the DequantizeLinear were there.
    /// </summary>
    [Fact]
    public void ConvReadingAQuantizeLinearOutputIsRefused()
    {
        var file = TorchAoQdq();
        var dq = file.Graph.Node.Single(n => n.Name == "units.4.conv1.input.DequantizeLinear");
        var conv = file.Graph.Node.Single(n => n.Input.Count > 0 && n.Input[0] == dq.Output[0]);
        conv.Input[0] = dq.Input[0];
        file.Graph.Node.Remove(dq);
        foreach (var description in new[] { FashionNetForTests.Description, FashionNetInt8ForTests.Description })
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, description));
            _output.WriteLine(e.Message);
            Assert.Equal(conv.Name, e.NodeName);
            Assert.Contains("units.4.conv1.input.QuantizeLinear", e.Message);
            Assert.Contains("DequantizeLinear", e.Message);
        }
    }

    /// <summary>The unmutated fixture still loads for both models (the checks above refuse only what they should).</summary>
    [Fact]
    public void TorchAoQdqFixtureLoadsForTheFloatAndTheInt8Model()
    {
        Assert.Equal(FashionNetForTests.Description.WeightLayout.Count, OnnxFixture.Read(TorchAoQdq(), FashionNetForTests.Description).Count);
        Assert.Equal(FashionNetInt8ForTests.Description.WeightLayout.Count, OnnxFixture.Read(TorchAoQdq(), FashionNetInt8ForTests.Description).Count);
    }
}
