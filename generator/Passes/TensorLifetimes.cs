using System.Collections.Generic;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>Steps from the first op that touches a tensor to the last, inclusive.</summary>
internal readonly record struct LiveRange(int First, int Last)
{
    public bool Overlaps(LiveRange other) => First <= other.Last && other.First <= Last;
}

/// <summary>Each tensor's <see cref="LiveRange"/>, in the order of <see cref="NetworkGraph.Tensors"/>.</summary>
internal sealed class TensorLiveRanges
{
    private readonly LiveRange[] _ranges;

    public TensorLiveRanges(LiveRange[] ranges) => _ranges = ranges;

    public LiveRange this[int tensor] => _ranges[tensor];

    public int Count => _ranges.Length;
}

/// <summary>
/// Live range of each tensor: from the first op that writes it to the last op that reads it. A tensor written in
/// slices (a stride-2 unit's output) is live from its first slice on.
/// </summary>
internal static class TensorLifetimes
{
    public static TensorLiveRanges Compute(NetworkGraph graph)
    {
        var index = new Dictionary<TensorNode, int>(graph.Tensors.Count);
        for (int i = 0; i < graph.Tensors.Count; i++) index.Add(graph.Tensors[i], i);
        var first = new int[graph.Tensors.Count];
        var last = new int[graph.Tensors.Count];
        for (int i = 0; i < first.Length; i++) first[i] = last[i] = -1;

        void Touch(TensorNode tensor, int step)
        {
            int i = index[tensor];
            if (first[i] < 0 || step < first[i]) first[i] = step;
            if (step > last[i]) last[i] = step;
        }

        foreach (var op in graph.Ops)
        {
            // A quantize layer its producers pack entirely touches nothing itself: they write its slots.
            if (!op.Runs) continue;
            foreach (var written in op.Writes) Touch(written, op.Step);
            foreach (var read in op.Reads) Touch(read, op.Step);
        }

        var ranges = new LiveRange[first.Length];
        for (int i = 0; i < ranges.Length; i++) ranges[i] = new LiveRange(first[i], last[i]);
        return new TensorLiveRanges(ranges);
    }
}
