using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>Everything between a resolved network and the emitters, in the order each stage needs the one before.</summary>
internal static class ModelPipeline
{
    public static NetworkGraph Build(NetworkSpec network)
    {
        var lowered = NetworkLowering.Lower(network);
        var lifetimes = TensorLifetimes.Compute(lowered);
        var arena = ArenaPlanner.Plan(lowered, lifetimes);
        var weights = WeightLayout.Assign(lowered);
        return lowered.Planned(lifetimes, arena, weights);
    }
}
