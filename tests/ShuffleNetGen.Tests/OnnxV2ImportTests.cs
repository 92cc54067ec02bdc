using System.Diagnostics;
using Google.Protobuf;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using ShuffleNetGen.Onnx;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// ShuffleNet v2 ONNX files (tools/make_v2_fixtures.py: torchvision's ShuffleNetV2 through torch.onnx.export, static,
/// dynamic batch, BatchNormalization kept, opset 9 with a Split) imported with a description from the family's
/// lowering (code generation for v2 is not wired up yet, so no compiled model), run through the layer interpreter
/// against torchvision's logits; and every declaration the file does not match.
/// </summary>
public class OnnxV2ImportTests
{
    private readonly ITestOutputHelper _output;

    public OnnxV2ImportTests(ITestOutputHelper output) => _output = output;

    /// <summary>Every committed v2 ONNX file, with its fixture.</summary>
    public static TheoryData<string, string> Files
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var name in V2Fixture.StoredNames)
                foreach (var file in V2Fixture.Load(name).OnnxFiles) data.Add(file, name);
            return data;
        }
    }

    public static TheoryData<string> StoredFixtures => V2Fixture.StoredNameData;

    private static ModelDescription Describe(ReferenceV2Config config, string name = "Lowered") => Describe(V2LoweringTests.Spec(config), name);

    private static ModelDescription Describe(NetworkSpec spec, string name = "Lowered") => LoweredDescription.Of(spec, ModelPipeline.Build(spec), name);

    private const string Custom = "custom_57x41";

    private static ReferenceV2Config CustomConfig => V2Fixture.Load(Custom).Config;

    private static ModelProto Parse(string file) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(V2Fixture.PathOf(file)));

    [Theory]
    [MemberData(nameof(Files))]
    public void ImportedWeightsGiveTorchvisionsLogits(string file, string fixtureName)
    {
        var fixture = V2Fixture.Load(fixtureName);
        var description = Describe(fixture.Config);
        var weights = OnnxWeights.Read(V2Fixture.PathOf(file), description);
        Assert.Equal(description.WeightLayout.Select(t => t.ToString()), weights.Select(t => $"{t.Name} [{string.Join(", ", t.Shape)}]"));
        var logits = Int8Calibration.ForwardFloat(description, weights, fixture.Input);
        double error = Logits.RelativeError(logits, fixture.Logits);
        _output.WriteLine($"{file}: max |imported - torchvision| / max |logit| = {error:E2}");
        Assert.True(error <= 1e-5, $"{file}: relative error {error:E3}");
    }

    [Theory]
    [MemberData(nameof(StoredFixtures))]
    public void BatchNormalizationNodesGiveTheSafetensorsWeightsBitForBit(string name)
    {
        var fixture = V2Fixture.Load(name);
        var description = Describe(fixture.Config);
        var onnx = OnnxWeights.Read(V2Fixture.PathOf(name + "_bn.onnx"), description);
        var safetensors = fixture.Weights();
        Assert.Equal(description.WeightLayout.Count, onnx.Count);
        foreach (var shape in description.WeightLayout)
        {
            Assert.Equal(shape.Dimensions, onnx[shape.Name].Shape);
            Assert.True(safetensors[shape.Name].Data.AsSpan().SequenceEqual(onnx[shape.Name].Data), shape.Name);
        }
    }

    [Fact]
    public void AFoldedConvolutionGetsTheExactBatchNormEncodingAndTheStreamReadsTheSame()
    {
        var description = Describe(CustomConfig);
        var tensors = OnnxWeights.Read(V2Fixture.PathOf(Custom + ".onnx"), description);
        foreach (var bn in new[] { "conv1.1", "stage2.1.branch2.4", "stage3.0.branch1.3", "conv5.1" })
        {
            Assert.All(tensors[bn + ".weight"].Data, v => Assert.Equal(524288f, v));
            Assert.All(tensors[bn + ".running_var"].Data, v => Assert.Equal(274877906944f, v));
            Assert.All(tensors[bn + ".running_mean"].Data, v => Assert.Equal(0f, v));
        }
        // Scale exactly 1 and shift exactly the bias once the loader folds it.
        var packed = new float[16 * (3 * 9 + 1)];
        WeightPacker.Window3x3(tensors, "conv1.0", "conv1.1", 16, 3, packed);
        for (int c = 0; c < 16; c++)
        {
            for (int i = 0; i < 27; i++) Assert.Equal(tensors["conv1.0.weight"].Data[c * 27 + i], packed[c * 28 + i]);
            Assert.Equal(tensors["conv1.1.bias"].Data[c], packed[c * 28 + 27]);
        }

        using var stream = File.OpenRead(V2Fixture.PathOf(Custom + ".onnx"));
        var fromStream = OnnxWeights.Read(stream, description);
        foreach (var t in tensors) Assert.Equal(t.Data, fromStream[t.Name].Data);
    }

    // ------------------------------------------------------------------ mismatched declarations

    private OnnxFormatException Mismatch(string file, ModelDescription description, string node)
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(V2Fixture.PathOf(file), description));
        _output.WriteLine(e.Message);
        Assert.Equal(node, e.NodeName);
        Assert.Contains($"'{node}'", e.Message);
        Assert.Contains(file, e.Message);
        return e;
    }

    private static ModelDescription CustomWith(int[]? channels = null, int[]? repeats = null, int? classes = null) =>
        Describe(CustomConfig with { StageChannels = channels ?? CustomConfig.StageChannels, StageRepeats = repeats ?? CustomConfig.StageRepeats, Classes = classes ?? CustomConfig.Classes },
            "Custom57x41Variant");

    [Theory]
    [InlineData("custom_57x41.onnx")]
    [InlineData("custom_57x41_dynamic.onnx")]
    [InlineData("custom_57x41_bn.onnx")]
    [InlineData("custom_57x41_opset9.onnx")]
    public void OtherStageWidthsNameTheFirstConvolutionThatDiffers(string file)
    {
        var e = Mismatch(file, CustomWith(channels: new[] { 32, 80, 128 }), "/stage3/stage3.0/branch1/branch1.2/Conv");
        Assert.Contains("the model Custom57x41Variant expects branch1's 1x1 convolution (stage3.0.branch1.2) of unit 2 (stage3.0, the first of stage 3, stride 2)", e.Message);
        Assert.Contains("to map 32 to 40 channels (weight [40, 32, 1, 1])", e.Message);
        Assert.Contains("the graph's weight is [32, 32, 1, 1]", e.Message);
    }

    [Theory]
    [InlineData("custom_57x41.onnx", "/stage3/stage3.2/Slice")]
    [InlineData("custom_57x41_dynamic.onnx", "/stage3/stage3.2/Slice")]
    [InlineData("custom_57x41_opset9.onnx", "/stage3/stage3.2/Split")]
    public void FewerUnitsInAStageNameTheExtraUnitsSplit(string file, string node)
    {
        var e = Mismatch(file, CustomWith(repeats: new[] { 2, 2, 2 }), node);
        Assert.Contains("expects unit 4 (stage4.0, the first of stage 4, stride 2)", e.Message);
        Assert.Contains("stages [2, 2, 2]", e.Message);
        Assert.Contains("the graph splits the channels after unit 3 (stage3.1) for a stride-1 unit, so its stage 3 has more units than the declared 2", e.Message);
    }

    [Fact]
    public void FewerUnitsInTheLastStageNameTheSplitBeforeConv5()
    {
        var e = Mismatch("custom_57x41.onnx", CustomWith(repeats: new[] { 2, 3, 1 }), "/stage4/stage4.1/Slice");
        Assert.Contains("expects 6 units (stages [2, 3, 1]), then conv5", e.Message);
        Assert.Contains("its last stage has more units than the declared 1", e.Message);
    }

    [Fact]
    public void MoreUnitsInAStageNameTheNextStagesBranches()
    {
        var e = Mismatch("custom_57x41.onnx", CustomWith(repeats: new[] { 2, 4, 2 }), "/stage4/stage4.0/branch1/branch1.0/Conv");
        Assert.Contains("expects unit 5 (stage3.3, unit 4 of 4 of stage 3, stride 1): the split of its 64 channels", e.Message);
        Assert.Contains("a downsampling unit that starts a new stage: its stage 3 has 3 units, not the declared 4", e.Message);
    }

    [Fact]
    public void MoreUnitsInTheLastStageNameConv5()
    {
        var e = Mismatch("custom_57x41_dynamic.onnx", CustomWith(repeats: new[] { 2, 3, 3 }), "/conv5/conv5.0/Conv");
        Assert.Contains("expects unit 7 (stage4.2, unit 3 of 3 of stage 4, stride 1)", e.Message);
        Assert.Contains("its conv5: its stage 4 has 2 units, not the declared 3", e.Message);
    }

    [Fact]
    public void MoreStagesNameConv5()
    {
        var e = Mismatch("custom_57x41.onnx", CustomWith(channels: new[] { 32, 64, 128, 256 }, repeats: new[] { 2, 3, 2, 1 }), "/conv5/conv5.0/Conv");
        Assert.Contains("expects unit 7 (stage5.0, the first of stage 5, stride 2)", e.Message);
        Assert.Contains("its conv5: it has fewer stages", e.Message);
    }

    [Fact]
    public void OtherClassesNameTheClassifier()
    {
        var e = Mismatch("custom_57x41.onnx", CustomWith(classes: 7), "/fc/Gemm");
        Assert.Contains("a classifier from 256 features to 7 classes", e.Message);
        Assert.Contains("(10 classes)", e.Message);
    }

    [Fact]
    public void AV1DescriptionOnAV2FileNamesTheSecondBranch()
    {
        // ShuffleNet v1 with the file's input, stem and classes: the walk goes as far as the first unit.
        var v1 = Describe(new NetworkSpec(2, 3, 57, 41, 10, 16, 2, true, new EquatableArray<int>(new[] { 32, 64, 128 }), new EquatableArray<int>(new[] { 2, 3, 2 })), "V1Model");
        var e = Mismatch("custom_57x41.onnx", v1, "/stage2/stage2.0/branch1/branch1.0/Conv");
        Assert.Contains("'/stage2/stage2.0/branch2/branch2.0/Conv' (Conv) both read the input of unit 0 (stage 2, its first, stride 2)", e.Message);
        Assert.Contains("the model V1Model expects a ShuffleNet v1 unit there", e.Message);
        Assert.Contains("The file holds a ShuffleNet v2", e.Message);
    }

    [Fact]
    public void AV2DescriptionOnAV1FileNamesTheShortcut()
    {
        // ShuffleNet v2 with the v1 fixture's input, stem, stages and classes (tests/.../CompiledModels.cs G3Small64).
        var v2 = Describe(new NetworkSpec(1, 3, 64, 64, 10, 12, 2, true, new EquatableArray<int>(new[] { 60, 120, 240 }), new EquatableArray<int>(new[] { 2, 3, 2 }),
            Version: 2, FinalChannels: 1024), "V2Model");
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(OnnxFixture.Path("g3_small_64.onnx"), v2));
        _output.WriteLine(e.Message);
        Assert.Equal("/units.0/Pad", e.NodeName);
        Assert.Contains("and the Conv '/units.0/conv1/Conv' read the output after the stem, as a ShuffleNet v1 unit's shortcut and first pointwise convolution do", e.Message);
        Assert.Contains("the model V2Model expects unit 0 (stage2.0, the first of stage 2, stride 2): branch1's depthwise 3x3 Conv and branch2's 1x1 Conv", e.Message);
        Assert.Contains("The file holds a ShuffleNet v1", e.Message);
    }

    // ------------------------------------------------------------------ the graph's own structure

    [Fact]
    public void ABranchReadingTheFirstHalfIsNamed()
    {
        // Opset 9: stage2.1's Split gives x1 (output 0) and x2 (output 1); make branch2 read x1 and the Concat take x2.
        var model = Parse("custom_57x41_opset9.onnx");
        var split = model.Graph.Node.Single(n => n.Name == "/stage2/stage2.1/Split");
        var conv = model.Graph.Node.Single(n => n.Name == "/stage2/stage2.1/branch2/branch2.0/Conv");
        var concat = model.Graph.Node.Single(n => n.Name == "/stage2/stage2.1/Concat");
        Assert.Equal(split.Output[1], conv.Input[0]);
        conv.Input[0] = split.Output[0];
        concat.Input[0] = split.Output[1];
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, Describe(CustomConfig)));
        _output.WriteLine(e.Message);
        Assert.Equal(conv.Name, e.NodeName);
        Assert.Contains("expects branch2 of unit 1 (stage2.1, unit 2 of 2 of stage 2, stride 1) to read the second half of the split (channels 16..31)", e.Message);
        Assert.Contains("this Conv reads channels 0..15, the half that passes untouched", e.Message);
    }

    [Fact]
    public void AConcatPuttingBranch2FirstIsNamed()
    {
        var model = Parse("custom_57x41.onnx");
        var concat = model.Graph.Node.Single(n => n.Name == "/stage3/stage3.0/Concat");
        (concat.Input[0], concat.Input[1]) = (concat.Input[1], concat.Input[0]);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, Describe(CustomConfig)));
        _output.WriteLine(e.Message);
        Assert.Equal(concat.Name, e.NodeName);
        Assert.Contains("to put branch1 (stage3.0.branch1.2) first, then branch2 (stage3.0.branch2.5)", e.Message);
    }

    [Fact]
    public void AShuffleOfFourGroupsIsNamed()
    {
        var model = Parse("custom_57x41.onnx");
        var reshape = model.Graph.Node.Single(n => n.Name == "/stage2/stage2.1/Reshape");
        var constant = model.Graph.Node.Single(n => n.Output[0] == reshape.Input[1]);
        var target = constant.Attribute.Single(a => a.Name == "value").T;
        target.RawData = ByteString.CopyFrom(new long[] { 1, 4, 8, 8, 6 }.SelectMany(BitConverter.GetBytes).ToArray());
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, Describe(CustomConfig)));
        _output.WriteLine(e.Message);
        Assert.Equal(reshape.Name, e.NodeName);
        Assert.Contains("Reshape of [1, 32, 8, 6] to [1, 2, 16, 8, 6], 2 groups; the graph reshapes to [1, 4, 8, 8, 6], 4 groups", e.Message);
    }

    [Fact]
    public void ATransposeWithAnotherPermIsNamed()
    {
        var model = Parse("custom_57x41_dynamic.onnx");
        var transpose = model.Graph.Node.Single(n => n.Name == "/stage3/stage3.1/Transpose");
        var perm = transpose.Attribute.Single(a => a.Name == "perm");
        perm.Ints.Clear();
        perm.Ints.Add(new long[] { 0, 1, 2, 4, 3 });
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, Describe(CustomConfig)));
        _output.WriteLine(e.Message);
        Assert.Equal(transpose.Name, e.NodeName);
        Assert.Contains("perm [0, 2, 1, 3, 4]", e.Message);
    }

    [Fact]
    public void ADynamicShuffleTargetThatFixesTheBatchIsNamed()
    {
        // The dynamic export's first shuffle reshape with its computed target replaced by the static file's literal
        // [1, 2, 16, 8, 6]: right for one image, wrong for a batch of two, so refused where the batch is symbolic.
        var model = Parse("custom_57x41_dynamic.onnx");
        var reshape = model.Graph.Node.Single(n => n.Name == "/stage2/stage2.0/Reshape");
        model.Graph.Node.Add(new NodeProto
        {
            Name = "literal_target", OpType = "Constant", Output = { "literal_target_output" },
            Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 5 }, Int64Data = { 1, 2, 16, 8, 6 } } } },
        });
        reshape.Input[1] = "literal_target_output";
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, Describe(CustomConfig)));
        _output.WriteLine(e.Message);
        Assert.Equal(reshape.Name, e.NodeName);
        Assert.Contains("does not keep the batch size N of its input [N, 32, 8, 6]", e.Message);
    }

    // ------------------------------------------------------------------ int8

    private static ModelDescription CustomInt8 => Describe(V2LoweringTests.Spec(CustomConfig) with { Precision = NumericPrecision.Int8 }, "Custom57x41Int8");

    [Fact]
    public void AnInt8ModelReadsAFloatFileAsFloatWeightsForCalibration()
    {
        var description = CustomInt8;
        var tensors = OnnxWeights.Read(V2Fixture.PathOf(Custom + "_bn.onnx"), description);
        Assert.Contains(description.WeightLayout, t => t.Name == "conv5.0" + Int8Calibration.InputScaleSuffix);
        Assert.Equal(description.WeightLayout.Where(t => !t.Name.EndsWith(Int8Calibration.InputScaleSuffix) && !t.Name.EndsWith(Int8Calibration.InputZeroPointSuffix)).Select(t => t.Name),
            tensors.Select(t => t.Name));
        var safetensors = V2Fixture.Load(Custom).Weights();
        foreach (var t in tensors) Assert.Equal(safetensors[t.Name].Data, t.Data);
    }

    /// <summary>The file with a QuantizeLinear/DequantizeLinear pair on conv5's input (scale 0.05, uint8 zero point 0).</summary>
    private static ModelProto WithQdqBeforeConv5()
    {
        var model = Parse(Custom + ".onnx");
        var graph = model.Graph;
        var conv5 = graph.Node.Single(n => n.Name == "/conv5/conv5.0/Conv");
        string x = conv5.Input[0];
        graph.Initializer.Add(new TensorProto { Name = "qdq.scale", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { 0.05f } });
        graph.Initializer.Add(new TensorProto { Name = "qdq.zero", DataType = (int)TensorProto.Types.DataType.Uint8, Int32Data = { 0 } });
        graph.Node.Add(new NodeProto { Name = "conv5.input.QuantizeLinear", OpType = "QuantizeLinear", Input = { x, "qdq.scale", "qdq.zero" }, Output = { "q" } });
        graph.Node.Add(new NodeProto { Name = "conv5.input.DequantizeLinear", OpType = "DequantizeLinear", Input = { "q", "qdq.scale", "qdq.zero" }, Output = { "dq" } });
        conv5.Input[0] = "dq";
        return model;
    }

    /// <summary>
    /// A pair on conv5's input only: an int8 model takes the range of every 1x1 input from the file or of none, so it
    /// names the first 1x1 convolution of the walk without one (OnnxV2QdqImportTests reads a fully quantized file).
    /// </summary>
    [Fact]
    public void AnInt8ModelRefusesAFileThatQuantizesOnlySomeOneByOneInputs()
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(WithQdqBeforeConv5(), CustomInt8));
        _output.WriteLine(e.Message);
        Assert.Equal("/stage2/stage2.0/branch1/branch1.2/Conv", e.NodeName);
        Assert.Contains("1 of the model's 18 1x1 convolutions, but not this one's (stage2.0.branch1.2)", e.Message);
        Assert.Contains("Int8Calibration.Calibrate", e.Message);
    }

    [Fact]
    public void AFloatModelSeesThroughActivationQdqPairs()
    {
        var description = Describe(CustomConfig);
        var plain = OnnxWeights.Read(V2Fixture.PathOf(Custom + ".onnx"), description);
        var tensors = OnnxFixture.Read(WithQdqBeforeConv5(), description);
        foreach (var t in plain) Assert.Equal(t.Data, tensors[t.Name].Data);
    }

    // ------------------------------------------------------------------ mutations

    /// <summary>
    /// OnnxFuzzTests' mutations on one v2 file with a dynamic batch (the most shape arithmetic): every case ends in
    /// <see cref="OnnxFormatException"/> with a short message without control characters, or loads the declared
    /// tensors, within OnnxFuzzTests' memory cap; a meaning-preserving mutation loads weights that give the unmutated
    /// file's logits exactly. A fixed
    /// seed and a few hundred cases keep it a fast test; OnnxFuzzTests' slow suite is where to fuzz longer.
    /// </summary>
    [Fact]
    public void MutatedV2FilesAreRejectedOrLoadCorrectly()
    {
        const string file = "one_stage_21x30_dynamic.onnx";
        var fixture = V2Fixture.Load("one_stage_21x30");
        var description = Describe(fixture.Config);
        var bytes = File.ReadAllBytes(V2Fixture.PathOf(file));
        var baseline = Int8Calibration.ForwardFloat(description, OnnxWeights.Read(new MemoryStream(bytes), description), fixture.Input);
        int cases = 0, loaded = 0, rejected = 0, preserved = 0, longest = 0;
        var byKind = new int[OnnxFuzzTests.Kinds.Length];
        long weightBytes = description.WeightLayout.Sum(t => t.Dimensions.Aggregate(4L, (a, d) => a * d)), mostAllocated = 0;
        // OnnxFuzzTests' memory cap (docs/reliability.md): 16x the file, plus the weights, plus 256 KB of fixed overhead.
        void CheckAllocated(long before, int length, string what)
        {
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before, cap = 16L * length + weightBytes + 256 * 1024;
            mostAllocated = Math.Max(mostAllocated, allocated);
            if (allocated > cap) Assert.Fail($"{what}: the import allocated {allocated} bytes for a {length}-byte file (cap {cap})");
        }
        var stopwatch = Stopwatch.StartNew();
        var seeds = new Random(2025);
        // The first 100 cases always run: a time budget alone made the count depend on the machine's load (71 cases on a
        // loaded 2-core machine failed the count below). Beyond them, up to 400 while the 4 s last.
        while (cases < 100 || (cases < 400 && stopwatch.Elapsed.TotalSeconds < 4))
        {
            int seed = seeds.Next(), kind = cases % OnnxFuzzTests.Kinds.Length;
            string what = $"mutation {OnnxFuzzTests.Kinds[kind]} with seed {seed}";
            var (mutated, preserving) = OnnxFuzzTests.Mutate(bytes, kind, new Random(seed));
            cases++;
            byKind[kind]++;
            TensorSet tensors;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                tensors = OnnxWeights.Read(new MemoryStream(mutated, writable: false), description);
                CheckAllocated(before, mutated.Length, what);
            }
            catch (OnnxFormatException e)
            {
                CheckAllocated(before, mutated.Length, what);
                if (e.Message.Length > 3000) Assert.Fail($"{what}: message of {e.Message.Length} chars: {e.Message[..200]}…");
                if (e.Message.Any(char.IsControl)) Assert.Fail($"{what}: control character in message: {e.Message}");
                longest = Math.Max(longest, e.Message.Length);
                rejected++;
                continue;
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"{what}: {e.GetType().Name} escaped the importer: {e}");
            }
            loaded++;
            Assert.Equal(description.WeightLayout.Select(t => t.ToString()), tensors.Select(t => $"{t.Name} [{string.Join(", ", t.Shape)}]"));
            foreach (var t in tensors) Assert.Equal(t.Shape.Aggregate(1L, (a, d) => a * d), t.Data.LongLength);
            if (preserving)
            {
                var logits = Int8Calibration.ForwardFloat(description, tensors, fixture.Input);
                Assert.True(logits.AsSpan().SequenceEqual(baseline), $"{what}: a meaning-preserving mutation changed the logits");
                preserved++;
            }
        }
        _output.WriteLine($"v2 ONNX mutations: {cases} cases in {stopwatch.Elapsed.TotalSeconds:F1} s ({loaded} loaded, {preserved} of them with the original logits; {rejected} rejected); longest message {longest} chars; most allocated by one case {mostAllocated / 1024} KB");
        _output.WriteLine("cases by mutation: " + string.Join(", ", OnnxFuzzTests.Kinds.Select((k, i) => $"{k} {byKind[i]}")));
        Assert.True(cases >= 100, $"only {cases} cases ran");
        Assert.True(rejected > cases / 4 && loaded > cases / 20, $"{rejected} rejected and {loaded} loaded of {cases}: the mutations do not reach both ends");
    }
}
