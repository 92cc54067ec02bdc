using System.Collections.Generic;
using System.Linq;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

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

    public static void Plan(NetworkGraph graph)
    {
        var arenaTensors = graph.Tensors.Where(t => t.InArena).ToList();
        var order = arenaTensors.OrderByDescending(t => t.Length).ThenBy(t => t.FirstStep).ToList();
        var placed = new List<TensorNode>();
        long arenaEnd = 0;
        foreach (var tensor in order)
        {
            var conflicts = placed.Where(p => TensorLifetimes.Overlap(p, tensor)).OrderBy(p => p.Offset).ToList();
            long offset = 0;
            foreach (var other in conflicts)
            {
                if (offset + tensor.Length <= other.Offset) break;
                long end = AlignUp(other.Offset + other.Length);
                if (end > offset) offset = end;
            }
            tensor.Offset = offset;
            placed.Add(tensor);
            if (offset + tensor.Length > arenaEnd) arenaEnd = offset + tensor.Length;
        }

        graph.ArenaLength = arenaEnd;
        graph.NaiveActivationLength = arenaTensors.Sum(t => t.Length);
        long lowerBound = 0;
        foreach (var op in graph.Ops)
        {
            long live = arenaTensors.Where(t => t.FirstStep <= op.Step && op.Step <= t.LastStep).Sum(t => t.Length);
            if (live > lowerBound) lowerBound = live;
        }
        graph.LiveLowerBound = lowerBound;
    }

    private static long AlignUp(long value) => (value + Alignment - 1) / Alignment * Alignment;
}
