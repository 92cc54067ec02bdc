using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>What the planner needs of a tensor: its length in floats and when it is alive.</summary>
internal readonly record struct ArenaTensor(long Length, LiveRange Live);

/// <summary>The arena plan: each tensor's offset (-1 for one outside the arena) and the plan's figures.</summary>
internal sealed record ArenaPlan(long[] Offsets, long ArenaLength, long NaiveActivationLength, long LiveLowerBound);

/// <summary>
/// Places every arena tensor at a fixed offset so that tensors alive at the same step never share memory, except an
/// int8 convolution's output written over its residual (<see cref="InPlaceOver"/>).
/// Greedy by size (as TensorFlow Lite's arena planner): take tensors largest first (ties: earlier first), and put each
/// at the lowest aligned offset that overlaps no already placed tensor whose live range intersects its own. Large
/// tensors claim the bottom of the arena and small, short-lived ones fill the gaps between them.
/// </summary>
internal static class ArenaPlanner
{
    /// <summary>Offsets are multiples of 16 floats (64 bytes) so each plane set starts on its own cache line.</summary>
    public const int Alignment = 16;

    /// <summary>
    /// Plans the graph's arena tensors; offsets are in the order of <see cref="NetworkGraph.Tensors"/>. A tensor written
    /// in place over another (<see cref="InPlaceOver"/>) is planned as one tensor with it, alive over both ranges.
    /// </summary>
    public static ArenaPlan Plan(NetworkGraph graph, TensorLiveRanges lifetimes)
    {
        var index = new Dictionary<TensorNode, int>(graph.Tensors.Count);
        for (int i = 0; i < graph.Tensors.Count; i++) index.Add(graph.Tensors[i], i);
        // Each tensor's planned representative: itself, or the first tensor of its chain of in-place writes.
        var root = Enumerable.Range(0, graph.Tensors.Count).ToArray();
        foreach (var op in graph.Ops)
            if (InPlaceOver(op, lifetimes, index) is { } over)
                root[index[op.Output]] = root[index[over]];

        var planned = new List<int>();
        for (int i = 0; i < graph.Tensors.Count; i++)
            if (graph.Tensors[i].InArena && root[i] == i) planned.Add(i);
        var membersOf = Enumerable.Range(0, root.Length).ToLookup(j => root[j]);
        var plan = Plan(planned.Select(i =>
        {
            var members = membersOf[i];
            var live = new LiveRange(members.Min(j => lifetimes[j].First), members.Max(j => lifetimes[j].Last));
            return new ArenaTensor(members.Max(j => graph.Tensors[j].Length), live);
        }).ToList());

        var offsets = new long[graph.Tensors.Count];
        for (int i = 0; i < offsets.Length; i++) offsets[i] = -1;
        for (int k = 0; k < planned.Count; k++) offsets[planned[k]] = plan.Offsets[k];
        for (int i = 0; i < offsets.Length; i++)
            if (graph.Tensors[i].InArena) offsets[i] = offsets[root[i]];
        return plan with { Offsets = offsets };
    }

    /// <summary>
    /// Whether every pointwise walk over planes of <paramref name="pixels"/> computes each pixel once. A walk covers
    /// whole vectors of its width (16, 8 or 4 lanes), then the rest with the narrowest vector that holds it, ending at
    /// the plane's end: that vector recomputes pixels unless the rest fills it exactly, which needs whole Vector128s
    /// and, on the Vector512 walk, a rest of 0, 4 or 8 pixels (12 takes a Vector512).
    /// </summary>
    public static bool WalksWithoutOverlap(int pixels) => pixels % 4 == 0 && pixels % 16 != 12;

    /// <summary>
    /// The residual an int8 1x1 convolution writes its output over, or null. In place, each output element replaces
    /// the residual element of the same channel and pixel, which only the tile computing it reads, just before its
    /// store; so the residual must be read by no later op, the output written by no earlier one, both the same shape,
    /// and the store unshuffled. The plane must be one <see cref="WalksWithoutOverlap"/>: a walk that recomputes an
    /// overlapping last vector which would read residuals it had already overwritten (Int8KernelTests
    /// runs every such kernel in place). Int8 only: there the slots the epilogue packs made the conv3 step the arena's peak
    /// (its input's slots, the residual, the output and the next convolution's slots all live together).
    /// </summary>
    public static TensorNode? InPlaceOver(OpNode op, TensorLiveRanges lifetimes, IReadOnlyDictionary<TensorNode, int> index)
    {
        if (op is not PointwiseOp { Int8: true, Residual: { } residual } conv || !conv.Runs) return null;
        var output = conv.Output;
        if (!residual.InArena || !output.InArena || ReferenceEquals(residual, output) || ReferenceEquals(conv.Input, residual)) return null;
        if (residual.Length != output.Length || residual.Channels != output.Channels) return null;
        if (!conv.OutputPlanes.IsContiguous || conv.OutputPlanes.Start != 0 || conv.OutputPlanes.Count != output.Channels) return null;
        if (!WalksWithoutOverlap(output.Pixels)) return null;
        if (lifetimes[index[residual]].Last != conv.Step || lifetimes[index[output]].First != conv.Step) return null;
        return residual;
    }

    /// <summary>
    /// Places <paramref name="tensors"/>; offsets are in their order. Greedy by size first; where that leaves gaps no
    /// later tensor fits (a ShuffleNet v2 downsampling unit's large short-lived tensors), another order can pack
    /// tighter (ShuffleNet v2 1.5x at 224: 445,312 floats by size, 420,224, its live bound, by another), so four orders
    /// are tried (size, first use, size × lifetime, last use) and the shortest arena kept, the size order on a tie.
    /// </summary>
    public static ArenaPlan Plan(IReadOnlyList<ArenaTensor> tensors)
    {
        var indices = Enumerable.Range(0, tensors.Count);
        var orders = new[]
        {
            indices.OrderByDescending(i => tensors[i].Length).ThenBy(i => tensors[i].Live.First),
            indices.OrderBy(i => tensors[i].Live.First).ThenByDescending(i => tensors[i].Length),
            indices.OrderByDescending(i => tensors[i].Length * (tensors[i].Live.Last - tensors[i].Live.First + 1)).ThenBy(i => tensors[i].Live.First),
            indices.OrderByDescending(i => tensors[i].Live.Last).ThenByDescending(i => tensors[i].Length),
        };
        var best = Place(tensors, orders[0]);
        foreach (var order in orders.Skip(1))
        {
            var placement = Place(tensors, order);
            if (placement.End < best.End) best = placement;
        }

        // The figures that do not depend on the placement, once.
        long lowerBound = 0;
        int lastStep = tensors.Count == 0 ? -1 : tensors.Max(t => t.Live.Last);
        for (int step = 0; step <= lastStep; step++)
        {
            long live = tensors.Where(t => t.Live.First <= step && step <= t.Live.Last).Sum(t => t.Length);
            if (live > lowerBound) lowerBound = live;
        }
        return new ArenaPlan(best.Offsets, best.End, tensors.Sum(t => t.Length), lowerBound);
    }

    /// <summary>Each tensor, in <paramref name="order"/>, at the lowest aligned offset clear of the placed tensors alive with it.</summary>
    private static (long[] Offsets, long End) Place(IReadOnlyList<ArenaTensor> tensors, IEnumerable<int> order)
    {
        var offsets = new long[tensors.Count];
        var placed = new List<int>();
        long arenaEnd = 0;
        foreach (int i in order)
        {
            var tensor = tensors[i];
            var conflicts = placed.Where(p => tensors[p].Live.Overlaps(tensor.Live)).OrderBy(p => offsets[p]).ToList();
            long offset = 0;
            foreach (int other in conflicts)
            {
                if (offset + tensor.Length <= offsets[other]) break;
                long end = AlignUp(offsets[other] + tensors[other].Length);
                if (end > offset) offset = end;
            }
            offsets[i] = offset;
            placed.Add(i);
            if (offset + tensor.Length > arenaEnd) arenaEnd = offset + tensor.Length;
        }
        return (offsets, arenaEnd);
    }

    /// <summary>
    /// What the plan can need at most: every tensor side by side, each padded to the alignment. The greedy placement
    /// never exceeds it: a tensor's offset is at most the aligned ends of the tensors placed before it.
    /// </summary>
    public static long UpperBound(IEnumerable<long> lengths) => lengths.Sum(AlignUp);

    private static long AlignUp(long value) => (value + Alignment - 1) / Alignment * Alignment;
}
