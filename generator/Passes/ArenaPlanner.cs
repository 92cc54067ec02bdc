using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>What the planner needs of a tensor: its length in floats and when it is alive.</summary>
internal readonly record struct ArenaTensor(long Length, LiveRange Live);

/// <summary>The arena plan: each tensor's offset (-1 for one outside the arena) and the plan's figures.</summary>
internal sealed record ArenaPlan(long[] Offsets, long ArenaLength, long NaiveActivationLength, long LiveLowerBound);

/// <summary>
/// Places every arena tensor at a fixed offset so that tensors alive at the same step never share memory.
/// Greedy by size (as TensorFlow Lite's arena planner): take tensors largest first (ties: earlier first), and put each
/// at the lowest aligned offset that overlaps no already placed tensor whose live range intersects its own. Large
/// tensors claim the bottom of the arena and small, short-lived ones fill the gaps between them.
/// </summary>
internal static class ArenaPlanner
{
    /// <summary>Offsets are multiples of 16 floats (64 bytes) so each plane set starts on its own cache line.</summary>
    public const int Alignment = 16;

    /// <summary>Plans the graph's arena tensors; offsets are in the order of <see cref="NetworkGraph.Tensors"/>.</summary>
    public static ArenaPlan Plan(NetworkGraph graph, TensorLiveRanges lifetimes)
    {
        var inArena = new List<int>();
        for (int i = 0; i < graph.Tensors.Count; i++)
            if (graph.Tensors[i].InArena) inArena.Add(i);
        var plan = Plan(inArena.Select(i => new ArenaTensor(graph.Tensors[i].Length, lifetimes[i])).ToList());

        var offsets = new long[graph.Tensors.Count];
        for (int i = 0; i < offsets.Length; i++) offsets[i] = -1;
        for (int k = 0; k < inArena.Count; k++) offsets[inArena[k]] = plan.Offsets[k];
        return plan with { Offsets = offsets };
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
