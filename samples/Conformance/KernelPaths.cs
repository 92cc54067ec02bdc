using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using ShuffleNetGen;

namespace Conformance;

/// <summary>Summaries of the paths the generated kernels report through their <c>KernelPaths</c> property.</summary>
internal static class KernelPathReport
{
    /// <summary>
    /// Kernels grouped by family (the name up to its first underscore) and path, with how many share each. With
    /// <paramref name="markTables"/>, a plane-table kernel (named …_Planes, ShuffleNet v2's) is its own family, "… tables".
    /// </summary>
    public static IEnumerable<(string Family, string Path, int Count)> ByFamily(IEnumerable<KernelPath> paths, bool markTables = false) =>
        paths.DistinctBy(p => p.Kernel)
            .Select(p => (Family: p.Kernel[..p.Kernel.IndexOf('_')] + (markTables && p.Kernel.EndsWith("_Planes", StringComparison.Ordinal) ? " tables" : ""), Path: Generalize(p)))
            .GroupBy(p => p)
            .OrderBy(g => g.Key.Family, StringComparer.Ordinal).ThenBy(g => g.Key.Path, StringComparer.Ordinal)
            .Select(g => (g.Key.Family, g.Key.Path, g.Count()));

    // Pointwise paths (float and int8) and the int8 classifier's name the chosen variant; keep only its width suffix and
    // instructions for the summary.
    private static string Generalize(KernelPath p)
    {
        if (!p.Kernel.StartsWith("Pointwise_", StringComparison.Ordinal) && !p.Kernel.StartsWith("Int8Pointwise_", StringComparison.Ordinal)
            && !p.Kernel.StartsWith("Int8Linear_", StringComparison.Ordinal)) return p.Path;
        int comma = p.Path.IndexOf(',');
        string variant = comma < 0 ? p.Path : p.Path[..comma];
        string suffix = variant[(variant.LastIndexOf('_') + 1)..];
        string width = suffix switch { "V512" => "Vector512", "V256Vnni" => "Vector256 (VNNI walk)", "V256" => "Vector256", _ => "Vector128" };
        return comma < 0 ? width : width + p.Path[comma..];
    }

    /// <summary>What <c>Simd.MulAdd</c> compiles to for Vector128 on this CPU (it picks by the same flags).</summary>
    public static string MulAdd128 => Fma.IsSupported ? "FMA3 vfmadd" : AdvSimd.IsSupported ? "AdvSimd fmla" : "multiply, then add";

    /// <summary>One tag for the results table: the widest accelerated vector and whether AdvSimd is active.</summary>
    public static string Short =>
        Vector512.IsHardwareAccelerated ? "V512"
        : Vector256.IsHardwareAccelerated ? "V256"
        : AdvSimd.Arm64.IsSupported ? "V128 + AdvSimd"
        : "V128";
}
