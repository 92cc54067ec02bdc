using System;
using System.Diagnostics;

namespace ShuffleNetGen;

/// <summary>
/// Declares a ShuffleNet v2 (Ma et al. 2018), as torchvision's <c>ShuffleNetV2</c> builds it, whose forward pass the
/// ShuffleNetGen source generator emits into the annotated <c>partial class</c>. Every dimension is fixed at compile
/// time; the weights load by torchvision's <c>state_dict</c> names (<c>conv1.0.weight</c>, <c>stage2.0.branch1.0.weight</c>, …).
/// </summary>
/// <remarks>
/// <see cref="Scale"/> 0.5, 1.0, 1.5 and 2.0 give torchvision's <c>shufflenet_v2_x0_5</c> … <c>x2_0</c> widths exactly;
/// other scales derive even widths by the rule in the README. A configuration the network cannot realise is reported
/// as a compile-time error.
/// </remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
[Conditional("SHUFFLENETGEN_KEEP_ATTRIBUTES")]
public sealed class ShuffleNetV2Attribute : Attribute
{
    /// <summary>Width multiplier: 0.5, 1.0, 1.5 or 2.0 for torchvision's models; any value in (0, 4].</summary>
    public double Scale { get; set; } = 1.0;

    /// <summary>Units per stage (stage k is torchvision's <c>stage{k+2}</c>), the first of each with stride 2. Default { 4, 8, 4 }; 1 to 4 stages.</summary>
    public int[]? Stages { get; set; }

    /// <summary>Explicit output width of each stage, overriding the derived widths; even, since each unit splits it in halves. Same length as <see cref="Stages"/>.</summary>
    public int[]? StageChannels { get; set; }

    /// <summary>Explicit output width of the stem convolution (0: 24, as torchvision at every scale).</summary>
    public int StemChannels { get; set; }

    /// <summary>Explicit width of <c>conv5</c>, the 1x1 convolution before the global pool (0: 1024, or 2048 from scale 2 on).</summary>
    public int FinalChannels { get; set; }

    /// <summary>Channels of the input image (3 for RGB, 1 for grayscale).</summary>
    public int InputChannels { get; set; } = 3;

    /// <summary>Input height in pixels.</summary>
    public int InputHeight { get; set; } = 224;

    /// <summary>Input width in pixels.</summary>
    public int InputWidth { get; set; } = 224;

    /// <summary>Number of output classes.</summary>
    public int Classes { get; set; } = 1000;

    /// <summary>
    /// <see cref="Precision.Float32"/> (default) or <see cref="Precision.Int8"/>: the 1x1 convolutions in 8-bit integers,
    /// with activation scales from calibration (see the README).
    /// </summary>
    public Precision Precision { get; set; } = Precision.Float32;
}
