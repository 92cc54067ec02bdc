using System;
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

    /// <summary>
    /// <c>a * b + addend</c> on one float, fused exactly where the Vector128 and Vector256 overloads are. A window
    /// kernel's scalar edge output is then the same chain of roundings as the vector lane (or the zero-padded vector)
    /// that computes it in another variant, so every variant of a kernel writes the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MulAdd(float a, float b, float addend)
    {
        if (Fma.IsSupported || AdvSimd.IsSupported) return MathF.FusedMultiplyAdd(a, b, addend);
        return a * b + addend;
    }

    /// <summary><c>a * b + addend</c> on 8 lanes, fused with FMA3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend)
    {
        if (Fma.IsSupported) return Fma.MultiplyAdd(a, b, addend);
        return a * b + addend;
    }

    /// <summary><c>a * b + addend</c> on 16 lanes, fused with AVX-512F.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend)
    {
        if (Avx512F.IsSupported) return Avx512F.FusedMultiplyAdd(a, b, addend);
        return a * b + addend;
    }

    // ReLU as max(0, x) with x second: MAXPS returns its second operand when either is NaN, so a NaN passes through
    // as PyTorch's relu lets it, in one instruction. Vector128.Max orders NaN and signed zeros as IEEE 754-2019's
    // maximum, which on x64 costs VRANGEPS and two VFIXUPIMMPS in a dependent chain in every epilogue.
    // (max(0, -0) is -0 here and +0 on ARM64; both are zero to every later multiply-add.)

    /// <summary><c>max(0, x)</c> lane-wise; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Relu(Vector128<float> x)
    {
        if (Sse.IsSupported) return Sse.Max(Vector128<float>.Zero, x);
        return Vector128.Max(x, Vector128<float>.Zero);
    }

    /// <summary><c>max(0, x)</c> on 8 lanes; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Relu(Vector256<float> x)
    {
        if (Avx.IsSupported) return Avx.Max(Vector256<float>.Zero, x);
        return Vector256.Max(x, Vector256<float>.Zero);
    }

    /// <summary><c>max(0, x)</c> on 16 lanes; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Relu(Vector512<float> x)
    {
        if (Avx512F.IsSupported) return Avx512F.Max(Vector512<float>.Zero, x);
        return Vector512.Max(x, Vector512<float>.Zero);
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

    /// <summary>Elements 0, 2, …, 30 of the 32 floats at <paramref name="source"/> (AVX-512: one two-source permute).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadEven512(ref float source)
    {
        var lo = Vector512.LoadUnsafe(ref source);
        var hi = Vector512.LoadUnsafe(ref source, 16);
        if (Avx512F.IsSupported)
            return Avx512F.PermuteVar16x32x2(lo, Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), hi);
        return Vector512.Create(LoadEven256(ref source), LoadEven256(ref Unsafe.Add(ref source, 16)));
    }

    /// <summary>Elements 1, 3, …, 31 of the 32 floats at <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadOdd512(ref float source)
    {
        var lo = Vector512.LoadUnsafe(ref source);
        var hi = Vector512.LoadUnsafe(ref source, 16);
        if (Avx512F.IsSupported)
            return Avx512F.PermuteVar16x32x2(lo, Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), hi);
        return Vector512.Create(LoadOdd256(ref source), LoadOdd256(ref Unsafe.Add(ref source, 16)));
    }

    /// <summary>
    /// <c>[0, v0, v1, …, v14]</c>: the left taps of a window's first sixteen columns, whose first lies in the zero
    /// padding, from the taps one column to their right (VALIGND with a zero vector).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftInZero(Vector512<float> v)
    {
        if (Avx512F.IsSupported) return Avx512F.AlignRight32(v.AsUInt32(), Vector512<uint>.Zero, 15).AsSingle();
        // Index 16 is out of range, which Shuffle defines as zero.
        return Vector512.Shuffle(v, Vector512.Create(16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14));
    }

    /// <summary>Lane i is lane <c>indices[i]</c> of <paramref name="lower"/> (0–15) or of <paramref name="upper"/> (16–31): VPERMT2PS.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Permute(Vector512<float> lower, Vector512<int> indices, Vector512<float> upper)
    {
        if (Avx512F.IsSupported) return Avx512F.PermuteVar16x32x2(lower, indices, upper);
        var within = indices & Vector512.Create(15);
        return Vector512.ConditionalSelect(Vector512.LessThan(indices, Vector512.Create(16)).AsSingle(), Vector512.Shuffle(lower, within), Vector512.Shuffle(upper, within));
    }

    // SHUFPS picks within each 128-bit half, so its result holds the pairs (0, 2), (8, 10), (4, 6), (12, 14); VPERMPD
    // puts the 64-bit pairs back in order. Two full-width loads and two shuffles instead of four half-width loads.

    /// <summary>Elements 0, 2, …, 14 of the 16 floats at <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadEven256(ref float source)
    {
        if (Avx2.IsSupported)
            return Avx2.Permute4x64(Avx.Shuffle(Vector256.LoadUnsafe(ref source), Vector256.LoadUnsafe(ref source, 8), 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
        return Vector256.Create(LoadEven(ref source), LoadEven(ref Unsafe.Add(ref source, 8)));
    }

    /// <summary>Elements 1, 3, …, 15 of the 16 floats at <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadOdd256(ref float source)
    {
        if (Avx2.IsSupported)
            return Avx2.Permute4x64(Avx.Shuffle(Vector256.LoadUnsafe(ref source), Vector256.LoadUnsafe(ref source, 8), 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
        return Vector256.Create(LoadOdd(ref source), LoadOdd(ref Unsafe.Add(ref source, 8)));
    }

    /// <summary>
    /// Stages input rows <paramref name="first"/> … <paramref name="last"/> of every one of the <paramref name="planes"/>
    /// (<paramref name="planePixels"/> floats apart, rows <paramref name="width"/> apart), but for rows up to
    /// <paramref name="staged"/>, which are staged already, for <paramref name="columns"/> (at least 8) output columns of
    /// a stride-2 3x3 window from column 0, so that each tap column is one plain load: in a staged row, <c>[1 + x]</c> is
    /// input column 2x + 1 (the right taps), <c>[1 + columns + x]</c> column 2x (the centre ones), and <c>[x]</c>, from
    /// the padding's zero at <c>[0]</c>, column 2x − 1 (the left ones). Plane p's row r goes to slot (r + 1) mod 3 of the
    /// plane's three, <paramref name="rowFloats"/> apart, so a window's rows 2y − 1, 2y and 2y + 1 are in distinct slots
    /// and the last of them is the next window's first. Input columns up to 2·<paramref name="columns"/> − 1 are read.
    /// Returns <paramref name="last"/>: the new <paramref name="staged"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int StageStride2Rows256(ref float source, ref float staging, int staged, int first, int last, int planes, int planePixels, int width, int rowFloats, int columns)
    {
        for (int r = Math.Max(staged + 1, first); r <= last; r++)
        {
            ref float input = ref Unsafe.Add(ref source, r * width);
            ref float row = ref Unsafe.Add(ref staging, (r + 1) % 3 * rowFloats);
            for (int p = 0; p < planes; p++) Unsafe.Add(ref row, p * 3 * rowFloats) = 0;
            // The planes' columns interleaved: three independent chains (measured 1.5 % faster than plane by plane). The
            // last eight columns again, overlapping the ones before where columns is not a multiple of eight.
            for (int x = 0; ; x += 8)
            {
                if (x > columns - 8) x = columns - 8;
                for (int p = 0; p < planes; p++)
                    StageStride2Columns256(ref Unsafe.Add(ref input, p * planePixels), ref Unsafe.Add(ref row, p * 3 * rowFloats), columns, x);
                if (x == columns - 8) break;
            }
        }
        return last;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StageStride2Columns256(ref float input, ref float row, int columns, int x)
    {
        var lo = Vector256.LoadUnsafe(ref input, (nuint)(2 * x));
        var hi = Vector256.LoadUnsafe(ref input, (nuint)(2 * x + 8));
        Vector256<float> odd, even;
        if (Avx2.IsSupported)
        {
            // One load of each half for both parities, where LoadOdd256 and LoadEven256 would load them twice.
            odd = Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
            even = Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
        }
        else
        {
            odd = LoadOdd256(ref Unsafe.Add(ref input, 2 * x));
            even = LoadEven256(ref Unsafe.Add(ref input, 2 * x));
        }
        odd.StoreUnsafe(ref row, (nuint)(1 + x));
        even.StoreUnsafe(ref row, (nuint)(1 + columns + x));
    }

    // Stride 2 on Vector256 without a lane-crossing permute per load: SHUFPS alone leaves each 128-bit half with its own
    // pairs, so lanes 0 … 7 hold columns 0, 1, 4, 5, 2, 3, 6, 7. Lane-wise arithmetic does not care about the order, so a
    // window kernel combines all its taps in this order and puts the result right once, before its store: one VPERMPD
    // per output vector instead of one per tap (nine per vector of a 3x3 window).

    /// <summary>Elements 0, 2, …, 14 of the 16 floats at <paramref name="source"/>, in the order 0, 2, 8, 10, 4, 6, 12, 14 (see <see cref="Unswizzle256"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadEvenSwizzled256(ref float source)
    {
        if (Avx.IsSupported) return Avx.Shuffle(Vector256.LoadUnsafe(ref source), Vector256.LoadUnsafe(ref source, 8), 0b10_00_10_00);
        return Vector256.Create(source, Unsafe.Add(ref source, 2), Unsafe.Add(ref source, 8), Unsafe.Add(ref source, 10),
            Unsafe.Add(ref source, 4), Unsafe.Add(ref source, 6), Unsafe.Add(ref source, 12), Unsafe.Add(ref source, 14));
    }

    /// <summary>Elements 1, 3, …, 15 of the 16 floats at <paramref name="source"/>, in the order 1, 3, 9, 11, 5, 7, 13, 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadOddSwizzled256(ref float source)
    {
        if (Avx.IsSupported) return Avx.Shuffle(Vector256.LoadUnsafe(ref source), Vector256.LoadUnsafe(ref source, 8), 0b11_01_11_01);
        return Vector256.Create(Unsafe.Add(ref source, 1), Unsafe.Add(ref source, 3), Unsafe.Add(ref source, 9), Unsafe.Add(ref source, 11),
            Unsafe.Add(ref source, 5), Unsafe.Add(ref source, 7), Unsafe.Add(ref source, 13), Unsafe.Add(ref source, 15));
    }

    // The max pool's maximum is IEEE 754-2019's (a NaN wins, +0 over -0), as Vector256.Max computes it. MAXPS alone
    // returns its second operand when either is NaN or both are zeros, so Vector256.Max fixes each call up (about eight
    // instructions on AVX2, which made the 112x112 max pool compute-bound). A window needs the fix once per row of
    // taps: MAXPS over the row, then the sign of a zero from the AND of all inputs, and NaN from unordered compares.

    /// <summary>
    /// The IEEE 754-2019 maximum of a window row's three taps: Vector256.Max's result, except that a NaN comes out as
    /// the all-ones NaN rather than one of the inputs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Maximum(Vector256<float> a, Vector256<float> b, Vector256<float> c)
    {
        if (!Avx.IsSupported) return Vector256.Max(Vector256.Max(a, b), c);
        return SignedZeroAndNaN(Avx.Max(Avx.Max(a, b), c), Avx.And(Avx.And(a, b), c), Avx.Or(Avx.CompareUnordered(a, b), Avx.CompareUnordered(c, c)));
    }

    /// <summary><see cref="Maximum(Vector256{float}, Vector256{float}, Vector256{float})"/> of <paramref name="acc"/> and a row's three taps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Maximum(Vector256<float> acc, Vector256<float> a, Vector256<float> b, Vector256<float> c)
    {
        if (!Avx.IsSupported) return Vector256.Max(Vector256.Max(Vector256.Max(acc, a), b), c);
        return SignedZeroAndNaN(Avx.Max(Avx.Max(acc, a), Avx.Max(b, c)), Avx.And(Avx.And(acc, a), Avx.And(b, c)), Avx.Or(Avx.CompareUnordered(acc, a), Avx.CompareUnordered(b, c)));
    }

    /// <summary>
    /// MAXPS's <paramref name="max"/> of some inputs made IEEE's: <paramref name="allSigns"/> is their AND, whose sign
    /// is clear when any input is non-negative, and <paramref name="unordered"/> is set where any is NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SignedZeroAndNaN(Vector256<float> max, Vector256<float> allSigns, Vector256<float> unordered)
    {
        // Clearing max's sign where some input's is clear changes only a -0 that tied with a +0: any other max with its
        // sign set is negative, and then so is every input.
        var keepSign = Avx.Or(allSigns, Vector256.Create(0x7FFFFFFF).AsSingle());
        return Avx.Or(Avx.And(max, keepSign), unordered);
    }

    /// <summary>Lanes 0, 1, 4, 5, 2, 3, 6, 7 of <paramref name="v"/>: a sum of swizzled loads back in column order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Unswizzle256(Vector256<float> v)
    {
        if (Avx2.IsSupported) return Avx2.Permute4x64(v.AsDouble(), 0b11_01_10_00).AsSingle();
        return Vector256.Shuffle(v, Vector256.Create(0, 1, 4, 5, 2, 3, 6, 7));
    }

    /// <summary>
    /// <see cref="ShiftInZero(Vector256{float})"/> in the order of <see cref="LoadEvenSwizzled256"/>: each column takes
    /// its left neighbour's value, column 0 the padding's zero (the left taps of a stride-2 window's first eight columns).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftInZeroSwizzled256(Vector256<float> v)
    {
        if (Avx2.IsSupported) return Avx.Blend(Avx2.PermuteVar8x32(v, Vector256.Create(0, 0, 5, 2, 1, 4, 3, 6)), Vector256<float>.Zero, 0b1);
        // Index 8 is out of range, which Shuffle defines as zero.
        return Vector256.Shuffle(v, Vector256.Create(8, 0, 5, 2, 1, 4, 3, 6));
    }

    /// <summary><c>[0, v0, v1, …, v6]</c>: the left taps of a window's first eight columns (see the Vector512 overload).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftInZero(Vector256<float> v)
    {
        if (Avx2.IsSupported) return Avx.Blend(Avx2.PermuteVar8x32(v, Vector256.Create(0, 0, 1, 2, 3, 4, 5, 6)), Vector256<float>.Zero, 0b1);
        // Index 8 is out of range, which Shuffle defines as zero.
        return Vector256.Shuffle(v, Vector256.Create(8, 0, 1, 2, 3, 4, 5, 6));
    }

    /// <summary>
    /// The dot products of four rows (<paramref name="rowStride"/> apart) with <paramref name="x"/>, over
    /// <paramref name="count"/> elements. Each row sums as a classifier's one-row loop does (a Vector128 accumulator
    /// over whole vectors, its <see cref="Vector128.Sum{T}(Vector128{T})"/> added to zero, then the rest one element at
    /// a time), so each lane is that loop's sum bit for bit. One row alone waits an FMA latency per vector; four chains
    /// side by side overlap (the 1000-class classifier went from about 275 to 85 µs on an AVX2 core).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotFourRows(ref float row0, int rowStride, ref float x, int count)
    {
        ref float row1 = ref Unsafe.Add(ref row0, rowStride);
        ref float row2 = ref Unsafe.Add(ref row1, rowStride);
        ref float row3 = ref Unsafe.Add(ref row2, rowStride);
        var total0 = Vector128<float>.Zero;
        var total1 = Vector128<float>.Zero;
        var total2 = Vector128<float>.Zero;
        var total3 = Vector128<float>.Zero;
        int i = 0;
        for (; i <= count - Vector128<float>.Count; i += Vector128<float>.Count)
        {
            var v = Vector128.LoadUnsafe(ref x, (nuint)i);
            total0 = MulAdd(Vector128.LoadUnsafe(ref row0, (nuint)i), v, total0);
            total1 = MulAdd(Vector128.LoadUnsafe(ref row1, (nuint)i), v, total1);
            total2 = MulAdd(Vector128.LoadUnsafe(ref row2, (nuint)i), v, total2);
            total3 = MulAdd(Vector128.LoadUnsafe(ref row3, (nuint)i), v, total3);
        }
        float sum0 = 0f + Vector128.Sum(total0);
        float sum1 = 0f + Vector128.Sum(total1);
        float sum2 = 0f + Vector128.Sum(total2);
        float sum3 = 0f + Vector128.Sum(total3);
        for (; i < count; i++)
        {
            float xi = Unsafe.Add(ref x, i);
            sum0 += Unsafe.Add(ref row0, i) * xi;
            sum1 += Unsafe.Add(ref row1, i) * xi;
            sum2 += Unsafe.Add(ref row2, i) * xi;
            sum3 += Unsafe.Add(ref row3, i) * xi;
        }
        return Vector128.Create(sum0, sum1, sum2, sum3);
    }
}
