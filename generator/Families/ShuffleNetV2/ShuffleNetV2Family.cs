using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Families.ShuffleNetV2;

/// <summary>
/// ShuffleNet v2 (Ma et al., 2018) as torchvision builds it, in torchvision's <c>state_dict</c> names: the stem
/// (<c>conv1.0</c>, <c>conv1.1</c>) and max pool, stages <c>stage2</c>… of units whose first halves the map, then
/// <c>conv5</c>, the global pool and <c>fc</c>.
/// </summary>
/// <remarks>
/// Split, concat and shuffle move no data. Each stage keeps its activations in one tensor of planes, and the lowering
/// tracks which plane holds each logical channel:
/// <list type="bullet">
/// <item>A stride-1 unit leaves its first half where it is. Its branch reads the second half through a plane table,
/// writes its first 1x1 output into the stage's free planes, its depthwise output into the second half's planes (dead
/// once the first 1x1 has read them), and its last 1x1 output into the free planes again (the depthwise has read
/// them). The shuffle after the concat is bookkeeping: output channel 2i is the first half's channel i, 2i+1 the
/// branch's, and the next unit reads its halves through the planes that bookkeeping names.</item>
/// <item>A stride-2 unit writes both branches' outputs into the new stage's tensor (branch1 to planes 0..h-1, branch2
/// to h..2h-1, interleaved by the same bookkeeping). branch2 runs first, through two tensors of its own that are dead
/// before the stage's tensor is alive; branch1's depthwise output uses the planes from 2h on.</item>
/// </list>
/// </remarks>
internal sealed class ShuffleNetV2Family : NetworkFamily
{
    public static readonly ShuffleNetV2Family Instance = new();

    public override string DisplayName => "ShuffleNet v2";

    public override IReadOnlyList<string> Lower(NetworkSpec spec, GraphBuilder b)
    {
        var stemOut = b.Tensor("stem", spec.StemChannels, Windows.OutputSize(spec.InputHeight, 2), Windows.OutputSize(spec.InputWidth, 2));
        b.Window(WindowKind.Convolution, "conv1.0", b.Input, stemOut, 2, relu: true, batchNorm: "conv1.1");
        var pooled = b.Tensor("maxpool", spec.StemChannels, Windows.OutputSize(stemOut.Height, 2), Windows.OutputSize(stemOut.Width, 2));
        b.Window(WindowKind.MaxPool, "maxpool", stemOut, pooled, 2, relu: false, batchNorm: null);

        var x = new Channels(pooled, Enumerable.Range(0, pooled.Channels).ToArray());
        int index = 0;
        for (int stage = 0; stage < spec.StageChannels.Count; stage++)
        {
            string prefix = "stage" + (stage + 2);
            for (int repeat = 0; repeat < spec.StageRepeats[stage]; repeat++, index++)
            {
                string name = $"{prefix}.{repeat}";
                x = repeat == 0
                    ? DownsamplingUnit(b, index, name, x, spec.StageChannels[stage])
                    : Unit(b, index, name, x);
            }
        }

        b.Section = new Section("Head", null);
        var conv5 = b.Tensor("conv5", spec.FinalChannels, x.Tensor.Height, x.Tensor.Width);
        b.Pointwise("conv5.0", x.Tensor, conv5, spec.FinalChannels, 1, "conv5.1", relu: true, inputPlanes: PlaneMap.Table(x.Planes));
        b.Classifier("fc", b.GlobalPool("globalpool", conv5));

        return new[]
        {
            $"{DisplayName}, input {spec.InputChannels}x{spec.InputHeight}x{spec.InputWidth}, {spec.Classes} classes;",
            $"stem {spec.StemChannels}, stages {string.Join(" / ", spec.StageChannels)} with {string.Join(", ", spec.StageRepeats)} units, conv5 {spec.FinalChannels}.",
        };
    }

    /// <summary>A unit's output: the tensor of its stage and which of its planes holds each logical channel.</summary>
    private sealed record Channels(TensorNode Tensor, int[] Planes);

    /// <summary>Output channel 2i is <paramref name="first"/>[i], 2i+1 is <paramref name="second"/>[i]: the concat, then a shuffle of 2 groups.</summary>
    private static int[] Interleave(int[] first, int[] second)
    {
        var planes = new int[first.Length + second.Length];
        for (int i = 0; i < first.Length; i++)
        {
            planes[2 * i] = first[i];
            planes[2 * i + 1] = second[i];
        }
        return planes;
    }

    private static int[] Range(int start, int count) => Enumerable.Range(start, count).ToArray();

    /// <summary>
    /// The first unit of a stage: no split; branch1 = depthwise 3x3 stride 2 (+BN), 1x1 (+BN, ReLU); branch2 = 1x1
    /// (+BN, ReLU), depthwise 3x3 stride 2 (+BN), 1x1 (+BN, ReLU); each branch gives half of the stage's width.
    /// </summary>
    private static Channels DownsamplingUnit(GraphBuilder b, int index, string name, Channels x, int width)
    {
        int half = width / 2, inChannels = x.Planes.Length;
        int h = Windows.OutputSize(x.Tensor.Height, 2), w = Windows.OutputSize(x.Tensor.Width, 2);
        b.Section = new Section("Unit" + index, $"Unit {index} ({name}): {inChannels}x{x.Tensor.Height}x{x.Tensor.Width} to {width}x{h}x{w}, stride 2.");
        // Planes 0..half-1: branch1's output; half..2·half-1: branch2's; from 2·half: the branches' intermediates.
        var stage = b.Tensor(name.Substring(0, name.IndexOf('.')), 2 * half + System.Math.Max(half, inChannels), h, w);
        var scratch = 2 * half;

        var input = PlaneMap.Table(x.Planes);
        // branch2 first: its first 1x1 output, at the input size, is the unit's largest tensor, and it is dead before
        // the new stage's tensor is alive; its depthwise output is a small tensor of its own for the same reason.
        var squeezed = b.Tensor(name + ".branch2.0", half, x.Tensor.Height, x.Tensor.Width);
        b.Pointwise(name + ".branch2.0", x.Tensor, squeezed, half, 1, name + ".branch2.1", relu: true, inputPlanes: input);
        var spatial = b.Tensor(name + ".branch2.3", half, h, w);
        b.Window(WindowKind.Depthwise, name + ".branch2.3", squeezed, spatial, 2, relu: false, batchNorm: name + ".branch2.4");
        b.Pointwise(name + ".branch2.5", spatial, stage, half, 1, name + ".branch2.6", relu: true, PlaneMap.Contiguous(half, half));

        // branch1's depthwise output goes to the planes from 2·half, which the stage's stride-1 units use for their branch.
        b.Window(WindowKind.Depthwise, name + ".branch1.0", x.Tensor, stage, 2, relu: false, batchNorm: name + ".branch1.1",
            PlaneMap.Contiguous(scratch, inChannels), input);
        b.Pointwise(name + ".branch1.2", stage, stage, half, 1, name + ".branch1.3", relu: true,
            PlaneMap.Contiguous(0, half), inputPlanes: PlaneMap.Contiguous(scratch, inChannels));

        return new Channels(stage, Interleave(Range(0, half), Range(half, half)));
    }

    /// <summary>
    /// A stride-1 unit: the first half passes; branch2 = 1x1 (+BN, ReLU), depthwise 3x3 (+BN), 1x1 (+BN, ReLU) on the
    /// second half; all in place in the stage's tensor (see the class remarks).
    /// </summary>
    private static Channels Unit(GraphBuilder b, int index, string name, Channels x)
    {
        var t = x.Tensor;
        int width = x.Planes.Length, half = width / 2;
        b.Section = new Section("Unit" + index, $"Unit {index} ({name}): {width}x{t.Height}x{t.Width}, stride 1.");
        var first = x.Planes.Take(half).ToArray();
        var second = x.Planes.Skip(half).ToArray();
        var free = Enumerable.Range(0, t.Channels).Except(x.Planes).Take(half).ToArray();

        b.Pointwise(name + ".branch2.0", t, t, half, 1, name + ".branch2.1", relu: true, PlaneMap.Table(free), inputPlanes: PlaneMap.Table(second));
        b.Window(WindowKind.Depthwise, name + ".branch2.3", t, t, 1, relu: false, batchNorm: name + ".branch2.4", PlaneMap.Table(second), PlaneMap.Table(free));
        b.Pointwise(name + ".branch2.5", t, t, half, 1, name + ".branch2.6", relu: true, PlaneMap.Table(free), inputPlanes: PlaneMap.Table(second));
        return new Channels(t, Interleave(first, free));
    }
}
