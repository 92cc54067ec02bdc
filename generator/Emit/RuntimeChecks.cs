namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The hardware checks emitted code branches on (constants under the JIT and NativeAOT, so untaken branches vanish).
/// Kernels, call sites and the generated <c>KernelPaths</c> report all take them from here, so the report tests the
/// same expressions the code runs.
/// </summary>
internal static class RuntimeChecks
{
    /// <summary>Selects the ARM64 (AdvSimd) variants; the generated file aliases <c>AdvSimd</c>.</summary>
    public const string AdvSimdArm64 = "AdvSimd.Arm64.IsSupported";

    /// <summary>Whether <paramref name="vectorType"/> (<c>Vector512</c>, <c>Vector256</c>, …) is accelerated.</summary>
    public static string Accelerated(string vectorType) => vectorType + ".IsHardwareAccelerated";

    /// <summary>Selects the Vector512 interiors and sums of the window and head kernels.</summary>
    public static readonly string Vector512Accelerated = Accelerated("Vector512");
}
