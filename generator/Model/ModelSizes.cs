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
        // int8: a quantize op's values before each 1x1 convolution.
        long Pointwise(int outChannels, int inPerGroup) =>
            (network.IsInt8 ? WeightLayout.Aligned(QuantizeOp.PackedLength) : 0) + WeightLayout.Aligned(PointwiseOp.PackedLength(outChannels, inPerGroup, network.IsInt8));
        foreach (var unit in Units(network))
        {
            total += Pointwise(unit.BottleneckChannels, unit.InChannels / unit.FirstPointwiseGroups);
            total += WeightLayout.Aligned(WindowOp.PackedLength(unit.BottleneckChannels, 1));
            total += Pointwise(unit.BranchChannels, unit.BottleneckChannels / unit.Groups);
        }
        return total + WeightLayout.Aligned(LinearOp.PackedLength(network.StageChannels[network.StageChannels.Count - 1], network.Classes, network.IsInt8));
    }

    /// <summary>
    /// The arena's tensors in the lowering's order, each with its length and live range. Steps count ops: the stem
    /// convolution is step 0 and its max pool step 1; a stride-2 unit runs shortcut, first pointwise, depthwise and
    /// second pointwise, a stride-1 unit the last three; then the global pool and the classifier. A unit's input is
    /// read last by its first pointwise convolution, or at stride 1 by the residual add of its second. An int8 model
    /// quantizes each 1x1 convolution's input in a step of its own just before it, into a tensor of 32-bit slots (four
    /// channels of one group each) that only that convolution reads, and the classifier's features likewise.
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
        // The float ops of a unit, as steps from its first pointwise convolution: the depthwise and the second
        // pointwise follow directly in float; int8 puts a quantize step before each pointwise.
        int quantize = network.IsInt8 ? 1 : 0;
        foreach (var unit in Units(network))
        {
            int firstQuantize = unit.Downsamples ? step + 1 : step;
            int firstPointwise = firstQuantize + quantize;
            int depthwise = firstPointwise + 1;
            int secondPointwise = depthwise + 1 + quantize;
            // At stride 2 the shortcut reads the unit input first; the (quantized) first pointwise reads it last.
            End(x, unit.Downsamples ? firstQuantize : secondPointwise);
            // The lowering adds the output (the shortcut writes it) before the bottleneck tensors.
            int output = Add((long)unit.OutChannels * unit.OutHeight * unit.OutWidth, unit.Downsamples ? step : secondPointwise);
            int bottleneck = Add((long)unit.BottleneckChannels * unit.InHeight * unit.InWidth, firstPointwise);
            if (network.IsInt8)
                End(Add(QuantizedLength(unit.InChannels, unit.FirstPointwiseGroups, unit.InHeight, unit.InWidth), firstQuantize), firstPointwise);
            End(bottleneck, depthwise);
            int spatial = Add((long)unit.BottleneckChannels * unit.OutHeight * unit.OutWidth, depthwise);
            if (network.IsInt8)
                End(Add(QuantizedLength(unit.BottleneckChannels, unit.Groups, unit.OutHeight, unit.OutWidth), secondPointwise - 1), secondPointwise);
            End(spatial, secondPointwise - quantize);
            x = output;
            c = unit.OutChannels;
            step = secondPointwise + 1;
        }
        End(x, step);
        int features = Add(c, step);
        if (network.IsInt8)
        {
            // int8: the features are quantized in a step of their own, which the classifier reads.
            End(features, step + 1);
            End(Add(FeatureQuantizeOp.PackedChannels(c), step + 1), step + 2);
        }
        else
        {
            End(features, step + 1);
        }
        return tensors;
    }

    private static long QuantizedLength(int channels, int groups, int height, int width) =>
        (long)QuantizeOp.PackedChannels(channels, groups) * height * width;

    private static List<UnitShape> Units(NetworkSpec network) => ShuffleNetTopology.Units(network.Groups, network.StemChannels, network.StageChannels, network.StageRepeats,
        ShuffleNetTopology.StemOutputSize(network.InputHeight, network.StemStride, network.StemMaxPool),
        ShuffleNetTopology.StemOutputSize(network.InputWidth, network.StemStride, network.StemMaxPool));
}
