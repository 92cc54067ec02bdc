using ShuffleNetGen;

namespace ShuffleNetGen.Bench;

// The benchmarked configurations, compiled by the generator running as an analyzer (as in samples/Quickstart).
[ShuffleNet(Groups = 3, Scale = 0.5, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000)]
public partial class G3Half224;

[ShuffleNet(Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000)]
public partial class G3One224;

// The same network in int8: its 1x1 convolutions in integers, calibrated from the same random float weights.
[ShuffleNet(Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000, Precision = Precision.Int8)]
public partial class G3One224Int8;

[ShuffleNet(Groups = 3, Scale = 2.0, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000)]
public partial class G3Two224;

[ShuffleNet(Groups = 8, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000)]
public partial class G8One224;

[ShuffleNet(Groups = 3, Scale = 0.25, Stages = new[] { 4, 8, 4 }, InputHeight = 64, InputWidth = 64, Classes = 10)]
public partial class G3Quarter64;

// torchvision's ShuffleNet v2 x1.0 at 224 (its widths 24, 116/232/464, 1024 and stages 4, 8, 4; 1000 classes).
[ShuffleNetV2(Scale = 1.0)]
public partial class V2X1_0_224;
