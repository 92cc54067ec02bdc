using System.Collections.Generic;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>An activation: C planes of H x W floats (NCHW, one image).</summary>
internal sealed class TensorNode
{
    public TensorNode(string name, int channels, int height, int width, bool inArena)
    {
        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
        InArena = inArena;
    }

    public string Name { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Pixels => Height * Width;
    public long Length => (long)Channels * Height * Width;

    /// <summary>False for the caller's input and logits spans, which the plan does not place.</summary>
    public bool InArena { get; }

    /// <summary>Set by the arena planner.</summary>
    public long Offset { get; set; } = -1;

    public int FirstStep { get; set; } = -1;
    public int LastStep { get; set; } = -1;
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

    public int Step { get; set; }

    /// <summary>Offset of this op's packed weights in the model's weight array (set by the weight layout pass).</summary>
    public long WeightOffset { get; set; }

    public abstract long PackedWeightLength { get; }
    public abstract long MultiplyAdds { get; }
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

    public override long PackedWeightLength => HasWeights ? (long)Channels * (InputPlanes * 9 + 1) : 0;

    public override long MultiplyAdds => HasWeights ? (long)Output.Pixels * Channels * InputPlanes * 9 : 0;
}

/// <summary>A 1x1 group convolution with batch norm folded in, optional ReLU, residual add and channel shuffle.</summary>
internal sealed class PointwiseOp : OpNode
{
    public PointwiseOp(string name, int unit, TensorNode input, TensorNode output, int outputChannelOffset, int inChannels, int outChannels,
        int groups, int shuffleGroups, TensorNode? residual, bool relu, string batchNorm, bool officialShuffle = false)
        : base(name, unit, input, output, outputChannelOffset)
    {
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

    public override IEnumerable<TensorNode> Reads
    {
        get
        {
            yield return Input;
            if (Residual is not null) yield return Residual;
        }
    }

    public override long PackedWeightLength => (long)OutChannels * (1 + InPerGroup);

    public override long MultiplyAdds => (long)Output.Pixels * OutChannels * InPerGroup;
}

/// <summary>Mean over each plane.</summary>
internal sealed class GlobalPoolOp : OpNode
{
    public GlobalPoolOp(TensorNode input, TensorNode output) : base("globalpool", -2, input, output, 0)
    {
    }

    public override long PackedWeightLength => 0;
    public override long MultiplyAdds => 0;
}

/// <summary>The classifier: logits = W·x + b.</summary>
internal sealed class LinearOp : OpNode
{
    public LinearOp(TensorNode input, TensorNode output) : base("fc", -2, input, output, 0)
    {
    }

    public int InFeatures => Input.Channels;
    public int OutFeatures => Output.Channels;

    public override long PackedWeightLength => (long)OutFeatures * InFeatures + OutFeatures;
    public override long MultiplyAdds => (long)OutFeatures * InFeatures;
}

/// <summary>A PyTorch tensor the model reads, in the canonical layout.</summary>
internal sealed record WeightTensor(string Name, int[] Shape);

/// <summary>The lowered network: tensors, ops in execution order, and the weights they need.</summary>
internal sealed class NetworkGraph
{
    public NetworkGraph(List<TensorNode> tensors, List<OpNode> ops, List<WeightTensor> weights, int unitCount)
    {
        Tensors = tensors;
        Ops = ops;
        Weights = weights;
        UnitCount = unitCount;
    }

    public List<TensorNode> Tensors { get; }
    public List<OpNode> Ops { get; }
    public List<WeightTensor> Weights { get; }
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

    public long PackedWeightLength { get; set; }
    public long ArenaLength { get; set; }
    public long NaiveActivationLength { get; set; }
    public long LiveLowerBound { get; set; }
}
