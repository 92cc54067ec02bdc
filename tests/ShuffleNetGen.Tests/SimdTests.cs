using System.Runtime.Intrinsics;
using ShuffleNetGen.Kernels;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The vector primitives the window kernels call, on this process's instructions, against their definitions: the
/// kernels' results rest on these lane by lane, and a wrong lane would only show as a small error in the logits.
/// </summary>
public class SimdTests
{
    private static readonly float[] Values =
    {
        float.NaN, -1f, 2f, -0f, float.PositiveInfinity, float.NegativeInfinity, 0.5f, -3e38f,
        3e38f, 0f, -float.Epsilon, float.Epsilon, BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00000)), 7f, -7f, 1e-30f,
    };

    /// <summary>ReLU keeps NaN (either sign, as PyTorch's relu does), clears negatives and keeps the rest, at every width.</summary>
    [Fact]
    public void ReluKeepsNaNAndClearsNegativesAtEveryWidth()
    {
        var v512 = Simd.Relu(Vector512.Create(Values));
        var v256 = Simd.Relu(Vector256.Create(Values.AsSpan(0, 8)));
        var v128 = Simd.Relu(Vector128.Create(Values.AsSpan(0, 4)));
        for (int i = 0; i < Values.Length; i++)
        {
            float x = Values[i];
            var got = new List<float> { v512.GetElement(i) };
            if (i < 8) got.Add(v256.GetElement(i));
            if (i < 4) got.Add(v128.GetElement(i));
            foreach (float y in got)
            {
                if (float.IsNaN(x)) Assert.True(float.IsNaN(y), $"relu(NaN) at lane {i} gave {y}");
                else Assert.Equal(x > 0 ? x : 0f, y); // 0f == -0f: the sign of a zero is not specified
            }
        }
    }

    /// <summary>
    /// The max pool's row maximum is Vector256.Max's, zeros' signs included, on every combination of four of the special
    /// values (a NaN may come out as another NaN: its payload is not specified).
    /// </summary>
    [Fact]
    public void RowMaximumIsVector256MaxOnEveryCombinationOfSpecialValues()
    {
        int n = Values.Length;
        var lanes = new float[4][];
        for (int i = 0; i < 4; i++) lanes[i] = new float[8];
        for (int combination = 0; combination < n * n * n * n; combination += 8)
        {
            for (int lane = 0; lane < 8; lane++)
            {
                int c = combination + lane;
                for (int i = 0; i < 4; i++, c /= n) lanes[i][lane] = Values[c % n];
            }
            var (acc, a, b, x) = (Vector256.Create(lanes[0]), Vector256.Create(lanes[1]), Vector256.Create(lanes[2]), Vector256.Create(lanes[3]));
            AssertSameMaximum(Vector256.Max(Vector256.Max(a, b), x), Simd.Maximum(a, b, x));
            AssertSameMaximum(Vector256.Max(Vector256.Max(Vector256.Max(acc, a), b), x), Simd.Maximum(acc, a, b, x));
        }

        static void AssertSameMaximum(Vector256<float> expected, Vector256<float> actual)
        {
            for (int lane = 0; lane < 8; lane++)
            {
                float e = expected.GetElement(lane), y = actual.GetElement(lane);
                if (float.IsNaN(e)) Assert.True(float.IsNaN(y), $"lane {lane}: {y} where Vector256.Max gave NaN");
                else Assert.Equal(BitConverter.SingleToInt32Bits(e), BitConverter.SingleToInt32Bits(y));
            }
        }
    }

    [Fact]
    public void ShiftInZeroMovesEveryLaneUpOneAndStartsWithZero()
    {
        var v = Vector512.Create(Enumerable.Range(1, 16).Select(i => (float)i).ToArray());
        var shifted = Simd.ShiftInZero(v);
        Assert.Equal(0f, shifted.GetElement(0));
        for (int i = 1; i < 16; i++) Assert.Equal(v.GetElement(i - 1), shifted.GetElement(i));
    }

    [Fact]
    public void ShiftInZeroOnEightLanesMovesEveryLaneUpOneAndStartsWithZero()
    {
        var v = Vector256.Create(Enumerable.Range(1, 8).Select(i => (float)i).ToArray());
        var shifted = Simd.ShiftInZero(v);
        Assert.Equal(0f, shifted.GetElement(0));
        for (int i = 1; i < 8; i++) Assert.Equal(v.GetElement(i - 1), shifted.GetElement(i));
    }

    /// <summary>The stride-2 de-interleaving loads at every width: lane i is element 2i (even) or 2i + 1 (odd).</summary>
    [Fact]
    public void EvenAndOddLoadsTakeAlternateElementsAtEveryWidth()
    {
        float[] data = Enumerable.Range(0, 40).Select(i => i * 1.5f - 7f).ToArray();
        for (int offset = 0; offset < 8; offset++)
        {
            ref float at = ref data[offset];
            var even128 = Simd.LoadEven(ref at);
            var odd128 = Simd.LoadOdd(ref at);
            var even256 = Simd.LoadEven256(ref at);
            var odd256 = Simd.LoadOdd256(ref at);
            var even512 = Simd.LoadEven512(ref at);
            var odd512 = Simd.LoadOdd512(ref at);
            for (int i = 0; i < 16; i++)
            {
                if (i < 4) Assert.Equal((data[offset + 2 * i], data[offset + 2 * i + 1]), (even128.GetElement(i), odd128.GetElement(i)));
                if (i < 8) Assert.Equal((data[offset + 2 * i], data[offset + 2 * i + 1]), (even256.GetElement(i), odd256.GetElement(i)));
                Assert.Equal((data[offset + 2 * i], data[offset + 2 * i + 1]), (even512.GetElement(i), odd512.GetElement(i)));
            }
        }
    }

    /// <summary>
    /// The swizzled stride-2 loads hold the even or odd elements with columns 2 and 3 swapped with 4 and 5 (what
    /// SHUFPS leaves), and unswizzling restores the plain loads' order: so a lane-wise sum of swizzled loads, put right
    /// once, is the sum of the plain ones.
    /// </summary>
    [Fact]
    public void SwizzledLoadsUnswizzleToTheEvenAndOddLoads()
    {
        float[] data = Enumerable.Range(0, 40).Select(i => i * 1.5f - 7f).ToArray();
        int[] columnOfLane = { 0, 1, 4, 5, 2, 3, 6, 7 };
        for (int offset = 0; offset < 8; offset++)
        {
            ref float at = ref data[offset];
            var even = Simd.LoadEvenSwizzled256(ref at);
            var odd = Simd.LoadOddSwizzled256(ref at);
            for (int lane = 0; lane < 8; lane++)
                Assert.Equal((data[offset + 2 * columnOfLane[lane]], data[offset + 2 * columnOfLane[lane] + 1]), (even.GetElement(lane), odd.GetElement(lane)));
            Assert.Equal(Simd.LoadEven256(ref at), Simd.Unswizzle256(even));
            Assert.Equal(Simd.LoadOdd256(ref at), Simd.Unswizzle256(odd));
            Assert.Equal(Simd.ShiftInZero(Simd.LoadOdd256(ref at)), Simd.Unswizzle256(Simd.ShiftInZeroSwizzled256(odd)));
        }
    }

    [Fact]
    public void PermuteTakesIndicesBelowSixteenFromTheLowerVectorAndTheRestFromTheUpper()
    {
        var lower = Vector512.Create(Enumerable.Range(0, 16).Select(i => (float)i).ToArray());
        var upper = Vector512.Create(Enumerable.Range(100, 16).Select(i => (float)i).ToArray());
        var random = new Random(5);
        for (int round = 0; round < 50; round++)
        {
            var indices = Enumerable.Range(0, 16).Select(_ => random.Next(0, 32)).ToArray();
            var permuted = Simd.Permute(lower, Vector512.Create(indices), upper);
            for (int i = 0; i < 16; i++)
                Assert.Equal(indices[i] < 16 ? indices[i] : 100 + indices[i] - 16, permuted.GetElement(i));
        }
    }
}
