using System.Collections.Generic;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>Turns a resolved network into fused ops over named tensors, in execution order.</summary>
internal static class NetworkLowering
{
    public static NetworkGraph Lower(NetworkSpec spec)
    {
        var tensors = new List<TensorNode>();
        var ops = new List<OpNode>();
        var weights = new List<WeightTensor>();
        int g = spec.Groups;

        TensorNode Tensor(string name, int c, int h, int w)
        {
            var t = new TensorNode(name, c, h, w, inArena: true);
            tensors.Add(t);
            return t;
        }

        // int8: each 1x1 convolution reads a packed quantized copy of its input, made by a QuantizeOp just before it,
        // with the calibration tensors that say how.
        TensorNode PointwiseInput(string conv, int unit, TensorNode x, int groups)
        {
            if (!spec.IsInt8) return x;
            var quantized = new TensorNode(conv + ".input_q", QuantizeOp.PackedChannels(x.Channels, groups), x.Height, x.Width, inArena: true, quantized: true);
            tensors.Add(quantized);
            ops.Add(new QuantizeOp(conv, unit, x, quantized, groups) { Step = ops.Count });
            return quantized;
        }

        void Calibration(string conv)
        {
            if (!spec.IsInt8) return;
            weights.Add(new WeightTensor(conv + "." + ShuffleNetTopology.InputScale, new[] { 1 }));
            weights.Add(new WeightTensor(conv + "." + ShuffleNetTopology.InputZeroPoint, new[] { 1 }));
        }

        void BatchNorm(string name, int channels)
        {
            foreach (var field in ShuffleNetTopology.BatchNormFields)
                weights.Add(new WeightTensor(name + "." + field, new[] { channels }));
        }

        var input = new TensorNode("input", spec.InputChannels, spec.InputHeight, spec.InputWidth, inArena: false);
        tensors.Add(input);

        var stem = Tensor("stem", spec.StemChannels, ShuffleNetTopology.Resize(spec.InputHeight, spec.StemStride), ShuffleNetTopology.Resize(spec.InputWidth, spec.StemStride));
        ops.Add(new WindowOp(ShuffleNetTopology.StemConvolution, -1, WindowKind.Convolution, input, stem, 0, spec.StemChannels, spec.StemStride, relu: true, batchNorm: ShuffleNetTopology.StemBatchNorm) { Step = ops.Count });
        weights.Add(new WeightTensor(ShuffleNetTopology.StemConvolution + ".weight", new[] { spec.StemChannels, spec.InputChannels, 3, 3 }));
        BatchNorm(ShuffleNetTopology.StemBatchNorm, spec.StemChannels);

        var x = stem;
        if (spec.StemMaxPool)
        {
            var pooled = Tensor("maxpool", spec.StemChannels, ShuffleNetTopology.StridedSize(stem.Height), ShuffleNetTopology.StridedSize(stem.Width));
            ops.Add(new WindowOp("maxpool", -1, WindowKind.MaxPool, x, pooled, 0, spec.StemChannels, 2, relu: false, batchNorm: null) { Step = ops.Count });
            x = pooled;
        }

        var units = ShuffleNetTopology.Units(g, spec.StemChannels, spec.StageChannels, spec.StageRepeats, x.Height, x.Width);
        foreach (var u in units)
        {
            int m = u.BottleneckChannels;
            var output = Tensor(u.Prefix + ".out", u.OutChannels, u.OutHeight, u.OutWidth);
            if (u.Downsamples)
            {
                // The shortcut writes the first channels of the unit output in place: the concat is never copied.
                ops.Add(new WindowOp(u.Prefix + ".shortcut", u.Index, WindowKind.AveragePool, x, output, 0, u.InChannels, 2, relu: true, batchNorm: null) { Step = ops.Count });
            }

            var squeezed = Tensor(u.Prefix + ".bottleneck", m, u.InHeight, u.InWidth);
            var firstInput = PointwiseInput(u.FirstPointwise, u.Index, x, u.FirstPointwiseGroups);
            ops.Add(new PointwiseOp(u.FirstPointwise, u.Index, firstInput, squeezed, 0, u.InChannels, m, u.FirstPointwiseGroups, g > 1 ? g : 0, residual: null, relu: true, batchNorm: u.FirstBatchNorm,
                officialShuffle: spec.ShuffleOrder == ChannelShuffleOrder.Official, int8: spec.IsInt8) { Step = ops.Count });
            weights.Add(new WeightTensor(u.FirstPointwise + ".weight", new[] { m, u.InChannels / u.FirstPointwiseGroups, 1, 1 }));
            Calibration(u.FirstPointwise);
            BatchNorm(u.FirstBatchNorm, m);

            var spatial = Tensor(u.Prefix + ".depthwise", m, u.OutHeight, u.OutWidth);
            ops.Add(new WindowOp(u.Depthwise, u.Index, WindowKind.Depthwise, squeezed, spatial, 0, m, u.Stride, relu: false, batchNorm: u.DepthwiseBatchNorm) { Step = ops.Count });
            weights.Add(new WeightTensor(u.Depthwise + ".weight", new[] { m, 1, 3, 3 }));
            BatchNorm(u.DepthwiseBatchNorm, m);

            var secondInput = PointwiseInput(u.SecondPointwise, u.Index, spatial, g);
            ops.Add(new PointwiseOp(u.SecondPointwise, u.Index, secondInput, output, u.Downsamples ? u.InChannels : 0, m, u.BranchChannels, g, 0,
                residual: u.Downsamples ? null : x, relu: true, batchNorm: u.SecondBatchNorm, int8: spec.IsInt8) { Step = ops.Count });
            weights.Add(new WeightTensor(u.SecondPointwise + ".weight", new[] { u.BranchChannels, m / g, 1, 1 }));
            Calibration(u.SecondPointwise);
            BatchNorm(u.SecondBatchNorm, u.BranchChannels);

            x = output;
        }

        var features = Tensor("globalpool", x.Channels, 1, 1);
        ops.Add(new GlobalPoolOp(x, features) { Step = ops.Count });
        var logits = new TensorNode("logits", spec.Classes, 1, 1, inArena: false);
        tensors.Add(logits);
        var classifierInput = features;
        if (spec.IsInt8)
        {
            classifierInput = new TensorNode("fc.input_q", FeatureQuantizeOp.PackedChannels(features.Channels), 1, 1, inArena: true, quantized: true);
            tensors.Add(classifierInput);
            ops.Add(new FeatureQuantizeOp(features, classifierInput) { Step = ops.Count });
        }
        ops.Add(new LinearOp(classifierInput, logits, features.Channels, int8: spec.IsInt8) { Step = ops.Count });
        weights.Add(new WeightTensor(ShuffleNetTopology.Classifier + ".weight", new[] { spec.Classes, x.Channels }));
        weights.Add(new WeightTensor(ShuffleNetTopology.Classifier + ".bias", new[] { spec.Classes }));

        return new NetworkGraph(tensors, ops, weights, units.Count);
    }
}
