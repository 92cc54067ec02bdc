using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Passes;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// The checks every declaration form runs once its settings are read: the resolver's rules, the size limits and the
/// spatial warning. One place, so a configuration gets the same model and the same findings whether it is written as an
/// attribute or as JSON; each form only maps a <see cref="SettingError"/> back to where its setting was written.
/// </summary>
internal static class DeclarationValidator
{
    /// <summary>The resolved network (null if any finding is an error) and every finding, errors and warnings.</summary>
    public static (NetworkSpec? Network, List<SettingError> Findings) Validate(NetworkSettings settings, SettingSyntax syntax)
    {
        var (network, findings) = NetworkResolver.Resolve(settings, syntax);
        if (network is null) return (null, findings);

        // The limits are checked on the lowered graph itself, the one the emitters will read, so no second account of
        // the family's sizes can drift from it. Lowering is a few hundred small objects; the arena is placed (the costly
        // pass) only when even every tensor side by side would break the limit, for the exact figure the message gives.
        var graph = NetworkLowering.Lower(network);
        long arena = ArenaPlanner.UpperBound(graph.Tensors.Where(t => t.InArena).Select(t => t.Length)) > int.MaxValue
            ? ArenaPlanner.Plan(graph, TensorLifetimes.Compute(graph)).ArenaLength
            : 0;
        long packedWeights = WeightLayout.Assign(graph).PackedWeightLength;
        long inputLength = graph.Tensors[0].Length;
        if (arena > int.MaxValue)
            findings.Add(new SettingError(Settings.Declaration, DiagnosticDescriptors.ModelTooLarge, new object[] { "The activation arena", arena }));
        else if (packedWeights > int.MaxValue)
            findings.Add(new SettingError(Settings.Declaration, DiagnosticDescriptors.ModelTooLarge, new object[] { "The packed weights", packedWeights }));
        else if (inputLength > int.MaxValue)
            findings.Add(new SettingError(Settings.Declaration, DiagnosticDescriptors.ModelTooLarge, new object[] { "The input image", inputLength }));

        findings.AddRange(SpatialWarnings(network, syntax));
        return (findings.Any(f => f.Descriptor.DefaultSeverity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error) ? null : network, findings);
    }

    /// <summary>
    /// SNG0014: a stride-2 step (stride-2 stem, max pool, first unit of a stage) whose input is already 1 pixel high or
    /// wide. It is a warning, not an error: the network is still well defined (padding keeps every window in range) and
    /// the generated code runs, but the step no longer downsamples, which is almost never what the author meant.
    /// </summary>
    public static IEnumerable<SettingError> SpatialWarnings(NetworkSpec network, SettingSyntax syntax)
    {
        var steps = new List<string>();
        if (network.StemStride == 2) steps.Add("the stride-2 stem convolution");
        if (network.StemMaxPool) steps.Add("the stem's max pool");
        for (int i = 0; i < network.StageRepeats.Count; i++) steps.Add($"stage {i + 2}'s first unit");

        // With n halvings (rounding up), the last step still sees 2 pixels only from 2^(n-1) + 1 pixels on.
        long minimum = (1L << (steps.Count - 1)) + 1;
        var remedies = new List<string>();
        // ShuffleNet v2's stem is fixed (torchvision's), so only its stages can go.
        if (network.StemStride == 2 && network.Version == 1) remedies.Add(syntax.Assignment(Settings.StemStride, "1"));
        if (network.StemMaxPool && network.Version == 1) remedies.Add(syntax.Assignment(Settings.StemMaxPool, syntax.Bool(false)));
        if (network.StageRepeats.Count > 1) remedies.Add($"a shorter {syntax.Name(Settings.Stages)}");
        string remedy = remedies.Count switch
        {
            0 => "none left to remove",
            1 => remedies[0],
            _ => string.Join(", ", remedies.Take(remedies.Count - 1)) + " or " + remedies[remedies.Count - 1],
        };

        foreach (var (setting, dimension, size) in new[] { (Settings.InputHeight, "height", network.InputHeight), (Settings.InputWidth, "width", network.InputWidth) })
        {
            int current = size;
            foreach (string step in steps)
            {
                if (current <= 1)
                {
                    yield return new SettingError(setting, DiagnosticDescriptors.InputTooSmall, new object[]
                    {
                        syntax.Assignment(setting, size.ToString(CultureInfo.InvariantCulture)), dimension, step, minimum, remedy,
                    });
                    break;
                }
                current = Windows.OutputSize(current, 2);
            }
        }
    }
}
