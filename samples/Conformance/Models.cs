using ShuffleNetGen;

namespace Conformance;

// The reference matrix (tests/ShuffleNetGen.Tests/ReferenceCases.cs), declared as models: NativeAOT cannot compile a
// model at run time, so each case is a [ShuffleNet] (v1) or [ShuffleNetV2] class whose arguments are the table's,
// verbatim, in the table's order. tests/ShuffleNetGen.Tests/ConformanceCasesTests.cs parses this file and fails if a case is missing, extra,
// reordered or declared with other arguments; Program.cs checks the names again at startup.

[ShuffleNet(Groups = 1, Scale = 1.0)]
public partial class Case_g1_1x_224 { public const string CaseName = "g1_1x_224"; }

[ShuffleNet(Groups = 3, Scale = 1.0)]
public partial class Case_g3_1x_224 { public const string CaseName = "g3_1x_224"; }

[ShuffleNet(Groups = 8, Scale = 0.5)]
public partial class Case_g8_0_5x_224 { public const string CaseName = "g8_0.5x_224"; }

[ShuffleNet(Groups = 2, Scale = 0.5, InputHeight = 96, InputWidth = 128, Classes = 100)]
public partial class Case_g2_0_5x_96x128 { public const string CaseName = "g2_0.5x_96x128"; }

[ShuffleNet(Groups = 4, Scale = 0.25, InputChannels = 1, InputHeight = 65, InputWidth = 65, Classes = 10)]
public partial class Case_g4_0_25x_65_gray { public const string CaseName = "g4_0.25x_65_gray"; }

[ShuffleNet(Groups = 8, Scale = 1.0, InputHeight = 96, InputWidth = 96, Classes = 37)]
public partial class Case_g8_1x_96 { public const string CaseName = "g8_1x_96"; }

[ShuffleNet(Groups = 3, Scale = 0.25, Stages = new[] { 2, 3 }, InputHeight = 65, InputWidth = 65, Classes = 10)]
public partial class Case_g3_0_25x_65_two_stage { public const string CaseName = "g3_0.25x_65_two_stage"; }

[ShuffleNet(Groups = 2, Scale = 1.0, Stages = new[] { 2, 2, 2, 2 }, InputHeight = 64, InputWidth = 64, Classes = 10)]
public partial class Case_g2_1x_64_four_stage { public const string CaseName = "g2_1x_64_four_stage"; }

[ShuffleNet(Groups = 8, Scale = 0.25, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false)]
public partial class Case_g8_0_25x_28_stride1 { public const string CaseName = "g8_0.25x_28_stride1"; }

[ShuffleNet(Groups = 1, Scale = 0.5, InputChannels = 1, InputHeight = 33, InputWidth = 47, Classes = 5)]
public partial class Case_g1_0_5x_33x47_gray { public const string CaseName = "g1_0.5x_33x47_gray"; }

[ShuffleNet(Groups = 4, Scale = 1.0, InputHeight = 96, InputWidth = 128, Classes = 20)]
public partial class Case_g4_1x_96x128 { public const string CaseName = "g4_1x_96x128"; }

[ShuffleNet(Groups = 3, Scale = 0.5, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false)]
public partial class Case_g3_0_5x_28_fashion { public const string CaseName = "g3_0.5x_28_fashion"; }

[ShuffleNet(Groups = 2, Scale = 0.25, InputHeight = 65, InputWidth = 65, Classes = 10)]
public partial class Case_g2_0_25x_65 { public const string CaseName = "g2_0.25x_65"; }

[ShuffleNet(Groups = 3, StemChannels = 12, StageChannels = new[] { 48, 96, 192 }, InputHeight = 40, InputWidth = 30, Classes = 9)]
public partial class Case_g3_explicit_40x30 { public const string CaseName = "g3_explicit_40x30"; }

[ShuffleNet(Groups = 4, Scale = 0.5, Stages = new[] { 1, 2, 2, 1 }, InputHeight = 32, InputWidth = 32, Classes = 10, StemStride = 1, StemMaxPool = false)]
public partial class Case_g4_four_stage_stride1_32 { public const string CaseName = "g4_four_stage_stride1_32"; }

[ShuffleNet(Groups = 1, Scale = 0.25, Stages = new[] { 1, 2 }, InputHeight = 16, InputWidth = 16, Classes = 3)]
public partial class Case_g1_tiny_16_two_stage { public const string CaseName = "g1_tiny_16_two_stage"; }

[ShuffleNet(Groups = 2, Scale = 1.5, InputHeight = 56, InputWidth = 56, Classes = 10)]
public partial class Case_g2_1_5x_56 { public const string CaseName = "g2_1.5x_56"; }

[ShuffleNet(Groups = 8, Scale = 0.5, Stages = new[] { 2, 2 }, InputHeight = 7, InputWidth = 9, Classes = 4, StemMaxPool = false)]
public partial class Case_g8_0_5x_7x9_no_pool { public const string CaseName = "g8_0.5x_7x9_no_pool"; }

[ShuffleNet(Groups = 1, Scale = 0.5, InputHeight = 40, InputWidth = 40, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
public partial class Case_g1_official_0_5x_40 { public const string CaseName = "g1_official_0.5x_40"; }

[ShuffleNet(Groups = 2, Scale = 0.5, InputHeight = 48, InputWidth = 48, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
public partial class Case_g2_official_0_5x_48 { public const string CaseName = "g2_official_0.5x_48"; }

[ShuffleNet(Groups = 3, Scale = 0.5, InputHeight = 64, InputWidth = 64, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
public partial class Case_g3_official_0_5x_64 { public const string CaseName = "g3_official_0.5x_64"; }

[ShuffleNet(Groups = 4, Scale = 1.0, InputHeight = 48, InputWidth = 48, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
public partial class Case_g4_official_1x_48 { public const string CaseName = "g4_official_1x_48"; }

[ShuffleNet(Groups = 8, Scale = 0.5, InputHeight = 64, InputWidth = 64, Classes = 10, ShuffleOrder = ShuffleOrder.Official)]
public partial class Case_g8_official_0_5x_64 { public const string CaseName = "g8_official_0.5x_64"; }

// ShuffleNet v2 (ReferenceCases.V2), checked against ReferenceShuffleNetV2.

[ShuffleNetV2(Scale = 0.5, InputHeight = 48, InputWidth = 48, Classes = 10)]
public partial class Case_v2_0_5x_48 { public const string CaseName = "v2_0.5x_48"; }

[ShuffleNetV2(StemChannels = 8, StageChannels = new[] { 14, 22, 46, 94 }, Stages = new[] { 1, 2, 3, 2 }, FinalChannels = 64, InputChannels = 1, InputHeight = 33, InputWidth = 35, Classes = 5)]
public partial class Case_v2_gray_four_stage_33x35 { public const string CaseName = "v2_gray_four_stage_33x35"; }

[ShuffleNetV2(StemChannels = 12, StageChannels = new[] { 22 }, Stages = new[] { 3 }, FinalChannels = 40, InputHeight = 51, InputWidth = 45, Classes = 7)]
public partial class Case_v2_one_stage_51x45 { public const string CaseName = "v2_one_stage_51x45"; }
