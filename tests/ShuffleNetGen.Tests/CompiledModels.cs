using ShuffleNetGen;

// Models compiled by this project's own build, through the generator running as an analyzer: the path a user takes.
namespace ShuffleNetGen.Tests.Models
{
    /// <summary>The paper's ShuffleNet 1x, g = 3, 224x224, 1000 classes.</summary>
    [ShuffleNet(Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputChannels = 3, InputHeight = 224, InputWidth = 224, Classes = 1000)]
    public partial class Paper1xG3;

    // The three configurations of the PyTorch fixtures (tools/make_fixtures.py), with the same explicit widths.
    [ShuffleNet(Groups = 3, StemChannels = 12, StageChannels = new[] { 60, 120, 240 }, Stages = new[] { 2, 3, 2 }, InputHeight = 64, InputWidth = 64, Classes = 10)]
    public partial class G3Small64;

    [ShuffleNet(Groups = 8, StemChannels = 16, StageChannels = new[] { 64, 128 }, Stages = new[] { 2, 2 }, InputChannels = 1, InputHeight = 48, InputWidth = 40, Classes = 7, StemStride = 1, StemMaxPool = false)]
    internal partial class G8Gray48x40;

    [ShuffleNet(Groups = 2, StemChannels = 24, StageChannels = new[] { 48, 96, 192, 384 }, Stages = new[] { 1, 2, 2, 1 }, InputHeight = 33, InputWidth = 33, Classes = 5)]
    public partial class G2Odd33;

    // The official-order fixtures of tools/make_megvii_fixtures.py (weights converted from megvii's layout), and the g = 8
    // one declared with the paper order, to show the order matters.
    [ShuffleNet(Groups = 8, StemChannels = 16, StageChannels = new[] { 192, 384, 768 }, Stages = new[] { 2, 2, 2 }, InputHeight = 48, InputWidth = 48, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
    public partial class MegviiG8Official48;

    [ShuffleNet(Groups = 4, StemChannels = 16, StageChannels = new[] { 160, 320, 640 }, Stages = new[] { 2, 2, 2 }, InputHeight = 48, InputWidth = 48, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
    public partial class MegviiG4Official48;

    [ShuffleNet(Groups = 8, StemChannels = 16, StageChannels = new[] { 192, 384, 768 }, Stages = new[] { 2, 2, 2 }, InputHeight = 48, InputWidth = 48, Classes = 10)]
    public partial class MegviiG8Paper48;

    // G8Gray48x40 with the official order, for the ONNX importer's order check.
    [ShuffleNet(Groups = 8, StemChannels = 16, StageChannels = new[] { 64, 128 }, Stages = new[] { 2, 2 }, InputChannels = 1, InputHeight = 48, InputWidth = 40, Classes = 7, StemStride = 1, StemMaxPool = false, ShuffleOrder = ShuffleOrder.Official)]
    internal partial class G8Gray48x40Official;

    // int8 twins of three of the above (Int8KernelTests, Int8AccuracyTests): the same shapes, so the float model on the
    // same weights is the accuracy reference. G2Odd33 has groups of 6 input channels (a zero-padded slot of four) and
    // 33x33 planes (vector tails); G8Gray48x40Official has the official shuffle and no max pool.
    [ShuffleNet(Groups = 3, StemChannels = 12, StageChannels = new[] { 60, 120, 240 }, Stages = new[] { 2, 3, 2 }, InputHeight = 64, InputWidth = 64, Classes = 10, Precision = Precision.Int8)]
    public partial class G3Small64Int8;

    [ShuffleNet(Groups = 2, StemChannels = 24, StageChannels = new[] { 48, 96, 192, 384 }, Stages = new[] { 1, 2, 2, 1 }, InputHeight = 33, InputWidth = 33, Classes = 5, Precision = Precision.Int8)]
    public partial class G2Odd33Int8;

    [ShuffleNet(Groups = 8, StemChannels = 16, StageChannels = new[] { 64, 128 }, Stages = new[] { 2, 2 }, InputChannels = 1, InputHeight = 48, InputWidth = 40, Classes = 7, StemStride = 1, StemMaxPool = false, ShuffleOrder = ShuffleOrder.Official, Precision = Precision.Int8)]
    internal partial class G8Gray48x40OfficialInt8;

    // Planes narrower than a vector where a unit's conv3 packs the next conv1's slots (1x2 in the last stage: scalar
    // tiles; 2x3: one Vector128 and a scalar tail), which the larger int8 twins never reach.
#pragma warning disable SNG0014 // on purpose: the last stage's maps are one pixel high
    [ShuffleNet(Groups = 2, StemChannels = 24, StageChannels = new[] { 48, 96 }, Stages = new[] { 2, 3 }, InputHeight = 12, InputWidth = 20, Classes = 3, Precision = Precision.Int8)]
    internal partial class G2Tiny12x20Int8;
#pragma warning restore SNG0014

    // ShuffleNet v2: the configurations of tools/make_v2_fixtures.py (torchvision's own ShuffleNetV2), declared as a
    // user would. Custom widths, odd halves, one input channel, 1, 2 and 4 stages, and torchvision's 0.5x and 1x widths.
    [ShuffleNetV2(StemChannels = 16, StageChannels = new[] { 32, 64, 128 }, Stages = new[] { 2, 3, 2 }, FinalChannels = 256, InputHeight = 57, InputWidth = 41, Classes = 10)]
    public partial class V2Custom57x41;

#pragma warning disable SNG0014 // on purpose: the last stride-2 unit sees a 1-pixel-wide map, as torchvision computes it too
    [ShuffleNetV2(StemChannels = 12, StageChannels = new[] { 20, 44, 92 }, Stages = new[] { 3, 1, 2 }, FinalChannels = 60, InputHeight = 17, InputWidth = 13, Classes = 7)]
    public partial class V2OddHalves17x13;
#pragma warning restore SNG0014

    [ShuffleNetV2(StemChannels = 8, StageChannels = new[] { 24, 48 }, Stages = new[] { 2, 2 }, FinalChannels = 64, InputChannels = 1, InputHeight = 40, InputWidth = 36, Classes = 5)]
    public partial class V2Gray2Stages40x36;

    [ShuffleNetV2(StemChannels = 10, StageChannels = new[] { 16 }, Stages = new[] { 3 }, FinalChannels = 32, InputHeight = 21, InputWidth = 30, Classes = 4)]
    public partial class V2OneStage21x30;

    [ShuffleNetV2(StemChannels = 12, StageChannels = new[] { 16, 32, 48, 64 }, Stages = new[] { 1, 2, 2, 1 }, FinalChannels = 96, InputHeight = 80, InputWidth = 72, Classes = 6)]
    public partial class V2FourStages80x72;

    [ShuffleNetV2(Scale = 0.5, InputHeight = 64, InputWidth = 64)]
    public partial class V2X0_5_64x64;

    [ShuffleNetV2(Scale = 1.0, InputHeight = 56, InputWidth = 40)]
    public partial class V2X1_0_56x40;

    // int8 twins of two v2 models (Int8KernelTests, Int8AccuracyTests). Each 1x1 convolution's quantize step reads its
    // input through a plane table where the shuffles left it, and the stride-1 units' convolutions store through one.
    // V2Custom57x41 has halves of 16 to 64 channels on planes of 15x11 down to 2x2; V2OddHalves17x13 has halves of 10,
    // 22 and 46 channels (a last slot of four zero-padded) on planes of 5x4 down to 1x1 (narrower than any vector).
    [ShuffleNetV2(StemChannels = 16, StageChannels = new[] { 32, 64, 128 }, Stages = new[] { 2, 3, 2 }, FinalChannels = 256, InputHeight = 57, InputWidth = 41, Classes = 10, Precision = Precision.Int8)]
    public partial class V2Custom57x41Int8;

#pragma warning disable SNG0014 // as V2OddHalves17x13
    [ShuffleNetV2(StemChannels = 12, StageChannels = new[] { 20, 44, 92 }, Stages = new[] { 3, 1, 2 }, FinalChannels = 60, InputHeight = 17, InputWidth = 13, Classes = 7, Precision = Precision.Int8)]
    public partial class V2OddHalves17x13Int8;
#pragma warning restore SNG0014
}
