using System;
using System.Diagnostics;

namespace ShuffleNetGen;

/// <summary>
/// Declares a ShuffleNet v1 (Zhang et al. 2017) whose forward pass the ShuffleNetGen source generator emits into the
/// annotated <c>partial class</c>. Every dimension is fixed at compile time.
/// </summary>
/// <remarks>
/// Stage widths not given by <see cref="StageChannels"/> are derived from the paper's Table 1 and <see cref="Scale"/>;
/// see the README for the rule. A configuration the network cannot realise is reported as a compile-time error.
/// </remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
[Conditional("SHUFFLENETGEN_KEEP_ATTRIBUTES")]
public sealed class ShuffleNetAttribute : Attribute
{
    /// <summary>Groups of the pointwise group convolutions: 1, 2, 3, 4 or 8.</summary>
    public int Groups { get; set; } = 3;

    /// <summary>Width multiplier ("ShuffleNet s×"). 1.0 gives the paper's Table 1 widths.</summary>
    public double Scale { get; set; } = 1.0;

    /// <summary>Units per stage, the first of each with stride 2. Default { 4, 8, 4 }; 1 to 4 stages.</summary>
    public int[]? Stages { get; set; }

    /// <summary>Explicit output width of each stage, overriding the derived widths. Same length as <see cref="Stages"/>.</summary>
    public int[]? StageChannels { get; set; }

    /// <summary>Explicit output width of the stem convolution (0: derived).</summary>
    public int StemChannels { get; set; }

    /// <summary>Channels of the input image (1 for grayscale, 3 for RGB).</summary>
    public int InputChannels { get; set; } = 3;

    /// <summary>Input height in pixels.</summary>
    public int InputHeight { get; set; } = 224;

    /// <summary>Input width in pixels.</summary>
    public int InputWidth { get; set; } = 224;

    /// <summary>Number of output logits.</summary>
    public int Classes { get; set; } = 1000;

    /// <summary>Stride of the 3x3 stem convolution: 2 (paper) or 1 (small images).</summary>
    public int StemStride { get; set; } = 2;

    /// <summary>Whether the 3x3 stride-2 max pool follows the stem (paper: true).</summary>
    public bool StemMaxPool { get; set; } = true;

    /// <summary>
    /// Permutation of the channel shuffle: <see cref="ShuffleOrder.Paper"/> (default) or <see cref="ShuffleOrder.Official"/>
    /// for weights from megvii's official code. Either costs nothing at run time; it only changes where the first
    /// pointwise convolution of each unit stores its output channels.
    /// </summary>
    public ShuffleOrder ShuffleOrder { get; set; } = ShuffleOrder.Paper;

    /// <summary>
    /// <see cref="Precision.Float32"/> (default) or <see cref="Precision.Int8"/>: the 1x1 convolutions in 8-bit integers,
    /// with weights from <c>Int8Calibration.Calibrate</c> (see docs/int8.md).
    /// </summary>
    public Precision Precision { get; set; } = Precision.Float32;
}
