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
    protected OpNode(string name, Section section, TensorNode input, TensorNode output, PlaneMap? outputPlanes = null)
    {
        Name = name;
        Section = section;
        Input = input;
        Output = output;
        OutputPlanes = outputPlanes ?? PlaneMap.Contiguous(0, output.Channels);
    }

    /// <summary>Weight name prefix in the canonical layout, e.g. <c>units.3.conv1</c>; for pools a descriptive name.</summary>
    public string Name { get; }

    /// <summary>The generated method this op runs in (the stem, a unit, the head), as the family grouped it.</summary>
    public Section Section { get; }

    public TensorNode Input { get; }
    public TensorNode Output { get; }

    /// <summary>
    /// Where each channel the op computes is stored in <see cref="Output"/>: a slice (a stride-2 unit's shortcut and
    /// branch write disjoint slices of one tensor), a slice in channel-shuffled order, or any table of planes.
    /// </summary>
    public PlaneMap OutputPlanes { get; }

    /// <summary>Which planes of <see cref="Input"/> the op reads as its input channels, in order: all of them unless a family says otherwise.</summary>
    public PlaneMap InputPlanes
    {
        get => _inputPlanes ?? PlaneMap.Contiguous(0, Input.Channels);
        init => _inputPlanes = value;
    }

    private readonly PlaneMap? _inputPlanes;

    /// <summary>Input channels the op reads: <see cref="InputPlanes"/>' count.</summary>
    public int InputChannels => InputPlanes.Count;


    public virtual IEnumerable<TensorNode> Reads
    {
        get { yield return Input; }
    }

    /// <summary>What the op stores: its output and, for a producer that packs its consumer's slots in its epilogue, those slots.</summary>
    public virtual IEnumerable<TensorNode> Writes
    {
        get { yield return Output; }
    }

    /// <summary>
    /// Whether the op is a step of the forward pass. A quantize layer its producers do entirely in their epilogues is
    /// not: it stays in the graph (and in <c>Description.Layers</c>, which calibration's float pass follows) for its
    /// calibration tensors and packed parameters, which the producers read.
    /// </summary>
    public virtual bool Runs => true;

    /// <summary>Position in execution order, given by the lowering.</summary>
    public int Step { get; init; }

    /// <summary>Offset of this op's packed weights in the model's weight array (from the weight layout pass).</summary>
    public long WeightOffset { get; init; }

    public abstract long PackedWeightLength { get; }
    public abstract long MultiplyAdds { get; }

    /// <summary>The same op over the planned tensors, with its weight offset.</summary>
    public abstract OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset);

    /// <summary>What the generated <c>Description.Layers</c> says of this op (the runtime's <c>LayerDescription</c>).</summary>
    public abstract LayerFacts Facts { get; }
}

/// <summary>An op as the runtime's <c>LayerDescription</c> states it: its <c>LayerKind</c> by name and its parameters.</summary>
internal sealed record LayerFacts(string Kind, int Channels, int Groups = 1, int Stride = 1, bool Relu = false, string? BatchNorm = null, TensorNode? Residual = null);

/// <summary>A 3x3, padding-1 window over planes: the stem convolution, depthwise convolutions and both pools.</summary>
internal sealed class WindowOp : OpNode
{
    public WindowOp(string name, Section section, WindowKind kind, TensorNode input, TensorNode output, PlaneMap? outputPlanes, int channels, int stride, bool relu, string? batchNorm)
        : base(name, section, input, output, outputPlanes ?? PlaneMap.Contiguous(0, channels))
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
    public int PlanesPerOutput => Kind == WindowKind.Convolution ? InputChannels : 1;

    public bool HasWeights => Kind is WindowKind.Convolution or WindowKind.Depthwise;

    public override long PackedWeightLength => HasWeights ? PackedLength(Channels, PlanesPerOutput) : 0;

    /// <summary>Per output channel, a 3x3 kernel over each input plane and the folded batch-norm shift.</summary>
    public static long PackedLength(int channels, int inputPlanes) => (long)channels * (inputPlanes * 9 + 1);

    public override long MultiplyAdds => HasWeights ? (long)Output.Pixels * Channels * PlanesPerOutput * 9 : 0;

    public override LayerFacts Facts => new(Kind switch
    {
        WindowKind.Convolution => "Convolution3x3",
        WindowKind.Depthwise => "Depthwise3x3",
        WindowKind.MaxPool => "MaxPool3x3",
        _ => "AveragePool3x3",
    }, Channels, Stride: Stride, Relu: Relu, BatchNorm: BatchNorm);

    /// <summary>
    /// Depthwise only: the next 1x1 convolution's slots it packs instead of storing its float output (which then lives
    /// only on its stack, four planes at a time). Null: it stores floats.
    /// </summary>
    public SlotPacking? Packs { get; init; }

    /// <summary>
    /// The stem only: the max pool it computes in its own step, a band of its rows at a time (see
    /// <see cref="StemPoolFusion"/>), so its own output lives only on its stack. Null: it stores its output.
    /// </summary>
    public WindowOp? Pools { get; init; }

    /// <summary>
    /// A max pool that <see cref="Pools"/> puts in the stem's step: it stays in the graph (and in <c>Description.Layers</c>,
    /// which calibration's float pass follows), but is no step of its own.
    /// </summary>
    public string? PooledBy { get; init; }

    public override bool Runs => PooledBy is null;

    public override IEnumerable<TensorNode> Writes
    {
        get
        {
            yield return Output;
            if (Packs is not null) yield return Packs.Slots;
            if (Pools is not null) yield return Pools.Output;
        }
    }

    /// <summary>This depthwise convolution writing <paramref name="output"/> (its float output, out of the arena), packing <paramref name="packs"/>.</summary>
    public WindowOp WithPacks(TensorNode output, SlotPacking packs) =>
        new(Name, Section, Kind, Input, output, OutputPlanes, Channels, Stride, Relu, BatchNorm) { Step = Step, InputPlanes = InputPlanes, Packs = packs };

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new WindowOp(Name, Section, Kind, planned(Input), planned(Output), OutputPlanes, Channels, Stride, Relu, BatchNorm)
        {
            Step = Step, WeightOffset = weightOffset, InputPlanes = InputPlanes, Packs = Packs is null ? null : Packs with { Slots = planned(Packs.Slots) },
            Pools = (WindowOp?)Pools?.Placed(planned, 0), PooledBy = PooledBy,
        };
}

/// <summary>
/// A 1x1 group convolution with batch norm folded in, optional ReLU and residual add, storing its channels where
/// <see cref="OpNode.OutputPlanes"/> says (a channel shuffle after it costs nothing).
/// </summary>
internal sealed class PointwiseOp : OpNode
{
    public PointwiseOp(string name, Section section, TensorNode input, TensorNode output, PlaneMap? outputPlanes, int inChannels, int outChannels,
        int groups, TensorNode? residual, bool relu, string batchNorm, bool int8 = false)
        : base(name, section, input, output, outputPlanes ?? PlaneMap.Contiguous(0, outChannels))
    {
        Int8 = int8;
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        Residual = residual;
        Relu = relu;
        BatchNorm = batchNorm;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }

    /// <summary>Above 1 when <see cref="OpNode.OutputPlanes"/> is a channel shuffle (see <see cref="PlaneMap.ShuffleGroups"/>).</summary>
    public int ShuffleGroups => OutputPlanes.ShuffleGroups;

    /// <summary>The shuffle is megvii's official one (see <see cref="PlaneMap.OfficialShuffle"/>).</summary>
    public bool OfficialShuffle => OutputPlanes.OfficialShuffle;

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

    /// <summary>
    /// Int8 only: the next 1x1 convolution's slots this convolution packs from its own outputs in its epilogue, in
    /// place of (part of) that convolution's quantize step. Null: it stores floats only.
    /// </summary>
    public SlotPacking? Packs { get; init; }

    public override IEnumerable<TensorNode> Writes
    {
        get
        {
            yield return Output;
            if (Packs is not null) yield return Packs.Slots;
        }
    }

    public override long PackedWeightLength => PackedLength(OutChannels, InPerGroup, Int8);

    /// <summary>Per output channel, <see cref="StrideOf"/> slots: its group's input weights and the folded shift (int8: a scale, the shift and four weights per slot).</summary>
    public static long PackedLength(int outChannels, int inPerGroup, bool int8) => (long)outChannels * StrideOf(inPerGroup, int8);

    public override long MultiplyAdds => (long)Output.Pixels * OutChannels * InPerGroup;

    public override LayerFacts Facts => new("Pointwise", OutChannels, Groups, Relu: Relu, BatchNorm: BatchNorm, Residual: Residual);

    /// <summary>This convolution, its epilogue also packing <paramref name="packs"/>.</summary>
    public PointwiseOp WithPacks(SlotPacking packs) =>
        new(Name, Section, Input, Output, OutputPlanes, InChannels, OutChannels, Groups, Residual, Relu, BatchNorm, Int8) { Step = Step, InputPlanes = InputPlanes, Packs = packs };

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new PointwiseOp(Name, Section, planned(Input), planned(Output), OutputPlanes, InChannels, OutChannels, Groups,
            Residual is null ? null : planned(Residual), Relu, BatchNorm, Int8)
        {
            Step = Step, WeightOffset = weightOffset, InputPlanes = InputPlanes, Packs = Packs is null ? null : Packs with { Slots = planned(Packs.Slots) },
        };
}

/// <summary>
/// What a producer's epilogue packs for a consumer's quantize layer: the consumer's slot tensor, the quantize layer
/// (whose packed inverse scale and zero point it reads), where the producer's logical channel 0 falls among the
/// consumer's input channels, and the consumer's channels per group. Every four of the producer's channels, from a
/// multiple of four within its group, fill one slot of the consumer (the lowering checks it), so a tile of four
/// channels packs whole slots.
/// </summary>
internal sealed record SlotPacking(TensorNode Slots, string QuantizeName, int ChannelOffset, int InPerGroup)
{
    /// <summary>The consumer's slot of <paramref name="consumerChannel"/> (one of its input channels).</summary>
    public int SlotOf(int consumerChannel) => QuantizeOp.SlotOf(consumerChannel, InPerGroup);
}

/// <summary>
/// Quantizes a 1x1 convolution's float input to 7-bit activations with the scale and zero point calibration gave it,
/// packed four channels (of one group) to a 32-bit slot per pixel, the layout the int8 dot-product instructions read.
/// </summary>
internal sealed class QuantizeOp : OpNode
{
    public QuantizeOp(string convolution, Section section, TensorNode input, TensorNode output, int groups)
        : base(convolution + ".quantize", section, input, output)
    {
        Convolution = convolution;
        Groups = groups;
    }

    /// <summary>The convolution whose <c>input_scale</c> and <c>input_zero_point</c> this op applies.</summary>
    public string Convolution { get; }

    public int Groups { get; }
    public int InPerGroup => InputChannels / Groups;

    public static int Quads(int channels) => (channels + 3) / 4;

    /// <summary>The slot holding input channel <paramref name="channel"/> of a convolution reading groups of <paramref name="inPerGroup"/> channels.</summary>
    public static int SlotOf(int channel, int inPerGroup) => channel / inPerGroup * Quads(inPerGroup) + channel % inPerGroup / 4;

    /// <summary>Every slot of the packed copy: groups × quads.</summary>
    public int SlotCount => Groups * Quads(InPerGroup);

    /// <summary>
    /// The slots this op packs itself, its first ones: all of them, unless producers pack the rest in their epilogues
    /// (a stride-2 unit's concat: its convolution's half is packed there, the average pool's half, first, here).
    /// </summary>
    public int OwnSlots
    {
        get => _ownSlots ?? SlotCount;
        init => _ownSlots = value;
    }

    private readonly int? _ownSlots;

    /// <summary>The producers whose epilogues pack the slots this op does not (for the generated plan's comments).</summary>
    public IReadOnlyList<string> PackedBy { get; init; } = new string[0];

    public override bool Runs => OwnSlots > 0;

    /// <summary>32-bit slots per pixel of the quantized copy of <paramref name="channels"/> channels in <paramref name="groups"/> groups.</summary>
    public static int PackedChannels(int channels, int groups) => groups * Quads(channels / groups);

    /// <summary>The inverse scale, the zero point.</summary>
    public const long PackedLength = 2;

    public override long PackedWeightLength => PackedLength;

    public override long MultiplyAdds => 0;

    public override LayerFacts Facts => new("Quantize", InputChannels, Groups);

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new QuantizeOp(Convolution, Section, planned(Input), planned(Output), Groups)
        {
            Step = Step, WeightOffset = weightOffset, InputPlanes = InputPlanes, OwnSlots = OwnSlots, PackedBy = PackedBy,
        };
}

/// <summary>Mean over each plane.</summary>
internal sealed class GlobalPoolOp : OpNode
{
    public GlobalPoolOp(Section section, TensorNode input, TensorNode output) : base("globalpool", section, input, output)
    {
    }

    public override long PackedWeightLength => 0;
    public override long MultiplyAdds => 0;

    public override LayerFacts Facts => new("GlobalAveragePool", Input.Channels);

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new GlobalPoolOp(Section, planned(Input), planned(Output)) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>
/// An int8 classifier's input, quantized per image: the global pool's features become 7-bit activations on a scale
/// from their own largest value (the pool averages ReLU outputs, so none is negative and the zero point is 0), packed
/// four to a 32-bit slot, then zero slots up to <see cref="LinearOp.RowSlots"/>, then the scale. Per image rather
/// than calibrated: the features' range follows the image, and measuring it costs one pass over a few hundred values.
/// </summary>
internal sealed class FeatureQuantizeOp : OpNode
{
    public FeatureQuantizeOp(string classifier, Section section, TensorNode input, TensorNode output) : base(classifier + ".quantize", section, input, output)
    {
    }

    public int Features => Input.Channels;

    /// <summary>The packed slots and, after them, the scale.</summary>
    public static int PackedChannels(int features) => LinearOp.RowSlots(features) + 1;

    public override long PackedWeightLength => 0;
    public override long MultiplyAdds => 0;

    public override LayerFacts Facts => new("FeatureQuantize", Features);

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new FeatureQuantizeOp(Name.Substring(0, Name.Length - ".quantize".Length), Section, planned(Input), planned(Output)) { Step = Step, WeightOffset = weightOffset };
}

/// <summary>
/// The classifier: logits = W·x + b. <see cref="Int8"/>: x is a <see cref="FeatureQuantizeOp"/>'s packed features,
/// W int8 with a scale per class, the sums int32.
/// </summary>
internal sealed class LinearOp : OpNode
{
    public LinearOp(string name, Section section, TensorNode input, TensorNode output, int inFeatures, bool int8 = false) : base(name, section, input, output)
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

    public override LayerFacts Facts => new("Linear", OutFeatures);

    public override OpNode Placed(Func<TensorNode, TensorNode> planned, long weightOffset) =>
        new LinearOp(Name, Section, planned(Input), planned(Output), InFeatures, Int8) { Step = Step, WeightOffset = weightOffset };
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
    public NetworkGraph(IReadOnlyList<TensorNode> tensors, IReadOnlyList<OpNode> ops, IReadOnlyList<WeightTensor> weights, GraphNotes notes)
    {
        Tensors = tensors;
        Ops = ops;
        Weights = weights;
        Notes = notes;
    }

    public IReadOnlyList<TensorNode> Tensors { get; }
    public IReadOnlyList<OpNode> Ops { get; }
    public IReadOnlyList<WeightTensor> Weights { get; }

    /// <summary>What the lowering says about the network in words, for the generated class's documentation.</summary>
    public GraphNotes Notes { get; }

    /// <summary>The generated methods, in forward order: each op's <see cref="OpNode.Section"/>, once.</summary>
    public IReadOnlyList<Section> Sections
    {
        get
        {
            var sections = new List<Section>();
            foreach (var op in Ops)
                if (sections.Count == 0 || !sections[sections.Count - 1].Equals(op.Section)) sections.Add(op.Section);
            return sections;
        }
    }

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
        return new NetworkGraph(tensors, ops, Weights, Notes)
        {
            ArenaLength = arena.ArenaLength,
            NaiveActivationLength = arena.NaiveActivationLength,
            LiveLowerBound = arena.LiveLowerBound,
            PackedWeightLength = weights.PackedWeightLength,
        };
    }
}

/// <summary>
/// A generated method of the forward pass: the family groups its ops into sections (the stem, each unit, the head),
/// names each and says in words what it maps, so the emitter composes methods without knowing what a unit is.
/// </summary>
/// <param name="Method">The method's name, e.g. <c>Unit3</c>.</param>
/// <param name="Summary">Its doc summary, or null for none.</param>
internal sealed record Section(string Method, string? Summary);

/// <summary>
/// The words the lowering puts in the generated class's documentation: the family's name and account of the network,
/// and what the model's precision changes (its remarks and what an arena slot holds).
/// </summary>
internal sealed record GraphNotes(string Family, IReadOnlyList<string> Summary, IReadOnlyList<string> PrecisionRemarks, string ArenaElement);

/// <summary>
/// Where an op stores (or finds) each of its logical channels among the planes of a tensor: channel i is plane
/// <c>this[i]</c>. Three forms: a contiguous slice; a slice in channel-shuffled order (what a shuffle after the op
/// amounts to, folded into the stores); and any table of planes. Kernels address the first two by arithmetic and the
/// third through a table of literals.
/// </summary>
internal sealed class PlaneMap : IEquatable<PlaneMap>
{
    private readonly int[]? _table;

    private PlaneMap(int start, int count, int shuffleGroups, bool official, int[]? table)
    {
        Start = start;
        Count = count;
        ShuffleGroups = shuffleGroups;
        OfficialShuffle = official;
        _table = table;
    }

    /// <summary>Channels i = 0..count-1 in planes start + i.</summary>
    public static PlaneMap Contiguous(int start, int count) => new(start, count, 1, false, null);

    /// <summary>
    /// The channel shuffle of <paramref name="groups"/> groups folded into the stores, over planes start..start+count-1:
    /// the paper's shuffle sends channel i·n + j to plane j·g + i (n = count / g); megvii's official code
    /// (<paramref name="official"/>) uses the inverse, i·g + j to j·n + i. One group is no shuffle.
    /// </summary>
    public static PlaneMap Shuffled(int start, int count, int groups, bool official) =>
        groups <= 1 ? Contiguous(start, count) : new(start, count, groups, official, null);

    /// <summary>Any placement: channel i in plane <c>planes[i]</c>.</summary>
    public static PlaneMap Table(int[] planes) => new(-1, planes.Length, 1, false, (int[])planes.Clone());

    /// <summary>First plane of a contiguous or shuffled map; -1 for a table.</summary>
    public int Start { get; }

    public int Count { get; }

    /// <summary>Above 1 for a shuffled map.</summary>
    public int ShuffleGroups { get; }

    public bool OfficialShuffle { get; }

    public bool IsContiguous => _table is null && ShuffleGroups == 1;

    public bool IsTable => _table is not null;

    /// <summary>The first plane of a contiguous map, which is all a kernel addressing slices needs.</summary>
    public int ContiguousStart => IsContiguous ? Start : throw new InvalidOperationException("The plane map is not a contiguous slice.");

    public int this[int channel]
    {
        get
        {
            if (_table is not null) return _table[channel];
            if (ShuffleGroups == 1) return Start + channel;
            int perGroup = Count / ShuffleGroups;
            return Start + (OfficialShuffle
                ? channel % ShuffleGroups * perGroup + channel / ShuffleGroups
                : channel % perGroup * ShuffleGroups + channel / perGroup);
        }
    }

    /// <summary>Every plane, in channel order.</summary>
    public int[] ToArray()
    {
        var planes = new int[Count];
        for (int i = 0; i < planes.Length; i++) planes[i] = this[i];
        return planes;
    }

    public bool Equals(PlaneMap? other)
    {
        if (other is null || other.Count != Count) return false;
        for (int i = 0; i < Count; i++)
            if (this[i] != other[i]) return false;
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as PlaneMap);

    public override int GetHashCode() => Count == 0 ? 0 : Count * 31 + this[0];
}
