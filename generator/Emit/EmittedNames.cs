using System;
using System.Collections.Generic;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The member names the generated class declares, for the front end's name checks (a model's class cannot share a
/// member's name). Kept next to the emitters that write them; GeneratorRobustnessTests checks this list against what
/// the emitter actually writes.
/// </summary>
internal static class EmittedNames
{
    /// <summary>Members besides the per-shape kernels and units.</summary>
    private static readonly HashSet<string> s_members = new(StringComparer.Ordinal)
    {
        "InputChannels", "InputHeight", "InputWidth", "InputLength", "Classes", "ArenaLength", "NaiveActivationLength",
        "LiveLowerBound", "ParameterCount", "MultiplyAdds", "PackedWeightLength", "WeightLayout", "Description",
        "FromTensors", "FromSafetensors", "FromOnnx", "CreateRandom", "Forward", "Stem", "Head", "PackWeights", "InputElementCount",
        "ClassCount", "BenchmarkOpNames", "RunOpForBenchmark", "KernelPaths", "ArenaBytes", "PackedWeightBytes",
        "Step", "Enter", "WorkItems", "WorkCosts",
    };

    /// <summary>Every kernel method (dispatcher and variants) starts with its kind's prefix; offset constants with theirs.</summary>
    private static readonly string[] s_kernelPrefixes =
    {
        StemConvolutionKernel.Prefix, DepthwiseKernel.Prefix, MaxPoolKernel.Prefix, AvgPoolKernel.Prefix, WindowKernel.ShapePrefix,
        PointwiseKernel.Prefix, Int8PointwiseKernel.Prefix, QuantizeKernel.Prefix, GlobalPoolKernel.Prefix, ClassifierKernel.Prefix, Int8ClassifierKernel.Prefix, FeatureQuantizeKernel.Prefix, OperandRefs.ArenaPrefix, OperandRefs.WeightsPrefix, OperandRefs.PlanesPrefix,
    };

    /// <summary>Type parameters of the generated generic methods: C# refuses one named like the class that declares it (CS0694).</summary>
    public static bool IsTypeParameter(string name) => name == PointwiseKernelBase.ShapeParameter || name == StemPoolKernel.WidthParameter;

    /// <summary>Whether the generated class may declare a member called <paramref name="name"/> (<c>Unit3</c>, <c>Pointwise_g3_…</c>, …).</summary>
    public static bool IsGeneratedMember(string name)
    {
        if (s_members.Contains(name) || name.StartsWith("_sng", StringComparison.Ordinal)) return true;
        if (name.StartsWith("Unit", StringComparison.Ordinal) && name.Length > 4 && IsDigits(name, 4)) return true;
        foreach (string prefix in s_kernelPrefixes)
            if (name.StartsWith(prefix, StringComparison.Ordinal)) return true;
        return false;
    }

    private static bool IsDigits(string s, int start)
    {
        for (int i = start; i < s.Length; i++)
        {
            if (s[i] < '0' || s[i] > '9') return false;
        }
        return true;
    }
}
