using ShuffleNetGen.Tests.Reference;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The reference matrix: the configurations every generated model is checked against the scalar reference on, with
/// the weights, input and tolerance of that check. One table, compiled into two programs: the test suite
/// (<see cref="ReferenceMatrixTests"/>, which generates and compiles each case in-process) and the NativeAOT
/// conformance runner (samples/Conformance, which declares each case as a <c>[ShuffleNet]</c> or <c>[ShuffleNetV2]</c>
/// class because NativeAOT cannot compile at run time; ConformanceCasesTests checks its declarations against this table).
/// </summary>
public static class ReferenceCases
{
    /// <summary>Largest tolerated |generated - reference| over the logits, relative to the largest |reference logit|.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>Name and <c>[ShuffleNet]</c> attribute arguments of each ShuffleNet v1 case.</summary>
    public static IReadOnlyList<(string Name, string Arguments)> V1 => s_v1;

    private static readonly (string, string)[] s_v1 =
    {
        ("g1_1x_224", "Groups = 1, Scale = 1.0"),
        ("g3_1x_224", "Groups = 3, Scale = 1.0"),
        ("g8_0.5x_224", "Groups = 8, Scale = 0.5"),
        ("g2_0.5x_96x128", "Groups = 2, Scale = 0.5, InputHeight = 96, InputWidth = 128, Classes = 100"),
        ("g4_0.25x_65_gray", "Groups = 4, Scale = 0.25, InputChannels = 1, InputHeight = 65, InputWidth = 65, Classes = 10"),
        ("g8_1x_96", "Groups = 8, Scale = 1.0, InputHeight = 96, InputWidth = 96, Classes = 37"),
        ("g3_0.25x_65_two_stage", "Groups = 3, Scale = 0.25, Stages = new[] { 2, 3 }, InputHeight = 65, InputWidth = 65, Classes = 10"),
        ("g2_1x_64_four_stage", "Groups = 2, Scale = 1.0, Stages = new[] { 2, 2, 2, 2 }, InputHeight = 64, InputWidth = 64, Classes = 10"),
        ("g8_0.25x_28_stride1", "Groups = 8, Scale = 0.25, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false"),
        ("g1_0.5x_33x47_gray", "Groups = 1, Scale = 0.5, InputChannels = 1, InputHeight = 33, InputWidth = 47, Classes = 5"),
        ("g4_1x_96x128", "Groups = 4, Scale = 1.0, InputHeight = 96, InputWidth = 128, Classes = 20"),
        ("g3_0.5x_28_fashion", "Groups = 3, Scale = 0.5, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false"),
        ("g2_0.25x_65", "Groups = 2, Scale = 0.25, InputHeight = 65, InputWidth = 65, Classes = 10"),
        ("g3_explicit_40x30", "Groups = 3, StemChannels = 12, StageChannels = new[] { 48, 96, 192 }, InputHeight = 40, InputWidth = 30, Classes = 9"),
        ("g4_four_stage_stride1_32", "Groups = 4, Scale = 0.5, Stages = new[] { 1, 2, 2, 1 }, InputHeight = 32, InputWidth = 32, Classes = 10, StemStride = 1, StemMaxPool = false"),
        ("g1_tiny_16_two_stage", "Groups = 1, Scale = 0.25, Stages = new[] { 1, 2 }, InputHeight = 16, InputWidth = 16, Classes = 3"),
        ("g2_1.5x_56", "Groups = 2, Scale = 1.5, InputHeight = 56, InputWidth = 56, Classes = 10"),
        ("g8_0.5x_7x9_no_pool", "Groups = 8, Scale = 0.5, Stages = new[] { 2, 2 }, InputHeight = 7, InputWidth = 9, Classes = 4, StemMaxPool = false"),
        // The official (megvii) shuffle order, for every group count; g = 3 and 8 at 0.5x have the official widths.
        ("g1_official_0.5x_40", "Groups = 1, Scale = 0.5, InputHeight = 40, InputWidth = 40, Classes = 10, ShuffleOrder = ShuffleOrder.Official"),
        ("g2_official_0.5x_48", "Groups = 2, Scale = 0.5, InputHeight = 48, InputWidth = 48, Classes = 10, ShuffleOrder = ShuffleOrder.Official"),
        ("g3_official_0.5x_64", "Groups = 3, Scale = 0.5, InputHeight = 64, InputWidth = 64, Classes = 10, ShuffleOrder = ShuffleOrder.Official"),
        ("g4_official_1x_48", "Groups = 4, Scale = 1.0, InputHeight = 48, InputWidth = 48, Classes = 10, ShuffleOrder = ShuffleOrder.Official"),
        ("g8_official_0.5x_64", "Groups = 8, Scale = 0.5, InputHeight = 64, InputWidth = 64, Classes = 10, ShuffleOrder = ShuffleOrder.Official"),
    };

    /// <summary>
    /// Name and <c>[ShuffleNetV2]</c> attribute arguments of each ShuffleNet v2 case, checked against
    /// <see cref="ReferenceShuffleNetV2"/>. Few and small, since every case is a model in the NativeAOT arm64 publish
    /// and its emulated run: together they reach torchvision's widths and unit counts, the fourth stage (stage5), one
    /// input channel, odd sizes and odd halves (row tails), a 1x1 plane, one stage, and plane tables wide enough for
    /// the AdvSimd variants (a stride-2 depthwise with four interior columns, a 1x1 convolution of four rows and pixels).
    /// </summary>
    public static IReadOnlyList<(string Name, string Arguments)> V2 => s_v2;

    private static readonly (string, string)[] s_v2 =
    {
        // torchvision's shufflenet_v2_x0_5 (widths 24, 48/96/192, 1024; 4, 8 and 4 units) at 48x48: stage2 at 6x6,
        // stage3 at 3x3, stage4 at 2x2.
        ("v2_0.5x_48", "Scale = 0.5, InputHeight = 48, InputWidth = 48, Classes = 10"),
        // One input channel, four stages, odd halves (7, 11, 23, 47), odd sizes down to a 1x1 plane in stage5 (33 and
        // 35 pixels: six stride-2 steps end at exactly one pixel, so no step halves a 1-pixel map: no SNG0014).
        ("v2_gray_four_stage_33x35", "StemChannels = 8, StageChannels = new[] { 14, 22, 46, 94 }, Stages = new[] { 1, 2, 3, 2 }, FinalChannels = 64, InputChannels = 1, InputHeight = 33, InputWidth = 35, Classes = 5"),
        // One stage on an odd-sized map (13x12 to 7x6), half 11.
        ("v2_one_stage_51x45", "StemChannels = 12, StageChannels = new[] { 22 }, Stages = new[] { 3 }, FinalChannels = 40, InputHeight = 51, InputWidth = 45, Classes = 7"),
    };

    /// <summary>
    /// Every case: its name, its attribute (<c>ShuffleNet</c> or <c>ShuffleNetV2</c>) and that attribute's arguments;
    /// v1's, then v2's. (Declared after the two tables: static initializers run in textual order.)
    /// </summary>
    public static IReadOnlyList<(string Name, string Attribute, string Arguments)> All { get; } =
        V1.Select(c => (c.Name, "ShuffleNet", c.Arguments)).Concat(V2.Select(c => (c.Name, "ShuffleNetV2", c.Arguments))).ToArray();

    /// <summary>
    /// The scalar reference's logits for a generated model's architecture: <see cref="ReferenceShuffleNetV2"/> for a
    /// v2 description, <see cref="ReferenceShuffleNet"/> otherwise. <paramref name="weight"/> returns a tensor by name;
    /// <paramref name="observePointwiseInput"/>, if given, sees each 1x1 convolution's input by layer name.
    /// </summary>
    public static float[] ReferenceLogits(ModelDescription d, Func<string, float[]> weight, float[] input, Action<string, double[]>? observePointwiseInput = null) => d.Version == 2
        ? ReferenceShuffleNetV2.Forward(ReferenceV2Config.Of(d), weight, input, observePointwiseInput)
        : ReferenceShuffleNet.Forward(ReferenceConfig.Of(d), weight, input, observePointwiseInput);

    /// <summary>Seed of the case's random weights (<c>RandomWeights.Create(layout, seed)</c>).</summary>
    public static int WeightSeed(string name) => name.Length * 7919 + 1;

    /// <summary>The case's input: <c>new Random(123)</c> doubles mapped to [-1, 1).</summary>
    public static float[] Input(int length)
    {
        var random = new Random(123);
        var input = new float[length];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
        return input;
    }
}
