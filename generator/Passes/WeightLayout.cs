using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>Assigns each op its slice of the packed weight array, in execution order so the forward pass streams through it.</summary>
internal static class WeightLayout
{
    public static void Assign(NetworkGraph graph)
    {
        long offset = 0;
        foreach (var op in graph.Ops)
        {
            op.WeightOffset = offset;
            // Keep every op's weights 64-byte aligned relative to the array start.
            offset += (op.PackedWeightLength + 15) / 16 * 16;
        }
        graph.PackedWeightLength = offset;
    }
}
