using System.Collections.Generic;
using System.Linq;
using System.Text;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// Where each half of a unit lives in its stage's planes, for the memory plan in the generated class's documentation:
/// where units split, shuffle and concatenate in place (v2), a tensor of the plan holds both halves and the branch's
/// own intermediates, so its offset alone does not say where a half is.
/// </summary>
internal static class PlaneLocations
{
    /// <summary>
    /// One line per unit that works in place on a stage tensor: the planes its branch reads, the planes it keeps
    /// untouched (the half that passes through) and the planes it leaves its output in. None where no op reads or
    /// writes a plane table (v1: every unit owns its output tensor).
    /// </summary>
    public static IReadOnlyList<string> Lines(NetworkGraph graph)
    {
        var lines = new List<string>();
        if (!graph.Ops.Any(o => o.InputPlanes.IsTable || o.OutputPlanes.IsTable)) return lines;
        // The tensors units work in place on: those some op addresses through a plane table.
        var inPlace = new HashSet<TensorNode>(graph.Ops.Where(o => o.InputPlanes.IsTable).Select(o => o.Input)
            .Concat(graph.Ops.Where(o => o.OutputPlanes.IsTable).Select(o => o.Output)).Where(t => t.InArena));
        // The planes holding the current unit input of each of them.
        var live = new Dictionary<TensorNode, HashSet<int>>();
        foreach (var section in graph.Sections)
        {
            var ops = graph.Ops.Where(o => o.Section.Equals(section)).ToList();
            string? unit = UnitOf(ops);
            if (unit is null) continue;   // the stem and the head: no halves
            foreach (var stage in ops.Select(o => o.Output).Distinct().Where(t => inPlace.Contains(t)))
            {
                var before = live.TryGetValue(stage, out var held) ? held : new HashSet<int>();
                var read = new HashSet<int>();
                var written = new HashSet<int>();
                foreach (var op in ops)
                {
                    if (op.Input == stage)
                    {
                        var planes = op.InputPlanes.ToArray();
                        read.UnionWith(planes);
                        written.ExceptWith(planes);   // an intermediate, consumed inside the unit
                    }
                    if (op.Output == stage) written.UnionWith(op.OutputPlanes.ToArray());
                }
                var kept = new HashSet<int>(before.Except(read));
                var entry = new StringBuilder($"{unit}: in {stage.Name}");
                var readInput = new HashSet<int>(before.Intersect(read));
                if (readInput.Count > 0) entry.Append($", branch reads {Ranges(readInput)}");
                if (kept.Count > 0) entry.Append($", keeps {Ranges(kept)}");
                entry.Append($", writes {Ranges(written)}");
                lines.Add(entry.ToString());
                kept.UnionWith(written);
                live[stage] = kept;
            }
        }
        return lines;
    }

    /// <summary>The unit's name: its ops' names up to the branch (<c>stage2.1</c> of <c>stage2.1.branch2.0</c>); null for a section of no unit.</summary>
    private static string? UnitOf(List<OpNode> ops)
    {
        string name = ops[0].Name;
        int branch = name.IndexOf(".branch", System.StringComparison.Ordinal);
        return branch > 0 ? name.Substring(0, branch) : null;
    }

    /// <summary>Sorted planes as ranges: <c>0-5, 12-17</c>.</summary>
    private static string Ranges(IEnumerable<int> planes)
    {
        var sorted = planes.OrderBy(p => p).ToList();
        var parts = new List<string>();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            parts.Add(sorted[i] == sorted[j] ? sorted[i].ToString() : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(", ", parts);
    }
}
