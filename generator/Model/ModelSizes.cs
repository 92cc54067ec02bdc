using System.Collections.Generic;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Passes;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// The sizes a declaration's limits are about, from its shapes alone, so the parse step checks them without lowering
/// the network: each figure is what the lowering and the passes arrive at, which ModelSizesTests checks.
/// </summary>
internal static class ModelSizes
{
    public static long InputLength(NetworkSpec network) => (long)network.InputChannels * network.InputHeight * network.InputWidth;

    /// <summary>The packed weight array: each weighted op's weights, padded as <see cref="WeightLayout"/> pads them.</summary>
    public static long PackedWeightLength(NetworkSpec network)
    {
        long total = WeightLayout.Aligned(WindowOp.PackedLength(network.StemChannels, network.InputChannels));
        foreach (var unit in Units(network))
        {
            total += WeightLayout.Aligned(PointwiseOp.PackedLength(unit.BottleneckChannels, unit.InChannels / unit.FirstPointwiseGroups));
            total += WeightLayout.Aligned(WindowOp.PackedLength(unit.BottleneckChannels, 1));
            total += WeightLayout.Aligned(PointwiseOp.PackedLength(unit.BranchChannels, unit.BottleneckChannels / unit.Groups));
        }
        return total + WeightLayout.Aligned(LinearOp.PackedLength(network.StageChannels[network.StageChannels.Count - 1], network.Classes));
    }

    /// <summary>
    /// The arena's tensors in the lowering's order, each with its length and live range. Steps count ops: the stem
    /// convolution is step 0 and its max pool step 1; a stride-2 unit runs shortcut, first pointwise, depthwise and
    /// second pointwise, a stride-1 unit the last three; then the global pool and the classifier. A unit's input is
    /// read last by its first pointwise convolution, or at stride 1 by the residual add of its second.
    /// </summary>
    public static List<ArenaTensor> ArenaTensors(NetworkSpec network)
    {
        var tensors = new List<ArenaTensor>();
        int Add(long length, int first)
        {
            tensors.Add(new ArenaTensor(length, new LiveRange(first, -1)));
            return tensors.Count - 1;
        }
        void End(int tensor, int lastStep) => tensors[tensor] = tensors[tensor] with { Live = tensors[tensor].Live with { Last = lastStep } };

        int c = network.StemChannels;
        int h = ShuffleNetTopology.Resize(network.InputHeight, network.StemStride);
        int w = ShuffleNetTopology.Resize(network.InputWidth, network.StemStride);
        int x = Add((long)c * h * w, 0);
        int step = 1;
        if (network.StemMaxPool)
        {
            End(x, step);
            x = Add((long)c * ShuffleNetTopology.StridedSize(h) * ShuffleNetTopology.StridedSize(w), step);
            step++;
        }
        foreach (var unit in Units(network))
        {
            int firstPointwise = unit.Downsamples ? step + 1 : step;
            End(x, unit.Downsamples ? firstPointwise : firstPointwise + 2);
            int output = Add((long)unit.OutChannels * unit.OutHeight * unit.OutWidth, unit.Downsamples ? step : firstPointwise + 2);
            End(Add((long)unit.BottleneckChannels * unit.InHeight * unit.InWidth, firstPointwise), firstPointwise + 1);
            End(Add((long)unit.BottleneckChannels * unit.OutHeight * unit.OutWidth, firstPointwise + 1), firstPointwise + 2);
            x = output;
            c = unit.OutChannels;
            step = firstPointwise + 3;
        }
        End(x, step);
        End(Add(c, step), step + 1);
        return tensors;
    }

    private static List<UnitShape> Units(NetworkSpec network) => ShuffleNetTopology.Units(network.Groups, network.StemChannels, network.StageChannels, network.StageRepeats,
        ShuffleNetTopology.StemOutputSize(network.InputHeight, network.StemStride, network.StemMaxPool),
        ShuffleNetTopology.StemOutputSize(network.InputWidth, network.StemStride, network.StemMaxPool));
}
