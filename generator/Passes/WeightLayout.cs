using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>Each op's offset in the packed weight array (in the order of <see cref="NetworkGraph.Ops"/>) and the array's length.</summary>
internal sealed record WeightPlacement(long[] Offsets, long PackedWeightLength);

/// <summary>Assigns each op its slice of the packed weight array, in execution order so the forward pass streams through it.</summary>
internal static class WeightLayout
{
    public static WeightPlacement Assign(NetworkGraph graph)
    {
        var offsets = new long[graph.Ops.Count];
        long offset = 0;
        for (int i = 0; i < offsets.Length; i++)
        {
            offsets[i] = offset;
            offset += Aligned(graph.Ops[i].PackedWeightLength);
        }
        return new WeightPlacement(offsets, offset);
    }

    /// <summary>Keeps every op's weights 64-byte aligned relative to the array start.</summary>
    public static long Aligned(long packedLength) => (packedLength + 15) / 16 * 16;
}
