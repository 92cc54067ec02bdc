using System;
using System.Collections.Generic;
using System.IO;

namespace ShuffleNetGen;

/// <summary>A generated ShuffleNet. An instance owns its activation arena: use one instance per thread.</summary>
public interface IShuffleNetModel
{
    /// <summary>Runs one image (NCHW, exactly <c>C*H*W</c> floats) and writes exactly <c>Classes</c> logits. Allocates nothing.</summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="input"/> is not <c>C*H*W</c> floats long, or <paramref name="logits"/> not <c>Classes</c>; a
    /// longer span is rejected too. The message names the expected and the actual length.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// The instance is already running <see cref="Forward(ReadOnlySpan{float}, Span{float})"/> on another thread: its arena holds one pass at a time.
    /// </exception>
    void Forward(ReadOnlySpan<float> input, Span<float> logits);

    /// <summary>
    /// <see cref="Forward(ReadOnlySpan{float}, Span{float})"/> on every thread of <paramref name="team"/>: each op's
    /// independent outputs split among them. The logits are bit-identical to the one-thread pass. Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">As the one-thread <c>Forward</c>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="team"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The instance, or the team, is already running a pass.</exception>
    /// <exception cref="ObjectDisposedException">The team is disposed.</exception>
    /// <remarks>
    /// Generated models implement it; a model written by hand that does not runs the one-thread pass on the calling
    /// thread, so adding this member broke no implementation.
    /// </remarks>
    void Forward(ReadOnlySpan<float> input, Span<float> logits, ShuffleNetTeam team)
    {
        ArgumentNullException.ThrowIfNull(team);
        Forward(input, logits);
    }
}

/// <summary>Static face of a generated model, so generic code can construct and size any model.</summary>
public interface IShuffleNetModel<TSelf> : IShuffleNetModel where TSelf : class, IShuffleNetModel<TSelf>
{
    /// <summary>Floats in one input image: channels × height × width.</summary>
    static abstract int InputElementCount { get; }

    /// <summary>Number of logits <see cref="IShuffleNetModel.Forward(ReadOnlySpan{float}, Span{float})"/> writes.</summary>
    static abstract int ClassCount { get; }

    /// <summary>Resolved architecture, memory plan and cost figures.</summary>
    static abstract ModelDescription Description { get; }

    /// <summary>
    /// Each distinct kernel and the code path it takes on this machine: the vector width and, on ARM64, the AdvSimd
    /// instructions. Evaluated from the same hardware checks the kernels branch on.
    /// </summary>
    static abstract IReadOnlyList<KernelPath> KernelPaths { get; }

    /// <summary>Binds weights in the canonical PyTorch-style layout (see README).</summary>
    static abstract TSelf FromTensors(TensorSet tensors);

    /// <summary>Loads a safetensors file (F32) in the canonical layout.</summary>
    static abstract TSelf FromSafetensors(string path);

    /// <summary>Loads safetensors (F32) from a stream in the canonical layout.</summary>
    static abstract TSelf FromSafetensors(Stream stream);

    /// <summary>A model with deterministic pseudo-random weights and batch-norm statistics, for tests and benchmarks.</summary>
    static abstract TSelf CreateRandom(int seed);
}

/// <summary>The resolved network a generated model computes, with its static memory plan.</summary>
public sealed record ModelDescription(
    string Name,
    int Groups,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    int Classes,
    int StemChannels,
    int StemStride,
    bool StemMaxPool,
    IReadOnlyList<int> StageChannels,
    IReadOnlyList<int> StageRepeats,
    long ParameterCount,
    long MultiplyAdds,
    int ArenaLength,
    long NaiveActivationLength,
    int LiveLowerBound,
    IReadOnlyList<ArenaSlot> MemoryPlan,
    IReadOnlyList<TensorShape> WeightLayout)
{
    /// <summary>
    /// The channel shuffle's permutation (<see cref="ShuffleNetAttribute.ShuffleOrder"/>). An init-only property rather
    /// than a constructor parameter so that descriptions written before it existed keep compiling, meaning Paper.
    /// </summary>
    public ShuffleOrder ShuffleOrder { get; init; } = ShuffleOrder.Paper;

    /// <summary>
    /// The arithmetic of the model (<see cref="ShuffleNetAttribute.Precision"/>). Int8 models list, per 1x1 convolution,
    /// the calibration tensors <c>input_scale</c> and <c>input_zero_point</c> in <see cref="WeightLayout"/>.
    /// </summary>
    public Precision Precision { get; init; } = Precision.Float32;

    /// <summary>
    /// The layers the generated forward pass runs, in order, as the model's family lowered them (empty for a
    /// description written by hand). The int8 calibration and the ONNX importer follow the network through these.
    /// </summary>
    public IReadOnlyList<LayerDescription> Layers { get; init; } = Array.Empty<LayerDescription>();

    /// <summary>The family: 1 for ShuffleNet v1, 2 for ShuffleNet v2 (whose <see cref="Groups"/> is 1).</summary>
    public int Version { get; init; } = 1;

    /// <summary>ShuffleNet v2's <c>conv5</c> width, the 1x1 convolution before the global pool; 0 for v1, which has none.</summary>
    public int FinalChannels { get; init; }
}

/// <summary>A generated kernel (named by op, shape and tiling) and the path it runs here, e.g. <c>Vector128, AdvSimd fmaxp+uzp2</c>.</summary>
public readonly record struct KernelPath(string Kernel, string Path);

/// <summary>
/// One activation's place in the arena: 4-byte slots [Offset, Offset + Length), alive from step FirstStep to LastStep
/// inclusive. A slot holds a float, or in an int8 model's quantized inputs (<c>….input_q</c>) four 7-bit activations.
/// </summary>
public readonly record struct ArenaSlot(string Tensor, int Offset, int Length, int FirstStep, int LastStep);

/// <summary>Name and shape of one tensor a model expects.</summary>
public sealed record TensorShape(string Name, int[] Dimensions)
{
    /// <summary>Number of elements.</summary>
    /// <exception cref="OverflowException">The product exceeds <see cref="int.MaxValue"/>.</exception>
    public int ElementCount
    {
        get
        {
            // Checked: a wrapped product would size arrays for a different tensor.
            int n = 1;
            foreach (int d in Dimensions) n = checked(n * d);
            return n;
        }
    }

    /// <summary>Shape as written in PyTorch, e.g. <c>[240, 80, 1, 1]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Dimensions) + "]";

    /// <inheritdoc/>
    public override string ToString() => Name + " " + ShapeText;
}
