using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>Which declarations that generate no model get a stand-in (<see cref="PlaceholderEmitter"/>), and under which file name.</summary>
internal static class Placeholders
{
    /// <summary>Apart from models' names, so a stand-in never clashes with a model whose name differs only in case.</summary>
    public static string HintNameFor(TargetClassSpec target) => target.FullName + ".ShuffleNet.Failed.g.cs";

    /// <summary>
    /// One stand-in per failed class name, and one per name declared more than once (no model is generated for it, so
    /// its uses would fail too), provided every declaration of that name can take it; for a name declared by an
    /// attribute, that declaration's accessibility, which the stand-in must repeat.
    /// </summary>
    public static ImmutableArray<PlaceholderSpec> Emittable(ImmutableArray<FallbackSpec?> fallbacks, DuplicateReport duplicates)
    {
        var result = new List<(TargetClassSpec Target, string Failure)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fallback in fallbacks)
        {
            if (fallback?.Failure is null || duplicates.Names.Contains(fallback.FullName) || !seen.Add(fallback.FullName)) continue;
            result.Add((fallback.Target, fallback.Failure));
        }
        foreach (string name in duplicates.Names)
        {
            var reports = duplicates.Diagnostics.Where(d => d.Arguments.Count > 0 && d.Arguments[0] == name).ToList();
            var hosts = fallbacks.Where(f => f is not null && f.FullName == name).ToList();
            if (reports.Count == 0 || hosts.Count != reports.Count) continue;
            var host = hosts.FirstOrDefault(f => f!.FromAttribute) ?? hosts[0]!;
            result.Add((host.Target, ParseResult.Failure(reports.Take(1).ToList())));
        }
        // As for models: hint names unique ignoring case (classes Net and NET may both fail).
        var ranks = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var builder = ImmutableArray.CreateBuilder<PlaceholderSpec>(result.Count);
        foreach (var (target, failure) in result.OrderBy(r => r.Target.Namespace ?? "", StringComparer.Ordinal).ThenBy(r => r.Target.ClassName, StringComparer.Ordinal))
        {
            string hint = HintNameFor(target);
            ranks.TryGetValue(hint, out int rank);
            ranks[hint] = rank + 1;
            builder.Add(new PlaceholderSpec(target, ModelSpec.NumberedHintName(hint, rank), failure));
        }
        return builder.MoveToImmutable();
    }
}
