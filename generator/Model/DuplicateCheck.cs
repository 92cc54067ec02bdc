using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>Declarations that claim one class name, as names (to withhold their models) and as diagnostics.</summary>
internal sealed record DuplicateReport(EquatableArray<string> Names, EquatableArray<DiagnosticInfo> Diagnostics);

internal static class DuplicateCheck
{
    public static DuplicateReport Find(ImmutableArray<DeclaredModel?> declarations)
    {
        var names = new List<string>();
        var diagnostics = new List<DiagnosticInfo>();
        foreach (var group in declarations.Where(d => d is not null).GroupBy(d => d!.FullName, StringComparer.Ordinal))
        {
            var all = group.ToList();
            if (all.Count < 2) continue;
            names.Add(group.Key);
            for (int i = 0; i < all.Count; i++)
            {
                string others = string.Join("; ", all.Where((_, j) => j != i).Select(d => d!.Location?.Display ?? "an unknown place"));
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateModel, all[i]!.Location, group.Key, others));
            }
        }
        names.Sort(StringComparer.Ordinal);
        return new DuplicateReport(names.ToEquatableArray(), diagnostics.ToEquatableArray());
    }

    /// <summary>
    /// The models to emit: none of a duplicated name, and hint names unique ignoring case, as AddSource requires (C#
    /// allows classes Net and NET side by side; a case-insensitive file system does not allow Net.g.cs and NET.g.cs).
    /// </summary>
    public static ImmutableArray<ModelSpec> Emittable(ImmutableArray<ModelSpec> models, EquatableArray<string> duplicates)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var kept = models.Where(m => !duplicates.Contains(m.FullName) && seen.Add(m.FullName)).ToList();
        var result = ImmutableArray.CreateBuilder<ModelSpec>(kept.Count);
        var byHint = kept.GroupBy(m => m.HintName, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.OrderBy(m => m.FullName, StringComparer.Ordinal).ToList(), StringComparer.OrdinalIgnoreCase);
        foreach (var model in kept)
        {
            var clashing = byHint[model.HintName];
            int rank = clashing.IndexOf(model);
            result.Add(rank == 0 ? model : model with { HintName = ModelSpec.NumberedHintName(model.HintName, rank) });
        }
        return result.MoveToImmutable();
    }
}
