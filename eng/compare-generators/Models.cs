using ShuffleNetGen;

// Compiled twice: by the baseline's generator into Sng.Baseline, by this checkout's into Sng.Candidate.
#if SNG_BASELINE
namespace Sng.Baseline;
#else
namespace Sng.Candidate;
#endif

[ShuffleNet(Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000)]
public partial class G3One224;

[ShuffleNet(Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputHeight = 224, InputWidth = 224, Classes = 1000, Precision = Precision.Int8)]
public partial class G3One224Int8;

[ShuffleNetV2(Scale = 1.0)]
public partial class V2X1_0_224;

[ShuffleNetV2(Scale = 1.5)]
public partial class V2X1_5_224;

[ShuffleNetV2(Scale = 2.0)]
public partial class V2X2_0_224;
