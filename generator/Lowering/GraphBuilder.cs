using System.Collections.Generic;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>
/// What every family lowers with: tensors, fused ops and the weights each reads, in execution order. A family says
/// which convolutions, pools and joins its network has; the builder decides how the model's precision computes them
/// (an int8 model quantizes each 1x1 convolution's input in a step of its own, and the classifier's features), so a
/// family never mentions precision.
/// </summary>
internal sealed class GraphBuilder
{
    private readonly List<TensorNode> _tensors = new();
    private readonly List<OpNode> _ops = new();
    private readonly List<WeightTensor> _weights = new();
    private readonly bool _int8;

    public GraphBuilder(NetworkSpec spec)
    {
        Spec = spec;
        _int8 = spec.IsInt8;
        Input = Add(new TensorNode("input", spec.InputChannels, spec.InputHeight, spec.InputWidth, inArena: false));
    }

    public NetworkSpec Spec { get; }

    /// <summary>The caller's image, outside the arena.</summary>
    public TensorNode Input { get; }

    /// <summary>The method new ops go into.</summary>
    public Section Section { get; set; } = new("Stem", null);

    /// <summary>An activation in the arena.</summary>
    public TensorNode Tensor(string name, int channels, int height, int width) => Add(new TensorNode(name, channels, height, width, inArena: true));

    /// <summary>A 3x3, padding-1 window: a full convolution (the stem), a depthwise convolution, or a pool.</summary>
    /// <param name="inputPlanes">Which planes of <paramref name="input"/> it reads (null: all, in order); a window maps each to one output plane, except the full convolution.</param>
    public void Window(WindowKind kind, string name, TensorNode input, TensorNode output, int stride, bool relu, string? batchNorm, PlaneMap? outputPlanes = null,
        PlaneMap? inputPlanes = null)
    {
        inputPlanes ??= PlaneMap.Contiguous(0, input.Channels);
        int channels = kind == WindowKind.Convolution ? outputPlanes?.Count ?? output.Channels : inputPlanes.Count;
        Add(new WindowOp(name, Section, kind, input, output, outputPlanes, channels, stride, relu, batchNorm) { Step = Next, InputPlanes = inputPlanes });
        if (kind == WindowKind.Convolution) Weight(name + ".weight", channels, inputPlanes.Count, 3, 3);
        if (kind == WindowKind.Depthwise) Weight(name + ".weight", channels, 1, 3, 3);
        if (batchNorm is not null) BatchNorm(batchNorm, channels);
    }

    /// <summary>
    /// A 1x1 group convolution of <paramref name="input"/>'s channels into <paramref name="outChannels"/> channels,
    /// batch norm folded, stored where <paramref name="outputPlanes"/> says, with an optional residual add and ReLU.
    /// </summary>
    public void Pointwise(string name, TensorNode input, TensorNode output, int outChannels, int groups, string batchNorm, bool relu,
        PlaneMap? outputPlanes = null, TensorNode? residual = null, PlaneMap? inputPlanes = null)
    {
        inputPlanes ??= PlaneMap.Contiguous(0, input.Channels);
        int inChannels = inputPlanes.Count;
        var source = input;
        if (_int8)
        {
            // The convolution reads a packed quantized copy of its input, made just before it (gathering the planes
            // the convolution reads), with the calibration tensors that say how.
            source = Add(new TensorNode(name + ".input_q", QuantizeOp.PackedChannels(inChannels, groups), input.Height, input.Width, inArena: true, quantized: true));
            Add(SlotFusion.Quantize(_ops, _tensors, new QuantizeOp(name, Section, input, source, groups) { Step = Next, InputPlanes = inputPlanes }));
            inputPlanes = PlaneMap.Contiguous(0, source.Channels);
        }
        Add(new PointwiseOp(name, Section, source, output, outputPlanes, inChannels, outChannels, groups, residual, relu, batchNorm, _int8) { Step = Next, InputPlanes = inputPlanes });
        Weight(name + ".weight", outChannels, inChannels / groups, 1, 1);
        if (_int8)
        {
            Weight(name + "." + InputScale, 1);
            Weight(name + "." + InputZeroPoint, 1);
        }
        BatchNorm(batchNorm, outChannels);
    }

    /// <summary>The mean of each plane, into a tensor of one pixel per channel.</summary>
    public TensorNode GlobalPool(string name, TensorNode input)
    {
        var features = Tensor(name, input.Channels, 1, 1);
        Add(new GlobalPoolOp(Section, input, features) { Step = Next });
        return features;
    }

    /// <summary>The classifier, <c>name.weight</c> · features + <c>name.bias</c>, into the caller's logits.</summary>
    public void Classifier(string name, TensorNode features)
    {
        var logits = Add(new TensorNode("logits", Spec.Classes, 1, 1, inArena: false));
        var source = features;
        if (_int8)
        {
            source = Add(new TensorNode(name + ".input_q", FeatureQuantizeOp.PackedChannels(features.Channels), 1, 1, inArena: true, quantized: true));
            Add(new FeatureQuantizeOp(name, Section, features, source) { Step = Next });
        }
        Add(new LinearOp(name, Section, source, logits, features.Channels, _int8) { Step = Next });
        Weight(name + ".weight", Spec.Classes, features.Channels);
        Weight(name + ".bias", Spec.Classes);
    }

    /// <summary>The graph, with the family's summary of the network and what the precision adds to it.</summary>
    public NetworkGraph Build(string family, IReadOnlyList<string> summary)
    {
        StemPoolFusion.Fuse(_ops, _tensors);
        // A depthwise output packed on the stack (SlotFusion) is read by nothing but its quantize layer, which no longer
        // runs; a stem's computed on the stack (StemPoolFusion), by nothing but its max pool, which no longer runs either.
        foreach (var op in _ops)
            foreach (var read in op.Reads)
                if (op.Runs && !read.InArena && read.Name != "input")
                    throw new System.InvalidOperationException($"{op.Name} reads {read.Name}, which lives only on its producer's stack.");
        return new(_tensors, _ops, _weights, new GraphNotes(family, summary, _int8 ? Int8Remarks : new string[0], _int8 ? "4-byte slots: a float or four int8 activations" : "floats"));
    }

    /// <summary>An int8 model's calibration tensors, per 1x1 convolution (<c>units.3.conv1.input_scale</c>), each of shape [1].</summary>
    public const string InputScale = "input_scale";
    public const string InputZeroPoint = "input_zero_point";

    /// <summary>A batch norm's tensors, in the order the layout lists them.</summary>
    public static readonly string[] BatchNormFields = { "weight", "bias", "running_mean", "running_var" };

    private static readonly string[] Int8Remarks =
    {
        "int8: the 1x1 convolutions in integers (7-bit activations, int8 weights with a scale per output channel, int32 sums),",
        "and the classifier (its features quantized per image, int8 weights with a scale per class); stem, depthwise",
        "convolutions and pools in float. Each <c>….input_q</c> tensor holds four activations per slot.",
    };

    private void BatchNorm(string name, int channels)
    {
        foreach (var field in BatchNormFields) Weight(name + "." + field, channels);
    }

    private void Weight(string name, params int[] shape) => _weights.Add(new WeightTensor(name, shape));

    private TensorNode Add(TensorNode tensor)
    {
        _tensors.Add(tensor);
        return tensor;
    }

    private void Add(OpNode op) => _ops.Add(op);

    /// <summary>The step the next op takes: its position in execution order.</summary>
    private int Next => _ops.Count;
}
