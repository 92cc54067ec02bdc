using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// The runtime <see cref="ModelDescription"/> of a lowered graph, built in process from the generator's ops, for
/// families or shapes the tests lower without compiling a model. <see cref="V2LoweringTests"/> checks it against a
/// compiled model's generated <c>Description.Layers</c>, so it cannot drift from what the emitter writes.
/// </summary>
internal static class LoweredDescription
{
    public static ModelDescription Of(NetworkSpec spec, NetworkGraph graph, string name = "Lowered") =>
        new(name, spec.Groups, spec.InputChannels, spec.InputHeight, spec.InputWidth, spec.Classes, spec.StemChannels, spec.StemStride, spec.StemMaxPool,
            spec.StageChannels.ToArray(), spec.StageRepeats.ToArray(), graph.ParameterCount, graph.MultiplyAdds, (int)graph.ArenaLength,
            graph.NaiveActivationLength, (int)graph.LiveLowerBound,
            graph.Tensors.Where(t => t.InArena).Select(t => new ArenaSlot(t.Name, (int)t.Offset, (int)t.Length, t.FirstStep, t.LastStep)).ToArray(),
            graph.Weights.Select(w => new TensorShape(w.Name, w.Shape)).ToArray())
        {
            ShuffleOrder = (ShuffleOrder)(int)spec.ShuffleOrder,
            Precision = (Precision)(int)spec.Precision,
            Version = spec.Version,
            FinalChannels = spec.FinalChannels,
            Layers = graph.Ops.Select(Layer).ToArray(),
        };

    public static LayerDescription Layer(OpNode op)
    {
        var facts = op.Facts;
        return new LayerDescription(Enum.Parse<LayerKind>(facts.Kind), op.Name, op.Section.Method, op.Input.Name, Planes(op.InputPlanes, op.Input.Channels),
            op.Output.Name, op.Output.Quantized ? null : Planes(op.OutputPlanes, facts.Channels), facts.Channels, facts.Groups, facts.Stride, facts.Relu,
            facts.BatchNorm, facts.Residual?.Name);
    }

    /// <summary>A layer in words, plane maps included, for comparing two descriptions.</summary>
    public static string Text(LayerDescription l) =>
        $"{l.Kind} {l.Name} [{l.Section}] {l.Input}{(l.InputPlanes is null ? "" : " (" + l.InputPlanes + ")")} -> {l.Output}{(l.OutputPlanes is null ? "" : " (" + l.OutputPlanes + ")")} "
        + $"c{l.Channels} g{l.Groups} s{l.Stride} relu={l.Relu} bn={l.BatchNorm} residual={l.Residual}";

    private static ChannelPlanes? Planes(PlaneMap map, int plainCount)
    {
        if (map.IsTable) return ChannelPlanes.Table(map.ToArray());
        if (map.ShuffleGroups > 1) return ChannelPlanes.Shuffled(map.Start, map.Count, map.ShuffleGroups, map.OfficialShuffle);
        return map.Start == 0 && map.Count == plainCount ? null : ChannelPlanes.Contiguous(map.Start, map.Count);
    }
}
