using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Conformance;

/// <summary>
/// Which instructions the generated kernels run on this CPU, per kernel family. Neither the runtime nor the generated
/// code reports the variant it selected, so this restates the branches of the emitters (generator/Emit) and of
/// runtime/Kernels/Simd.cs; when kernels expose their selected path, print that instead.
/// </summary>
internal static class KernelPaths
{
    /// <summary>One tag for the whole model: pointwise vector width and the multiply-add instruction.</summary>
    public static string Short =>
        Vector512.IsHardwareAccelerated ? (Avx512F.IsSupported ? "V512 AVX-512F FMA" : "V512 mul+add")
        : Vector256.IsHardwareAccelerated ? (Fma.IsSupported ? "V256 FMA3" : "V256 mul+add")
        : AdvSimd.Arm64.IsSupported ? "V128 AdvSimd FMLA"
        : Fma.IsSupported ? "V128 FMA3"
        : Sse.IsSupported ? "V128 SSE mul+add"
        : "V128 mul+add";

    public static IEnumerable<(string Family, string Path)> Describe()
    {
        // Simd.MulAdd for each width.
        string mulAdd128 = Fma.IsSupported ? "FMA3 vfmadd"
            : AdvSimd.IsSupported ? "AdvSimd fmla"
            : "multiply, then add";
        string mulAdd256 = Fma.IsSupported ? "FMA3 vfmadd" : "multiply, then add";
        string mulAdd512 = Avx512F.IsSupported ? "AVX-512F vfmadd" : "multiply, then add";
        // Simd.LoadEven/LoadOdd.
        string deinterleave = Sse.IsSupported ? "SSE shufps"
            : AdvSimd.Arm64.IsSupported ? "AdvSimd uzp1/uzp2"
            : "element-wise gather";
        string v128 = Vector128.IsHardwareAccelerated ? "Vector128" : "Vector128 (software fallback)";

        // PointwiseKernelEmitter: the call site takes the widest accelerated variant (V512 and V256 exist only for
        // planes of at least 16 and 8 pixels); the V128 variant multiplies by a lane of a weight vector on ARM64.
        string pointwise128 = AdvSimd.Arm64.IsSupported ? $"{v128}, AdvSimd fmla by element" : $"{v128}, {mulAdd128}";
        string pointwise = Vector512.IsHardwareAccelerated ? $"Vector512, {mulAdd512}"
            : Vector256.IsHardwareAccelerated ? $"Vector256, {mulAdd256}"
            : $"{pointwise128}";
        yield return ("pointwise 1x1 group conv", pointwise + "; planes under 8/16 px: V128 variant");
        // WindowKernelEmitter: interiors of at least 16 columns take Vector512 where it is accelerated (stride 2
        // de-interleaving with a two-source permute); edges and narrower interiors stay on Vector128.
        string wide = Vector512.IsHardwareAccelerated ? $"interiors of 16+ columns: Vector512, {mulAdd512}; else " : "";
        string wideDeinterleave = Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? "vpermt2ps (512), " : "";
        yield return ("3x3 depthwise / stem, stride 1", $"{wide}{v128}, {mulAdd128}");
        yield return ("3x3 depthwise / stem, stride 2", $"{wide}{v128}, {mulAdd128}, de-interleave: {wideDeinterleave}{deinterleave}");
        // HeadKernelEmitter: sums of at least 32 elements run two Vector512 accumulators where accelerated.
        yield return ("head (global avg pool + fc)", Vector512.IsHardwareAccelerated ? $"Vector512 for 32+ elements, {mulAdd512}; else {v128}, {mulAdd128}" : $"{v128}, {mulAdd128}");
    }
}
