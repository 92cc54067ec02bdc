using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace ShuffleNetGen.Kernels;

/// <summary>
/// Vector primitives the generated kernels call. Each picks an instruction per ISA behind an <c>IsSupported</c> check,
/// which the JIT and NativeAOT fold to a constant, so after inlining only one branch remains.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Simd
{
    /// <summary><c>a * b + addend</c>, fused where the hardware has it (one rounding instead of two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> addend)
    {
        if (Fma.IsSupported) return Fma.MultiplyAdd(a, b, addend);
        if (AdvSimd.IsSupported) return AdvSimd.FusedMultiplyAdd(addend, a, b);
        return a * b + addend;
    }

    /// <summary>Elements 0, 2, 4, 6 of the eight floats at <paramref name="source"/>: the taps of a stride-2 window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadEven(ref float source)
    {
        var lo = Vector128.LoadUnsafe(ref source);
        var hi = Vector128.LoadUnsafe(ref source, 4);
        if (Sse.IsSupported) return Sse.Shuffle(lo, hi, 0b10_00_10_00);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.UnzipEven(lo, hi);
        return Vector128.Create(lo.GetElement(0), lo.GetElement(2), hi.GetElement(0), hi.GetElement(2));
    }

    /// <summary>Elements 1, 3, 5, 7 of the eight floats at <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadOdd(ref float source)
    {
        var lo = Vector128.LoadUnsafe(ref source);
        var hi = Vector128.LoadUnsafe(ref source, 4);
        if (Sse.IsSupported) return Sse.Shuffle(lo, hi, 0b11_01_11_01);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.UnzipOdd(lo, hi);
        return Vector128.Create(lo.GetElement(1), lo.GetElement(3), hi.GetElement(1), hi.GetElement(3));
    }
}
