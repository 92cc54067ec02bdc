using System;
using System.Collections.Generic;
using ShuffleNetGen.Generator.Passes;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>
/// An activation: C planes of H x W floats (NCHW, one image), or, <see cref="Quantized"/>, C planes of H x W 32-bit
/// slots each holding four channels' 7-bit activations of one pixel.
/// </summary>
internal sealed class TensorNode
{
    public TensorNode(string name, int channels, int height, int width, bool inArena, bool quantized = false)
    {
        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
        InArena = inArena;
        Quantized = quantized;
    }

    /// <summary>Packed int8 activations: each element is four bytes, four input channels of one pixel.</summary>
    public bool Quantized { get; }

    public string Name { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Pixels => Height * Width;
    public long Length => (long)Channels * Height * Width;

    /// <summary>False for the caller's input and logits spans, which the plan does not place.</summary>
    public bool InArena { get; }

    /// <summary>Where the tensor starts in the arena; -1 until <see cref="NetworkGraph.Planned"/> fills it in.</summary>
    public long Offset { get; init; } = -1;

    public int FirstStep { get; init; } = -1;
    public int LastStep { get; init; } = -1;

    public TensorNode Placed(int firstStep, int lastStep, long offset) =>
        new(Name, Channels, Height, Width, InArena, Quantized) { FirstStep = firstStep, LastStep = lastStep, Offset = offset };
}

internal enum WindowKind
{
    Convolution,
    Depthwise,
    MaxPool,
    AveragePool,
}

/// <summary>One operation of the forward pass, already fused: batch norm, ReLU and residual live in its epilogue.</summary>
internal abstract class OpNode
{
    protected OpNode(string name, int unit, TensorNode input, TensorNode output, int outputChannelOffset)
    {
        Name = name;
        Unit = unit;
        Input = input;
        Output = output;
        OutputChannelOffset = outputChannelOffset;
    }

    /// <summary>Weight name prefix in the canonical layout, e.g. <c>units.3.conv1</c>; for pools a descriptive name.</summary>
    public string Name { get; }

    /// <summary>Unit index, or -1 for the stem and -2 for the head.</summary>
    public int Unit { get; }

    public TensorNode Input { get; }
    public TensorNode Output { get; }

    /// <summary>First output channel written: a stride-2 unit's shortcut and branch write disjoint slices of one tensor.</summary>
    public int OutputChannelOffset { get; }

    public virtual IEnumerable<TensorNode> Reads
    {
        get { yield return Input; }
    }

    /// <summary>Position in execution order, given by the lowering.</summary>
    public int Step { get; init; }

    /// <summary>Offset of this op's packed weights in the model's weight array (from the weight layout pass).</summary>
    public long WeightOffset { get; init; }

    public abstract long PackedWeightLength { get; }
    public abstract long MultiplyAdds { get; }

    /// <summary>The same op over the planned tensors, with its weight offset.</summary>
    public abstract OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset);
}

/// <summary>A 3x3, padding-1 window over planes: the stem convolution, depthwise convolutions and both pools.</summary>
internal sealed class WindowOp : OpNode
{
    public WindowOp(string name, int unit, WindowKind kind, TensorNode input, TensorNode output, int outputChannelOffset, int channels, int stride, bool relu, string? batchNorm)
        : base(name, unit, input, output, outputChannelOffset)
    {
        Kind = kind;
        Channels = channels;
        Stride = stride;
        Relu = relu;
        BatchNorm = batchNorm;
    }

    public WindowKind Kind { get; }
    public int Channels { get; }
    public int Stride { get; }
    public bool Relu { get; }
    public string? BatchNorm { get; }

    /// <summary>Input planes each output plane sums over: all of them for the stem, one otherwise.</summary>
    public int InputPlanes => Kind == WindowKind.Convolution ? Input.Channels : 1;

    public bool HasWeights => Kind is WindowKind.Convolution or WindowKind.Depthwise;

    public override long PackedWeightLength => HasWeights ? PackedLength(Channels, InputPlanes) : 0;

    /// <summary>Per output channel, a 3x3 kernel over each input plane and the folded batch-norm shift.</summary>
    public static long PackedLength(int channels, int inputPlanes) => (long)channels * (inputPlanes * 9 + 1);

    public override long MultiplyAdds => HasWeights ? (long)Output.Pixels * Channels * InputPlanes * 9 : 0;

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new WindowOp(Name, Unit, Kind, planned(Input), planned(Output), OutputChannelOffset, Channels, Stride, Relu, BatchNorm) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>A 1x1 group convolution with batch norm folded in, optional ReLU, residual add and channel shuffle.</summary>
internal sealed class PointwiseOp : OpNode
{
    public PointwiseOp(string name, int unit, TensorNode input, TensorNode output, int outputChannelOffset, int inChannels, int outChannels,
        int groups, int shuffleGroups, TensorNode? residual, bool relu, string batchNorm, bool officialShuffle = false, bool int8 = false)
        : base(name, unit, input, output, outputChannelOffset)
    {
        Int8 = int8;
        OfficialShuffle = officialShuffle;
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        ShuffleGroups = shuffleGroups;
        Residual = residual;
        Relu = relu;
        BatchNorm = batchNorm;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }

    /// <summary>
    /// When above 1, the channel shuffle that follows is folded into where each output plane is stored:
    /// logical channel i·n + j lands in plane j·g + i.
    /// </summary>
    public int ShuffleGroups { get; }

    /// <summary>
    /// The folded shuffle is megvii's official one, the inverse permutation: logical channel i·g + j lands in plane
    /// j·n + i (n = channels / g).
    /// </summary>
    public bool OfficialShuffle { get; }

    public TensorNode? Residual { get; }
    public bool Relu { get; }
    public string BatchNorm { get; }

    public int InPerGroup => InChannels / Groups;
    public int OutPerGroup => OutChannels / Groups;

    /// <summary>
    /// Integer arithmetic: the input is a <see cref="QuantizeOp"/>'s packed tensor, weights are int8 with a scale per
    /// output channel, sums are int32, and the output is float again.
    /// </summary>
    public bool Int8 { get; }

    /// <summary>32-bit slots per pixel holding one group's input channels, four to a slot, the last zero-padded.</summary>
    public int QuadsPerGroup => QuantizeOp.Quads(InPerGroup);

    /// <summary>Packed weight slots per output channel: bias and weights, or (int8) scale, bias and four weights per slot.</summary>
    public int ChannelStride => StrideOf(InPerGroup, Int8);

    /// <summary><see cref="ChannelStride"/> from the shapes alone, for the closed-form sizes.</summary>
    public static int StrideOf(int inPerGroup, bool int8) => int8 ? 2 + QuantizeOp.Quads(inPerGroup) : 1 + inPerGroup;

    public override IEnumerable<TensorNode> Reads
    {
        get
        {
            yield return Input;
            if (Residual is not null) yield return Residual;
        }
    }

    public override long PackedWeightLength => PackedLength(OutChannels, InPerGroup, Int8);

    /// <summary>Per output channel, <see cref="StrideOf"/> slots: its group's input weights and the folded shift (int8: a scale, the shift and four weights per slot).</summary>
    public static long PackedLength(int outChannels, int inPerGroup, bool int8) => (long)outChannels * StrideOf(inPerGroup, int8);

    public override long MultiplyAdds => (long)Output.Pixels * OutChannels * InPerGroup;

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new PointwiseOp(Name, Unit, planned(Input), planned(Output), OutputChannelOffset, InChannels, OutChannels, Groups, ShuffleGroups,
            Residual is null ? null : planned(Residual), Relu, BatchNorm, OfficialShuffle, Int8) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>
/// Quantizes a 1x1 convolution's float input to 7-bit activations with the scale and zero point calibration gave it,
/// packed four channels (of one group) to a 32-bit slot per pixel, the layout the int8 dot-product instructions read.
/// </summary>
internal sealed class QuantizeOp : OpNode
{
    public QuantizeOp(string convolution, int unit, TensorNode input, TensorNode output, int groups)
        : base(convolution + ".quantize", unit, input, output, 0)
    {
        Convolution = convolution;
        Groups = groups;
    }

    /// <summary>The convolution whose <c>input_scale</c> and <c>input_zero_point</c> this op applies.</summary>
    public string Convolution { get; }

    public int Groups { get; }
    public int InPerGroup => Input.Channels / Groups;

    public static int Quads(int channels) => (channels + 3) / 4;

    /// <summary>32-bit slots per pixel of the quantized copy of <paramref name="channels"/> channels in <paramref name="groups"/> groups.</summary>
    public static int PackedChannels(int channels, int groups) => groups * Quads(channels / groups);

    /// <summary>The inverse scale, the zero point.</summary>
    public const long PackedLength = 2;

    public override long PackedWeightLength => PackedLength;

    public override long MultiplyAdds => 0;

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new QuantizeOp(Convolution, Unit, planned(Input), planned(Output), Groups) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>Mean over each plane.</summary>
internal sealed class GlobalPoolOp : OpNode
{
    public GlobalPoolOp(TensorNode input, TensorNode output) : base("globalpool", -2, input, output, 0)
    {
    }

    public override long PackedWeightLength => 0;
    public override long MultiplyAdds => 0;

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new GlobalPoolOp(planned(Input), planned(Output)) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>
/// An int8 classifier's input, quantized per image: the global pool's features become 7-bit activations on a scale
/// from their own largest value (the pool averages ReLU outputs, so none is negative and the zero point is 0), packed
/// four to a 32-bit slot, then zero slots up to <see cref="LinearOp.RowSlots"/>, then the scale. Per image rather
/// than calibrated: the features' range follows the image, and measuring it costs one pass over a few hundred values.
/// </summary>
internal sealed class FeatureQuantizeOp : OpNode
{
    public FeatureQuantizeOp(TensorNode input, TensorNode output) : base("fc.quantize", -2, input, output, 0)
    {
    }

    public int Features => Input.Channels;

    /// <summary>The packed slots and, after them, the scale.</summary>
    public static int PackedChannels(int features) => LinearOp.RowSlots(features) + 1;

    public override long PackedWeightLength => 0;
    public override long MultiplyAdds => 0;

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new FeatureQuantizeOp(planned(Input), planned(Output)) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>
/// The classifier: logits = W·x + b. <see cref="Int8"/>: x is a <see cref="FeatureQuantizeOp"/>'s packed features,
/// W int8 with a scale per class, the sums int32.
/// </summary>
internal sealed class LinearOp : OpNode
{
    public LinearOp(TensorNode input, TensorNode output, int inFeatures, bool int8 = false) : base("fc", -2, input, output, 0)
    {
        InFeatures = inFeatures;
        Int8 = int8;
    }

    public int InFeatures { get; }
    public int OutFeatures => Output.Channels;
    public bool Int8 { get; }

    public override long PackedWeightLength => PackedLength(InFeatures, OutFeatures, Int8);

    /// <summary>
    /// The matrix, then the bias; int8: <see cref="RowSlots"/> slots of four weights per class, then a scale and a
    /// bias per class.
    /// </summary>
    public static long PackedLength(int inFeatures, int outFeatures, bool int8) =>
        int8 ? (long)outFeatures * (RowSlots(inFeatures) + 2) : (long)outFeatures * inFeatures + outFeatures;

    /// <summary>
    /// 32-bit slots of four int8 weights (or activations) per class row: whole Vector512s of them, zero-padded, so
    /// every width's loop covers a row exactly and the padding adds nothing.
    /// </summary>
    public static int RowSlots(int inFeatures) => (QuantizeOp.Quads(inFeatures) + 15) / 16 * 16;

    public override long MultiplyAdds => (long)OutFeatures * InFeatures;

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new LinearOp(planned(Input), planned(Output), InFeatures, Int8) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>A PyTorch tensor the model reads, in the canonical layout.</summary>
internal sealed record WeightTensor(string Name, int[] Shape);

/// <summary>
/// The network: tensors, ops in execution order, and the weights they need. The lowering produces it unplanned (no
/// offsets, live ranges or plan figures); <see cref="Planned"/> returns a copy with the passes' results filled in, which
/// is what the emitters read.
/// </summary>
internal sealed class NetworkGraph
{
    public NetworkGraph(IReadOnlyList<TensorNode> tensors, IReadOnlyList<OpNode> ops, IReadOnlyList<WeightTensor> weights, int unitCount)
    {
        Tensors = tensors;
        Ops = ops;
        Weights = weights;
        UnitCount = unitCount;
    }

    public IReadOnlyList<TensorNode> Tensors { get; }
    public IReadOnlyList<OpNode> Ops { get; }
    public IReadOnlyList<WeightTensor> Weights { get; }
    public int UnitCount { get; }

    public long ParameterCount
    {
        get
        {
            long n = 0;
            foreach (var w in Weights)
            {
                // Running statistics are buffers, not parameters (as PyTorch counts them).
                if (w.Name.EndsWith(".running_mean", System.StringComparison.Ordinal) || w.Name.EndsWith(".running_var", System.StringComparison.Ordinal)) continue;
                long c = 1;
                foreach (int d in w.Shape) c *= d;
                n += c;
            }
            return n;
        }
    }

    public long MultiplyAdds
    {
        get
        {
            long n = 0;
            foreach (var op in Ops) n += op.MultiplyAdds;
            return n;
        }
    }

    public long PackedWeightLength { get; init; }
    public long ArenaLength { get; init; }
    public long NaiveActivationLength { get; init; }
    public long LiveLowerBound { get; init; }

    /// <summary>This graph with the passes' results: each tensor's live range and offset, each op's weight offset.</summary>
    public NetworkGraph Planned(TensorLiveRanges lifetimes, ArenaPlan arena, WeightPlacement weights)
    {
        var tensors = new TensorNode[Tensors.Count];
        var byTensor = new Dictionary<TensorNode, TensorNode>(Tensors.Count);
        for (int i = 0; i < tensors.Length; i++)
        {
            var range = lifetimes[i];
            tensors[i] = Tensors[i].Placed(range.First, range.Last, arena.Offsets[i]);
            byTensor.Add(Tensors[i], tensors[i]);
        }
        var ops = new OpNode[Ops.Count];
        for (int i = 0; i < ops.Length; i++) ops[i] = Ops[i].Placed(t => byTensor[t], weights.Offsets[i]);
        return new NetworkGraph(tensors, ops, Weights, UnitCount)
        {
            ArenaLength = arena.ArenaLength,
            NaiveActivationLength = arena.NaiveActivationLength,
            LiveLowerBound = arena.LiveLowerBound,
            PackedWeightLength = weights.PackedWeightLength,
        };
    }
}
