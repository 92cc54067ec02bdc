using System.Collections.Generic;

// Compiled into the generator and, linked, into ShuffleNetGen.Onnx (which cannot reference the generator): one
// definition of the network's structure for the code that lowers it and the code that matches an ONNX graph against
// it. Internal in both, under each assembly's own namespace, so a project that sees both never sees two of it.
#if SHUFFLENETGEN_ONNX
namespace ShuffleNetGen.Onnx;
#else
namespace ShuffleNetGen.Generator.Lowering;
#endif

/// <summary>
/// ShuffleNet v1's structure as arithmetic on the declared numbers: how each 3x3 stride-2 step shrinks a map, which
/// units a declaration's stages make and what each unit's convolutions map, and the tensor names of the canonical
/// (PyTorch <c>state_dict</c>) layout. tools/shufflenet.py is the Python model these must agree with.
/// </summary>
internal static class ShuffleNetTopology
{
    /// <summary>A 3x3 window with padding 1 at stride 2: <c>floor((size + 2 - 3) / 2) + 1</c>.</summary>
    public static int StridedSize(int size) => (size - 1) / 2 + 1;

    public static int Resize(int size, int stride) => stride == 2 ? StridedSize(size) : size;

    /// <summary>The map size the first unit sees: after the stem convolution and, when declared, its max pool.</summary>
    public static int StemOutputSize(int inputSize, int stemStride, bool stemMaxPool)
    {
        int size = Resize(inputSize, stemStride);
        return stemMaxPool ? StridedSize(size) : size;
    }

    public const string StemConvolution = "conv1";
    public const string StemBatchNorm = "bn1";
    public const string Classifier = "fc";

    /// <summary>An int8 model's calibration tensors, per 1x1 convolution (<c>units.3.conv1.input_scale</c>), each of shape [1].</summary>
    public const string InputScale = "input_scale";
    public const string InputZeroPoint = "input_zero_point";

    /// <summary>A batch norm's tensors, in the order the layout lists them.</summary>
    public static readonly string[] BatchNormFields = { "weight", "bias", "running_mean", "running_var" };

    /// <summary>
    /// Every unit in execution order: each stage's first unit halves the map (stride 2, concatenating an average-pooled
    /// shortcut), the others keep it (stride 1, adding a residual). <paramref name="height"/> and
    /// <paramref name="width"/> are the first unit's input (<see cref="StemOutputSize"/>).
    /// </summary>
    public static List<UnitShape> Units(int groups, int stemChannels, IReadOnlyList<int> stageChannels, IReadOnlyList<int> stageRepeats, int height, int width)
    {
        var units = new List<UnitShape>();
        int inChannels = stemChannels;
        for (int stage = 0; stage < stageChannels.Count; stage++)
        {
            for (int repeat = 0; repeat < stageRepeats[stage]; repeat++)
            {
                var unit = new UnitShape(units.Count, stage, repeat, groups, inChannels, stageChannels[stage], height, width);
                units.Add(unit);
                inChannels = unit.OutChannels;
                height = unit.OutHeight;
                width = unit.OutWidth;
            }
        }
        return units;
    }
}

/// <summary>One ShuffleNet unit: 1x1 group conv (+ shuffle), 3x3 depthwise conv, 1x1 group conv, joined with its shortcut.</summary>
internal readonly struct UnitShape
{
    public UnitShape(int index, int stage, int repeat, int groups, int inChannels, int outChannels, int inHeight, int inWidth)
    {
        Index = index;
        Stage = stage;
        Repeat = repeat;
        Groups = groups;
        InChannels = inChannels;
        OutChannels = outChannels;
        InHeight = inHeight;
        InWidth = inWidth;
    }

    /// <summary>Position among all units, from 0; names its tensors (<c>units.3.conv1.weight</c>).</summary>
    public int Index { get; }

    /// <summary>Stage from 0; the paper numbers stages from 2.</summary>
    public int Stage { get; }

    /// <summary>Position within its stage: 0 is the stride-2 unit.</summary>
    public int Repeat { get; }

    public int Groups { get; }
    public int InChannels { get; }
    public int OutChannels { get; }
    public int InHeight { get; }
    public int InWidth { get; }

    public bool Downsamples => Repeat == 0;
    public int Stride => Downsamples ? 2 : 1;
    public int OutHeight => ShuffleNetTopology.Resize(InHeight, Stride);
    public int OutWidth => ShuffleNetTopology.Resize(InWidth, Stride);

    /// <summary>The bottleneck: a quarter of the output width.</summary>
    public int BottleneckChannels => OutChannels / 4;

    /// <summary>What the second pointwise conv writes: the channels the shortcut leaves at stride 2, all of them at stride 1.</summary>
    public int BranchChannels => Downsamples ? OutChannels - InChannels : OutChannels;

    /// <summary>The first unit's input is the stem, too narrow for groups; the official code keeps its shuffle anyway.</summary>
    public int FirstPointwiseGroups => Index == 0 ? 1 : Groups;

    public string Prefix => "units." + Index;
    public string FirstPointwise => Prefix + ".conv1";
    public string FirstBatchNorm => Prefix + ".bn1";
    public string Depthwise => Prefix + ".dw";
    public string DepthwiseBatchNorm => Prefix + ".bn2";
    public string SecondPointwise => Prefix + ".conv3";
    public string SecondBatchNorm => Prefix + ".bn3";
}
