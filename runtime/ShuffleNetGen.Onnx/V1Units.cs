using System;
using System.Collections.Generic;
using ShuffleNetGen.Quantization;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// What the importer matches an ONNX ShuffleNet v1 graph against, read from the model's <see cref="ModelDescription.Layers"/>
/// (the generator's lowering) rather than derived again here: the stem's names and stride, whether a max pool follows,
/// each unit's widths, groups, stride and tensor names, and the classifier's name. The ONNX patterns are the importer's;
/// the shapes are the family's.
/// </summary>
internal sealed class V1Units
{
    private V1Units(LayerDescription stem, List<UnitShape> units, string classifier)
    {
        Stem = stem;
        Units = units;
        Classifier = classifier;
    }

    public LayerDescription Stem { get; }
    public IReadOnlyList<UnitShape> Units { get; }
    public string Classifier { get; }

    /// <exception cref="ArgumentException">The description's layers are not a ShuffleNet v1's.</exception>
    public static V1Units Of(ModelDescription model)
    {
        var layers = new List<LayerDescription>();
        foreach (var layer in model.Layers)
            if (layer.Kind is not (LayerKind.Quantize or LayerKind.FeatureQuantize)) layers.Add(layer);
        int i = 0;
        LayerDescription Next(LayerKind kind)
        {
            if (i >= layers.Count || layers[i].Kind != kind)
                throw new ArgumentException($"The description of {model.Name} does not list a ShuffleNet v1's layers: expected a {kind} layer at position {i}, found {(i < layers.Count ? layers[i].Kind.ToString() : "the end")}.", nameof(model));
            return layers[i++];
        }
        bool At(LayerKind kind) => i < layers.Count && layers[i].Kind == kind;

        var stem = Next(LayerKind.Convolution3x3);
        int h = FloatForward.OutSize(model.InputHeight, stem.Stride), w = FloatForward.OutSize(model.InputWidth, stem.Stride), channels = stem.Channels;
        if (At(LayerKind.MaxPool3x3))
        {
            Next(LayerKind.MaxPool3x3);
            h = FloatForward.OutSize(h, 2);
            w = FloatForward.OutSize(w, 2);
        }

        var units = new List<UnitShape>();
        int stage = -1, repeat = 0;
        while (!At(LayerKind.GlobalAveragePool))
        {
            bool downsamples = At(LayerKind.AveragePool3x3);
            if (downsamples) Next(LayerKind.AveragePool3x3);
            var conv1 = Next(LayerKind.Pointwise);
            var dw = Next(LayerKind.Depthwise3x3);
            var conv3 = Next(LayerKind.Pointwise);
            if (downsamples)
            {
                stage++;
                repeat = 0;
            }
            else if (stage < 0)
            {
                throw new ArgumentException($"The description of {model.Name} does not list a ShuffleNet v1's layers: its first unit has no stride-2 shortcut.", nameof(model));
            }
            int outChannels = downsamples ? (conv3.OutputPlanes?.Start ?? 0) + conv3.Channels : conv3.Channels;
            var unit = new UnitShape(units.Count, stage, repeat++, conv3.Groups, conv1.Groups, channels, outChannels, conv1.Channels, h, w, dw.Stride,
                conv1.Name, conv1.BatchNorm!, dw.Name, dw.BatchNorm!, conv3.Name, conv3.BatchNorm!);
            units.Add(unit);
            channels = outChannels;
            h = unit.OutHeight;
            w = unit.OutWidth;
        }
        Next(LayerKind.GlobalAveragePool);
        var fc = Next(LayerKind.Linear);
        if (units.Count == 0)
            throw new ArgumentException($"The description of {model.Name} does not list a ShuffleNet v1's layers: it has no units.", nameof(model));
        return new V1Units(stem, units, fc.Name);
    }
}

/// <summary>One ShuffleNet v1 unit as the description lists it: 1x1 group conv (+ shuffle), 3x3 depthwise, 1x1 group conv, joined with its shortcut.</summary>
internal sealed record UnitShape(
    int Index,
    int Stage,
    int Repeat,
    int Groups,
    int FirstPointwiseGroups,
    int InChannels,
    int OutChannels,
    int BottleneckChannels,
    int InHeight,
    int InWidth,
    int Stride,
    string FirstPointwise,
    string FirstBatchNorm,
    string Depthwise,
    string DepthwiseBatchNorm,
    string SecondPointwise,
    string SecondBatchNorm)
{
    public bool Downsamples => Stride == 2;
    public int OutHeight => FloatForward.OutSize(InHeight, Stride);
    public int OutWidth => FloatForward.OutSize(InWidth, Stride);

    /// <summary>What the second pointwise conv writes: the channels the shortcut leaves at stride 2, all of them at stride 1.</summary>
    public int BranchChannels => Downsamples ? OutChannels - InChannels : OutChannels;
}
