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
/// A QDQ ShuffleNet v2 read for an int8 model: tools/make_int8_fixtures.py observed every 1x1 convolution's input of
/// torchvision's ShuffleNetV2 (the custom_57x41 fixture) with torch.ao's histogram observers, and torch.onnx.export
/// wrote the fake-quantized model as QuantizeLinear/DequantizeLinear pairs. The activation scales come back as torch
/// observed them, the logits follow the file as a numpy ONNX interpreter ran it, and every malformed pair is named
/// at its node, wherever v2's structure puts it (after a split's Slice, on a unit's input beside branch1, on a
/// depthwise output, before conv5).
/// </summary>
public class OnnxV2QdqImportTests
{
    private readonly ITestOutputHelper _output;

    public OnnxV2QdqImportTests(ITestOutputHelper output) => _output = output;

    private static string FixturePath(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "int8", file);

    private const string Name = "v2_custom_57x41_torchao";

    private static ModelProto Qdq() => ModelProto.Parser.ParseFrom(File.ReadAllBytes(FixturePath(Name + "_qdq.onnx")));

    // The pair torch writes before stage2.1's branch2.0: it reads the second Slice of the unit's split.
    private const string SplitHalfPair = "/stage2/stage2.1/branch2/branch2.0/";

    [Fact]
    public void ActivationScalesAreTheOnesTorchAoObserved()
    {
        var imported = OnnxWeights.Read(FixturePath(Name + "_qdq.onnx"), V2Custom57x41Int8.Description);
        var observed = Safetensors.Read(FixturePath(Name + ".calibration.safetensors"));
        var convolutions = Int8Calibration.PointwiseConvolutions(V2Custom57x41Int8.Description);
        Assert.Equal(18, convolutions.Count);
        // torch's module order puts branch1 before branch2; the description's order does not matter here.
        Assert.Equal(convolutions.SelectMany(c => new[] { c + Int8Calibration.InputScaleSuffix, c + Int8Calibration.InputZeroPointSuffix }).Order(), observed.Select(t => t.Name).Order());
        double worst = 0;
        foreach (var conv in convolutions)
        {
            float torchScale = observed[conv + Int8Calibration.InputScaleSuffix].Data[0];
            float fileScale = imported[conv + Int8Calibration.InputScaleSuffix].Data[0];
            worst = Math.Max(worst, Math.Abs(fileScale - (double)torchScale) / torchScale);
            // The file states torch's 7-bit range over uint8's 255 steps; read back at 7 bits it is the same range.
            Assert.True(Math.Abs(fileScale - torchScale) <= 2.5e-7 * torchScale, $"{conv}: scale {fileScale:R} from the QDQ file, {torchScale:R} from torch.ao");
            Assert.Equal(observed[conv + Int8Calibration.InputZeroPointSuffix].Data[0], imported[conv + Int8Calibration.InputZeroPointSuffix].Data[0]);
        }
        _output.WriteLine($"{convolutions.Count} 1x1 inputs: largest relative scale difference from torch.ao's {worst:E2}");
    }

    /// <summary>
    /// The int8 model from the file against the file itself as tools/make_qdq_onnx.py's numpy interpreter ran it.
    /// They cannot agree exactly: the file quantizes each range to 8 bits, ShuffleNetGen to 7 (docs/int8.md), so a
    /// 1x1 input is off by up to half a 7-bit step. The weights are the file's own integers.
    /// </summary>
    [Fact]
    public void LogitsFollowTheQdqFileRunByAnOnnxInterpreter()
    {
        var imported = OnnxWeights.Read(FixturePath(Name + "_qdq.onnx"), V2Custom57x41Int8.Description);
        var fromFile = V2Custom57x41Int8.FromTensors(imported);
        var withObserved = new TensorSet();
        foreach (var t in V2Fixture.Load("custom_57x41").Weights()) withObserved.Add(t);
        foreach (var t in Safetensors.Read(FixturePath(Name + ".calibration.safetensors"))) withObserved.Add(t);
        var fromSafetensors = V2Custom57x41Int8.FromTensors(withObserved);

        var io = Safetensors.Read(FixturePath(Name + ".io.safetensors"));
        float[] input = io["input"].Data, expected = io["qdq_logits"].Data, floatLogits = io["float_logits"].Data;
        int count = io["input"].Shape[0], classes = V2Custom57x41Int8.Classes, length = V2Custom57x41Int8.InputLength;
        Assert.Equal(count * classes, expected.Length);
        double worstFile = 1, worstRoutes = 1, worstFloat = 1, largestError = 0;
        var a = new float[classes];
        var b = new float[classes];
        for (int k = 0; k < count; k++)
        {
            var image = input.AsSpan(k * length, length).ToArray();
            var want = expected.AsSpan(k * classes, classes);
            fromFile.Forward(image, a);
            fromSafetensors.Forward(image, b);
            worstFile = Math.Min(worstFile, Logits.Cosine(a, want, centred: true));
            worstRoutes = Math.Min(worstRoutes, Logits.Cosine(a, b, centred: true));
            worstFloat = Math.Min(worstFloat, Logits.Cosine(a, floatLogits.AsSpan(k * classes, classes), centred: true));
            largestError = Math.Max(largestError, Logits.RelativeError(a, want));
            Assert.Equal(Logits.ArgMax(want), Logits.ArgMax(a));
        }
        _output.WriteLine($"{count} images, worst centred cosine: int8 from the QDQ file vs the file run in numpy {worstFile:F6} (max relative error {largestError:E2}); " +
                          $"vs the float weights with torch.ao's scales {worstRoutes:F6}; vs float {worstFloat:F6}");
        Assert.True(worstFile > 0.995, $"worst centred cosine against the QDQ file's logits {worstFile:F6}");
        // The routes share the scales; they differ in the weights (the file's are torch's fold, stored as int8).
        Assert.True(worstRoutes > 0.999, $"worst centred cosine between the QDQ and the safetensors route {worstRoutes:F6}");
    }

    [Fact]
    public void TheFloatModelReadsTheQdqFileAsDequantizedWeights()
    {
        var tensors = OnnxFixture.Read(Qdq(), V2Custom57x41.Description);
        Assert.Equal(V2Custom57x41.Description.WeightLayout.Select(t => t.Name), tensors.Select(t => t.Name));
        Assert.DoesNotContain(tensors, t => t.Name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal));
    }

    // ------------------------------------------------------------------ hostile pairs

    /// <summary>The float value a Constant node holds (torch writes the pairs' scales as Constants), replaced.</summary>
    private static void SetConstant(ModelProto file, string output, float value)
    {
        var node = file.Graph.Node.Single(n => n.OpType == "Constant" && n.Output[0] == output);
        var tensor = node.Attribute.Single(a => a.Name == "value").T;
        Assert.Equal((int)TensorProto.Types.DataType.Float, tensor.DataType);
        tensor.FloatData.Clear();
        tensor.RawData = ByteString.CopyFrom(BitConverter.GetBytes(value));
    }

    private static NodeProto Node(ModelProto file, string name) => file.Graph.Node.Single(n => n.Name == name);

    /// <summary>Keeps the nodes in topological order, as ONNX requires: the pair, with the Constants of its scale and zero point, before <paramref name="reader"/>.</summary>
    private static void MovePairBefore(ModelProto file, NodeProto q, NodeProto dq, NodeProto reader)
    {
        var moved = new[] { q.Input[1], q.Input[2] }.Select(v => file.Graph.Node.Single(n => n.Output.Contains(v))).Append(q).Append(dq).ToList();
        foreach (var node in moved) file.Graph.Node.Remove(node);
        int at = file.Graph.Node.IndexOf(reader);
        foreach (var node in Enumerable.Reverse(moved)) file.Graph.Node.Insert(at, node);
    }

    private static string ScaleOf(ModelProto file, string pair) => Node(file, pair + "QuantizeLinear").Input[1];

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(0f)]
    [InlineData(-0.02f)]
    [InlineData(float.PositiveInfinity)]
    public void SplitHalfPairWithAMeaninglessScaleIsRefused(float scale)
    {
        var file = Qdq();
        SetConstant(file, ScaleOf(file, SplitHalfPair), scale);
        foreach (var description in new[] { V2Custom57x41.Description, V2Custom57x41Int8.Description })
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, description));
            _output.WriteLine(e.Message);
            Assert.Equal(SplitHalfPair + "QuantizeLinear", e.NodeName);
            Assert.Contains("positive and finite", e.Message);
        }
    }

    /// <summary>1e37 over 255 steps is beyond float range: as for v1, refused rather than turned into scale 1.</summary>
    [Fact]
    public void Conv5RangeBeyondFloatIsRefusedNamingTheQuantize()
    {
        var file = Qdq();
        SetConstant(file, ScaleOf(file, "/conv5/conv5.0/"), 1e37f);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, V2Custom57x41Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("/conv5/conv5.0/QuantizeLinear", e.NodeName);
        Assert.Contains("conv5.0", e.Message);
        Assert.Contains("beyond float range", e.Message);
    }

    /// <summary>The DequantizeLinear after the split rescales the half; read for the int8 model and for the float one.</summary>
    [Fact]
    public void SplitHalfPairWhoseHalvesDisagreeNamesTheDequantize()
    {
        var file = Qdq();
        var dq = Node(file, SplitHalfPair + "DequantizeLinear");
        file.Graph.Initializer.Add(new TensorProto { Name = "other_scale", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { 0.5f } });
        dq.Input[1] = "other_scale";
        foreach (var description in new[] { V2Custom57x41.Description, V2Custom57x41Int8.Description })
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, description));
            _output.WriteLine(e.Message);
            Assert.Equal(dq.Name, e.NodeName);
            Assert.Contains("same parameters", e.Message);
        }
    }

    /// <summary>branch1's 1x1 reads the depthwise output; without its pair the file quantizes 17 of 18 inputs.</summary>
    [Fact]
    public void FileWithoutOnePairNamesThatConvolution()
    {
        var file = Qdq();
        const string pair = "/stage3/stage3.0/branch1/branch1.2/";
        var conv = Node(file, pair + "Conv");
        var q = Node(file, pair + "QuantizeLinear");
        conv.Input[0] = q.Input[0];
        file.Graph.Node.Remove(Node(file, pair + "DequantizeLinear"));
        file.Graph.Node.Remove(q);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, V2Custom57x41Int8.Description));
        _output.WriteLine(e.Message);
        Assert.Equal(conv.Name, e.NodeName);
        Assert.Contains("17 of the model's 18", e.Message);
        Assert.Contains("stage3.0.branch1.2", e.Message);
        // A float model does not use the ranges.
        Assert.Equal(V2Custom57x41.Description.WeightLayout.Count, OnnxFixture.Read(file, V2Custom57x41.Description).Count);
    }

    /// <summary>
    /// A stride-2 unit's input feeds branch1's depthwise convolution and, through its pair, branch2's first 1x1; with
    /// the DequantizeLinear gone, that Conv would read integers (not valid ONNX), which the walk used to see through.
    /// </summary>
    [Fact]
    public void ConvReadingTheQuantizeOfAUnitInputIsRefused()
    {
        var file = Qdq();
        const string pair = "/stage3/stage3.0/branch2/branch2.0/";
        var conv = Node(file, pair + "Conv");
        var dq = Node(file, pair + "DequantizeLinear");
        conv.Input[0] = dq.Input[0];
        file.Graph.Node.Remove(dq);
        foreach (var description in new[] { V2Custom57x41.Description, V2Custom57x41Int8.Description })
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(file, description));
            _output.WriteLine(e.Message);
            Assert.Equal(conv.Name, e.NodeName);
            Assert.Contains(pair + "QuantizeLinear", e.Message);
        }
    }

    /// <summary>
    /// A stride-2 unit's one pair on its input serving both branches (ONNX Runtime's quantizer shares a pair among a
    /// tensor's readers): branch2's first 1x1 takes its range; branch1's depthwise convolution stays float here.
    /// </summary>
    [Fact]
    public void PairSharedByAStrideTwoUnitsBranchesGivesBranch2ItsRange()
    {
        var file = Qdq();
        var dq = Node(file, "/stage3/stage3.0/branch2/branch2.0/DequantizeLinear");
        var depthwise = Node(file, "/stage3/stage3.0/branch1/branch1.0/Conv");
        Assert.Equal(Node(file, "/stage3/stage3.0/branch2/branch2.0/QuantizeLinear").Input[0], depthwise.Input[0]);
        var q = Node(file, "/stage3/stage3.0/branch2/branch2.0/QuantizeLinear");
        depthwise.Input[0] = dq.Output[0];
        MovePairBefore(file, q, dq, depthwise);
        var shared = OnnxFixture.Read(file, V2Custom57x41Int8.Description);
        var original = OnnxWeights.Read(FixturePath(Name + "_qdq.onnx"), V2Custom57x41Int8.Description);
        foreach (var t in original) Assert.Equal(t.Data, shared[t.Name].Data);
    }

    /// <summary>
    /// One pair on a stride-1 unit's input, before the split (the untouched half is quantized too, in the file): branch2
    /// reads its half through that pair, so its first 1x1 takes that range, as a stride-2 unit's branch2 does from a pair
    /// it shares with branch1's depthwise convolution. Before, the int8 model refused the file as partly quantized.
    /// </summary>
    [Fact]
    public void PairBeforeTheSplitGivesBranch2ItsRange()
    {
        var file = Qdq();
        var q = Node(file, SplitHalfPair + "QuantizeLinear");
        var dq = Node(file, SplitHalfPair + "DequantizeLinear");
        var conv = Node(file, SplitHalfPair + "Conv");
        string half = q.Input[0];
        var slices = file.Graph.Node.Where(n => n.OpType == "Slice" && n.Name.StartsWith("/stage2/stage2.1/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, slices.Count);
        string unitInput = slices[0].Input[0];
        // unit input -> Q -> DQ -> both Slices; the second Slice feeds the conv directly.
        q.Input[0] = unitInput;
        foreach (var slice in slices) slice.Input[0] = dq.Output[0];
        conv.Input[0] = half;
        MovePairBefore(file, q, dq, slices[0]);

        var moved = OnnxFixture.Read(file, V2Custom57x41Int8.Description);
        var original = OnnxWeights.Read(FixturePath(Name + "_qdq.onnx"), V2Custom57x41Int8.Description);
        Assert.Equal(original.Select(t => t.Name), moved.Select(t => t.Name));
        foreach (var t in original) Assert.Equal(t.Data, moved[t.Name].Data);
        // The float model sees through the pair wherever it is.
        Assert.Equal(V2Custom57x41.Description.WeightLayout.Count, OnnxFixture.Read(file, V2Custom57x41.Description).Count);
    }
}
