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
}
