using ShuffleNetGen;

namespace Conformance;

// int8 cases: not part of the reference matrix (ReferenceCases.All, Models.cs), so ConformanceCasesTests does not list
// them. An int8 model cannot match the scalar reference to 1e-4 (quantization moves its logits by about a percent);
// Program.cs checks that it follows the reference (same top-1, centred cosine) and prints a hash of its logits, which
// eng/verify-arm64.sh compares between an SDOT run and a run without Dp (the AdvSimd widening fallback): the two
// dot-product paths must give the same integers, so the same logits, bit for bit.

// Group widths 5, 10, 20 at the 1x1 convolutions' inputs (conv3): slots of four channels with padding bytes.
[ShuffleNet(Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64, Classes = 10, Precision = Precision.Int8)]
public partial class Int8_g3_0_25x_64 { public const string CaseName = "int8_g3_0.25x_64"; }

// Odd everything: a 10-channel stem, conv3 groups of 5, 11 and 21 channels, 17x17, 9x9, 5x5 and 3x3 planes (vector tails).
[ShuffleNet(Groups = 2, StemChannels = 10, StageChannels = new[] { 40, 88, 168 }, Stages = new[] { 2, 3, 2 }, InputHeight = 33, InputWidth = 33,
    Classes = 7, StemMaxPool = false, Precision = Precision.Int8)]
public partial class Int8_g2_odd_33 { public const string CaseName = "int8_g2_odd_33"; }

// The official shuffle order with 8 groups of 6 bottleneck channels, on a one-channel input.
[ShuffleNet(Groups = 8, Scale = 0.5, Stages = new[] { 2, 4, 2 }, InputChannels = 1, InputHeight = 40, InputWidth = 40, Classes = 10,
    ShuffleOrder = ShuffleOrder.Official, Precision = Precision.Int8)]
public partial class Int8_g8_official_0_5x_40_gray { public const string CaseName = "int8_g8_official_0.5x_40_gray"; }

// ShuffleNet v2 (torchvision's): the quantize steps read a half of the split or the unit's input through the unit's
// plane tables; halves of 12, 22 and 46 channels (slots of four with padding bytes) on 5x4, 3x2 and 2x1 planes after
// a 9x7 max pool, and conv5 reading 92 channels.
[ShuffleNetV2(StemChannels = 12, StageChannels = new[] { 24, 44, 92 }, Stages = new[] { 2, 2, 2 }, FinalChannels = 64, InputHeight = 35, InputWidth = 27,
    Classes = 9, Precision = Precision.Int8)]
public partial class Int8_v2_35x27 { public const string CaseName = "int8_v2_35x27"; }
