using System;
using ShuffleNetGen.Generator.Emit;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// The kernel variants the build's target can run, read from the build properties that name the target. Kernels
/// choose among their variants at run time, and a variant the target can never choose is dead code that every
/// compile of the consumer still pays for. Where the build does not say, or says something not classified here, every
/// variant stays: leaving one out would only cost speed, never correctness (the Vector128 variant is always emitted and
/// is the last fallback), but keeping all of them costs nothing at run time.
/// </summary>
/// <remarks>
/// Stored as what is left out, so <c>default</c> (no properties, as in tests and tools) keeps everything.
/// </remarks>
internal readonly record struct TargetWidths
{
    /// <summary>The MSBuild properties read (made visible with <c>&lt;CompilerVisibleProperty&gt;</c>).</summary>
    public const string RuntimeIdentifierProperty = "RuntimeIdentifier";

    /// <inheritdoc cref="RuntimeIdentifierProperty"/>
    public const string PublishAotProperty = "PublishAot";

    /// <summary>
    /// Set to true by <c>dotnet publish</c> (SDK 8 and later) as a global property; a plain <c>dotnet build</c> of a
    /// project with <c>PublishAot</c> runs under the JIT, which picks the widest vectors on the machine it runs on.
    /// </summary>
    public const string IsPublishingProperty = "_IsPublishing";

    /// <inheritdoc cref="RuntimeIdentifierProperty"/>
    public const string IlcInstructionSetProperty = "IlcInstructionSet";

    // What is left out rather than what is kept, so that default (no properties) keeps everything.
    private readonly VectorWidths _omitted;

    private TargetWidths(VectorWidths omitted) => _omitted = omitted;

    /// <summary>Every variant: the build does not name a target.</summary>
    public static TargetWidths All => default;

    /// <summary>ARM64: Vector256 and Vector512 are never accelerated there (.NET 8 to 10), AdvSimd always is.</summary>
    public static TargetWidths Arm64 => new(VectorWidths.Vector256 | VectorWidths.Vector512);

    /// <summary>x64 under the JIT, which may pick any x64 width at run time; the AdvSimd branches can never run.</summary>
    public static TargetWidths X64 => new(VectorWidths.AdvSimd);

    /// <summary>x64 NativeAOT with the default x86-64-v2 baseline (or a list of pre-AVX instruction sets).</summary>
    public static TargetWidths X64Vector128 => new(VectorWidths.AdvSimd | VectorWidths.Vector256 | VectorWidths.Vector512);

    /// <summary>
    /// WebAssembly (browser-wasm, wasi-wasm): .NET maps Vector128 to WebAssembly SIMD (128-bit, on by default), and
    /// Vector256/Vector512 are never accelerated there; the AdvSimd branches can never run.
    /// </summary>
    public static TargetWidths Wasm => new(VectorWidths.AdvSimd | VectorWidths.Vector256 | VectorWidths.Vector512);

    /// <summary>x64 NativeAOT for AVX2 (x86-64-v3) without AVX-512.</summary>
    public static TargetWidths X64Vector256 => new(VectorWidths.AdvSimd | VectorWidths.Vector512);

    /// <summary>The variants to emit; Vector128 always, as every other variant's fallback.</summary>
    public VectorWidths Emitted => VectorWidths.All & ~_omitted;

    public bool Vector256 => (Emitted & VectorWidths.Vector256) != 0;

    public bool Vector512 => (Emitted & VectorWidths.Vector512) != 0;

    public bool AdvSimd => (Emitted & VectorWidths.AdvSimd) != 0;

    /// <summary>Whether any variant is left out.</summary>
    public bool IsReduced => _omitted != 0;

    /// <summary>
    /// From the build's properties (null or empty when unset). The architecture comes from the runtime identifier;
    /// the x64 widths are narrowed only for a NativeAOT publish, the one build whose code cannot switch to wider
    /// vectors on the machine it runs on.
    /// </summary>
    public static TargetWidths FromBuild(string? runtimeIdentifier, string? publishAot, string? isPublishing, string? ilcInstructionSet)
    {
        switch (Architecture(runtimeIdentifier))
        {
            case "arm64":
                return Arm64;
            case "wasm":
                return Wasm;
            case "x64":
                bool aotPublish = IsTrue(publishAot) && IsTrue(isPublishing);
                return aotPublish ? ForInstructionSet(ilcInstructionSet) : X64;
            default:
                return All;
        }
    }

    /// <summary>
    /// The widths an x64 NativeAOT binary can take for <paramref name="instructionSet"/> (ILC's comma-separated list
    /// of names and groups, each optionally prefixed with + or -). Unset: the x86-64-v2 baseline, which accelerates
    /// neither Vector256 nor Vector512. A removal (-name), <c>native</c> (the build machine's) or a name not known here
    /// keeps every width.
    /// </summary>
    private static TargetWidths ForInstructionSet(string? instructionSet)
    {
        if (instructionSet is null || instructionSet.Trim().Length == 0) return X64Vector128;
        int widest = 128;
        foreach (string item in instructionSet.Split(','))
        {
            string name = item.Trim().ToLowerInvariant();
            if (name.StartsWith("+", StringComparison.Ordinal)) name = name.Substring(1);
            int bits = WidestVectorBits(name);
            if (bits == 0) return X64;
            widest = Math.Max(widest, bits);
        }
        return widest switch
        {
            128 => X64Vector128,
            256 => X64Vector256,
            _ => X64,
        };
    }

    /// <summary>
    /// The widest vector an instruction set (or group) accelerates in a NativeAOT binary; 0 when it is not classified
    /// here. Vector256 needs AVX2: names that imply AVX but not AVX2 (avx, fma, bmi) are left unclassified.
    /// </summary>
    private static int WidestVectorBits(string name)
    {
        if (name.StartsWith("avx512", StringComparison.Ordinal) || name.StartsWith("avx10", StringComparison.Ordinal)) return 512;
        return name switch
        {
            "x86-64-v4" or "x86-x64-v4" => 512,
            "x86-64-v3" or "x86-x64-v3" or "skylake" or "avx2" or "avxvnni" => 256,
            "x86-64" or "x86-x64" or "x86-64-v1" or "x86-64-v2" or "x86-x64-v2" or "base"
                or "sse" or "sse2" or "sse3" or "ssse3" or "sse4.1" or "sse4.2" or "popcnt" or "lzcnt"
                or "aes" or "pclmul" or "movbe" or "serialize" => 128,
            _ => 0,
        };
    }

    /// <summary>The architecture part of a runtime identifier (linux-arm64, linux-musl-x64, win-x64, arm64, browser-wasm, ...), or null.</summary>
    private static string? Architecture(string? runtimeIdentifier)
    {
        if (runtimeIdentifier is null) return null;
        foreach (string part in runtimeIdentifier.Trim().ToLowerInvariant().Split('-'))
        {
            if (part is "arm64" or "x64" or "wasm") return part;
        }
        return null;
    }

    private static bool IsTrue(string? value) => string.Equals(value?.Trim(), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The variants kept, for the generated file's header: e.g. "Vector128, AdvSimd".</summary>
    public string Describe()
    {
        string text = "Vector128";
        if (Vector256) text += ", Vector256";
        if (Vector512) text += ", Vector512";
        if (AdvSimd) text += ", AdvSimd";
        return text;
    }
}
