using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>What every kernel method and <c>KernelPaths</c> entry is written with.</summary>
internal static class KernelSyntax
{
    /// <summary>
    /// On every kernel: tiered compilation would first run these loops unoptimized and then on-stack-replace them,
    /// costing a user's first hundreds of calls about 3x (measured on the quickstart: 4.7 ms against 1.7 ms). Every
    /// bound is a literal already, so profile-guided tiering has nothing to learn. NativeAOT ignores the flag.
    /// </summary>
    public const string Optimized = "[MethodImpl(MethodImplOptions.AggressiveOptimization)]";

    /// <summary>On dispatchers: inlined into the caller, where the JIT-constant checks fold to one call.</summary>
    public const string Inlined = "[MethodImpl(MethodImplOptions.AggressiveInlining)]";

    /// <summary>The package the generated code calls into (weight packer, descriptions).</summary>
    public const string Runtime = "global::ShuffleNetGen";

    /// <summary>A C# conditional expression choosing among labelled paths: the first whose condition holds, else the last.</summary>
    public static string ChoosePath(IReadOnlyList<(string? Condition, string Label)> paths)
    {
        var text = new System.Text.StringBuilder();
        foreach (var (condition, label) in paths)
        {
            if (condition is null) return text.Append('"').Append(label).Append('"').ToString();
            text.Append(condition).Append(" ? \"").Append(label).Append("\" : ");
        }
        throw new System.ArgumentException("The last path must be unconditional.", nameof(paths));
    }

    /// <summary>
    /// The one way generated code picks a variant: a dispatcher method, inlined into its callers, that calls the first
    /// variant whose condition holds (the last has none). The conditions are JIT and NativeAOT constants, so each call
    /// site compiles to one direct call; variant bodies hold no checks of their own on the instruction set.
    /// </summary>
    public static void EmitDispatcher(SourceWriter w, string summary, string signature, string arguments, IReadOnlyList<KernelVariant> variants)
    {
        w.Line($"/// <summary>{summary}</summary>");
        w.Line(Inlined);
        using (w.Open($"private static void {signature}"))
        {
            for (int i = 0; i < variants.Count; i++)
            {
                string call = $"{variants[i].Method}({arguments});";
                bool last = i == variants.Count - 1;
                if (last != (variants[i].Condition is null)) throw new System.ArgumentException("Only the last variant is unconditional.", nameof(variants));
                w.Line(last ? (i == 0 ? call : $"else {call}") : $"{(i == 0 ? "" : "else ")}if ({variants[i].Condition}) {call}");
            }
        }
        w.Line();
    }

    /// <summary>
    /// <paramref name="method"/> (a name, or a generic method with its type arguments or parameters) with
    /// <paramref name="suffix"/> added to its name: <c>A&lt;T&gt;</c> and <c>_Band</c> give <c>A_Band&lt;T&gt;</c>.
    /// </summary>
    public static string WithNameSuffix(string method, string suffix)
    {
        int generic = method.IndexOf('<');
        return generic < 0 ? method + suffix : method.Insert(generic, suffix);
    }

    /// <summary>The <c>KernelPaths</c> expression of a dispatcher: the label of the variant it picks.</summary>
    public static string ChoosePath(IReadOnlyList<KernelVariant> variants)
    {
        var paths = new List<(string?, string)>();
        foreach (var v in variants) paths.Add((v.Condition, v.Label));
        return ChoosePath(paths);
    }
}

/// <summary>
/// A variant a dispatcher can call: the check it is picked under (null for the last, portable one), the method (with its
/// type arguments, if generic), and what <c>KernelPaths</c> reports when it runs.
/// </summary>
internal sealed record KernelVariant(string? Condition, string Method, string Label);
