using System.Collections.Generic;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>
/// Moves an int8 1x1 convolution's quantize step into the epilogues of the int8 1x1 convolutions that produce its
/// input, where their channels line up with its slots: the producer already holds the float outputs of consecutive
/// channels for a tile of pixels, so packing them costs a few instructions per vector instead of a second pass that
/// reads the whole float tensor back. The float tensor stays (the next unit's residual, the shortcut's pool and the
/// concat read it); only the quantize pass over it goes. A depthwise convolution read by nothing else packs its
/// conv3's slots itself and its float output leaves the arena (see <see cref="Depthwise"/>). Whatever no such producer
/// writes (the average pool's half of a stride-2 unit's concat, the max pool's output) the quantize step still packs.
/// </summary>
internal static class SlotFusion
{
    /// <summary>
    /// <paramref name="quantize"/>, with the slots its producers will pack taken out of its own (a step of none at all
    /// when they pack every slot); those producers in <paramref name="ops"/> are replaced by copies that pack them.
    /// Unchanged when the input is read through a table, or when the slots cannot be split cleanly between producers
    /// and the step (a slot mixing both, or the step's slots not its first ones).
    /// </summary>
    public static QuantizeOp Quantize(List<OpNode> ops, List<TensorNode> tensors, QuantizeOp quantize)
    {
        if (Depthwise(ops, tensors, quantize) is { } fused) return fused;
        var planes = quantize.InputPlanes;
        if (!planes.IsContiguous) return quantize;
        int start = planes.Start, count = planes.Count, inPerGroup = quantize.InPerGroup;

        // The op that last wrote each of the consumer's channels before it.
        var writer = new int[count];
        for (int c = 0; c < count; c++) writer[c] = -1;
        for (int i = 0; i < ops.Count; i++)
        {
            if (!ReferenceEquals(ops[i].Output, quantize.Input)) continue;
            var map = ops[i].OutputPlanes;
            for (int c = 0; c < map.Count; c++)
            {
                int channel = map[c] - start;
                if (channel >= 0 && channel < count) writer[channel] = i;
            }
        }

        var packers = new HashSet<int>();
        foreach (int w in writer)
        {
            if (w < 0) return quantize;
            if (ops[w] is PointwiseOp producer && Lines(producer, start, count, inPerGroup)) packers.Add(w);
        }
        if (packers.Count == 0) return quantize;

        // Each slot is the producers' or the step's, never both; the step's are its first ones (the pool's half of a
        // concat comes first), so a team splits them as it splits any quantize step.
        var packed = new bool?[quantize.SlotCount];
        for (int c = 0; c < count; c++)
        {
            int slot = QuantizeOp.SlotOf(c, inPerGroup);
            bool byProducer = packers.Contains(writer[c]);
            if (packed[slot] is bool seen && seen != byProducer) return quantize;
            packed[slot] = byProducer;
        }
        int own = 0;
        while (own < packed.Length && packed[own] == false) own++;
        for (int s = own; s < packed.Length; s++)
            if (packed[s] == false) return quantize;

        var names = new List<string>();
        foreach (int w in packers)
        {
            var producer = (PointwiseOp)ops[w];
            ops[w] = producer.WithPacks(new SlotPacking(quantize.Output, quantize.Name, producer.OutputPlanes.Start - start, inPerGroup));
            names.Add(producer.Name);
        }
        names.Sort(System.StringComparer.Ordinal);
        return new QuantizeOp(quantize.Convolution, quantize.Section, quantize.Input, quantize.Output, quantize.Groups)
        {
            Step = quantize.Step,
            InputPlanes = quantize.InputPlanes,
            OwnSlots = own,
            PackedBy = names,
        };
    }

    /// <summary>Planes of four floats a depthwise convolution packing slots computes on its stack, at most: 16 KiB.</summary>
    public const int MaxScratchFloats = 4096;

    /// <summary>
    /// A depthwise convolution whose whole output only this convolution reads (v1's branch, v2's stride-2 branch2) packs
    /// the slots itself: it computes a slot's four channels into planes on its stack and packs them there, so its float
    /// output never reaches the arena. The tensor stays in the graph, out of the arena, as the description's name for
    /// what the layers compute (calibration's float pass computes it). Null where that does not apply.
    /// </summary>
    private static QuantizeOp? Depthwise(List<OpNode> ops, List<TensorNode> tensors, QuantizeOp quantize)
    {
        var input = quantize.Input;
        if (!quantize.InputPlanes.IsContiguous || quantize.InputPlanes.Start != 0 || quantize.InputChannels != input.Channels) return null;
        if (4L * input.Pixels > MaxScratchFloats) return null;
        int at = -1;
        for (int i = 0; i < ops.Count; i++)
        {
            foreach (var read in ops[i].Reads)
                if (ReferenceEquals(read, input)) return null;
            if (ReferenceEquals(ops[i].Output, input))
            {
                if (at >= 0) return null;
                at = i;
            }
        }
        if (at < 0 || ops[at] is not WindowOp { Kind: WindowKind.Depthwise, Packs: null } depthwise) return null;
        if (!depthwise.OutputPlanes.IsContiguous || depthwise.OutputPlanes.Start != 0 || depthwise.Channels != input.Channels) return null;
        if (!depthwise.InputPlanes.IsContiguous) return null;

        var stackOnly = new TensorNode(input.Name, input.Channels, input.Height, input.Width, inArena: false);
        tensors[tensors.IndexOf(input)] = stackOnly;
        ops[at] = depthwise.WithPacks(stackOnly, new SlotPacking(quantize.Output, quantize.Name, 0, quantize.InPerGroup));
        return new QuantizeOp(quantize.Convolution, quantize.Section, stackOnly, quantize.Output, quantize.Groups)
        {
            Step = quantize.Step,
            InputPlanes = quantize.InputPlanes,
            OwnSlots = 0,
            PackedBy = new[] { depthwise.Name },
        };
    }

    /// <summary>
    /// Whether an int8 convolution storing a slice can pack a consumer's slots in its tiles: its tiles start at
    /// multiples of four channels within its group and cover four at a time, so each such run of its channels must be
    /// one whole slot of one consumer group. A producer group of channels not a multiple of four is not fused: its
    /// last run could only fill a consumer group's part-filled last slot, and no fused consumer has one (v1's unit
    /// convolutions read groups of a multiple of four channels, a stage width being a multiple of 4·g; v2's halves
    /// keep their step), so that code would run in no model.
    /// </summary>
    private static bool Lines(PointwiseOp producer, int start, int count, int inPerGroup)
    {
        if (!producer.Int8 || producer.Packs is not null || !producer.OutputPlanes.IsContiguous) return false;
        int offset = producer.OutputPlanes.Start - start;
        if (offset < 0 || offset + producer.OutChannels > count) return false;
        int perGroup = producer.OutPerGroup;
        if (perGroup % 4 != 0) return false;
        for (int k = 0; k < producer.Groups; k++)
        {
            for (int b = 0; b < perGroup; b += 4)
            {
                int within = (offset + k * perGroup + b) % inPerGroup;
                if (within % 4 != 0 || within + 4 > inPerGroup) return false;
            }
        }
        return true;
    }
}
