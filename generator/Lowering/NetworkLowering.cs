using System.Collections.Generic;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>Turns a resolved network into fused ops over named tensors, in execution order.</summary>
internal static class NetworkLowering
{
    public static int StridedSize(int size) => (size - 1) / 2 + 1;

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

        void BatchNorm(string name, int channels)
        {
            foreach (var field in new[] { "weight", "bias", "running_mean", "running_var" })
                weights.Add(new WeightTensor(name + "." + field, new[] { channels }));
        }

        var input = new TensorNode("input", spec.InputChannels, spec.InputHeight, spec.InputWidth, inArena: false);
        tensors.Add(input);

        int h = spec.StemStride == 2 ? StridedSize(spec.InputHeight) : spec.InputHeight;
        int w = spec.StemStride == 2 ? StridedSize(spec.InputWidth) : spec.InputWidth;
        var stem = Tensor("stem", spec.StemChannels, h, w);
        ops.Add(new WindowOp("conv1", -1, WindowKind.Convolution, input, stem, 0, spec.StemChannels, spec.StemStride, relu: true, batchNorm: "bn1"));
        weights.Add(new WeightTensor("conv1.weight", new[] { spec.StemChannels, spec.InputChannels, 3, 3 }));
        BatchNorm("bn1", spec.StemChannels);

        var x = stem;
        if (spec.StemMaxPool)
        {
            h = StridedSize(h);
            w = StridedSize(w);
            var pooled = Tensor("maxpool", spec.StemChannels, h, w);
            ops.Add(new WindowOp("maxpool", -1, WindowKind.MaxPool, x, pooled, 0, spec.StemChannels, 2, relu: false, batchNorm: null));
            x = pooled;
        }

        int unit = 0;
        for (int stage = 0; stage < spec.StageChannels.Count; stage++)
        {
            int outWidth = spec.StageChannels[stage];
            for (int r = 0; r < spec.StageRepeats[stage]; r++, unit++)
            {
                string p = "units." + unit;
                int inWidth = x.Channels;
                int m = outWidth / 4;
                bool down = r == 0;
                // The stem has too few channels for a group convolution; the official code keeps the shuffle anyway.
                int g1 = unit == 0 ? 1 : g;
                int oh = down ? StridedSize(h) : h;
                int ow = down ? StridedSize(w) : w;
                int branchWidth = down ? outWidth - inWidth : outWidth;

                var output = Tensor(p + ".out", outWidth, oh, ow);
                if (down)
                {
                    // The shortcut writes the first channels of the unit output in place: the concat is never copied.
                    ops.Add(new WindowOp(p + ".shortcut", unit, WindowKind.AveragePool, x, output, 0, inWidth, 2, relu: true, batchNorm: null));
                }

                var squeezed = Tensor(p + ".bottleneck", m, h, w);
                ops.Add(new PointwiseOp(p + ".conv1", unit, x, squeezed, 0, inWidth, m, g1, g > 1 ? g : 0, residual: null, relu: true, batchNorm: p + ".bn1",
                    officialShuffle: spec.ShuffleOrder == ChannelShuffleOrder.Official));
                weights.Add(new WeightTensor(p + ".conv1.weight", new[] { m, inWidth / g1, 1, 1 }));
                BatchNorm(p + ".bn1", m);

                var spatial = Tensor(p + ".depthwise", m, oh, ow);
                ops.Add(new WindowOp(p + ".dw", unit, WindowKind.Depthwise, squeezed, spatial, 0, m, down ? 2 : 1, relu: false, batchNorm: p + ".bn2"));
                weights.Add(new WeightTensor(p + ".dw.weight", new[] { m, 1, 3, 3 }));
                BatchNorm(p + ".bn2", m);

                ops.Add(new PointwiseOp(p + ".conv3", unit, spatial, output, down ? inWidth : 0, m, branchWidth, g, 0,
                    residual: down ? null : x, relu: true, batchNorm: p + ".bn3"));
                weights.Add(new WeightTensor(p + ".conv3.weight", new[] { branchWidth, m / g, 1, 1 }));
                BatchNorm(p + ".bn3", branchWidth);

                x = output;
                h = oh;
                w = ow;
            }
        }

        var features = Tensor("globalpool", x.Channels, 1, 1);
        ops.Add(new GlobalPoolOp(x, features));
        var logits = new TensorNode("logits", spec.Classes, 1, 1, inArena: false);
        tensors.Add(logits);
        ops.Add(new LinearOp(features, logits));
        weights.Add(new WeightTensor("fc.weight", new[] { spec.Classes, x.Channels }));
        weights.Add(new WeightTensor("fc.bias", new[] { spec.Classes }));

        for (int i = 0; i < ops.Count; i++) ops[i].Step = i;
        return new NetworkGraph(tensors, ops, weights, unit);
    }
}
