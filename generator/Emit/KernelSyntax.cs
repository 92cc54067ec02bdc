using System.Collections.Generic;

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
}
