using System;
using System.Runtime.Intrinsics;
using ShuffleNetGen.Kernels;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The classifier's four-class dot products must give each class the logit the one-class loop gives it, bit for bit:
/// which loop sums a class depends on how a team splits the classes, and logits are bit-identical at every thread count.
/// </summary>
public class DotFourRowsTests
{
    [Theory]
    [InlineData(1024)] // whole vectors only
    [InlineData(960)]
    [InlineData(387)] // a tail of three
    [InlineData(3)] // no whole vector
    public void EachLaneIsTheOneRowSum(int count)
    {
        var random = new Random(count);
        float[] rows = new float[4 * count + 5], x = new float[count];
        for (int i = 0; i < rows.Length; i++) rows[i] = (float)(random.NextDouble() * 2 - 1) * (i % 7 == 0 ? 1e4f : 1f);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        int stride = count + 1;

        var sums = Simd.DotFourRows(ref rows[0], stride, ref x[0], count);

        for (int r = 0; r < 4; r++)
            Assert.Equal(BitConverter.SingleToInt32Bits(OneRow(rows.AsSpan(r * stride, count), x)), BitConverter.SingleToInt32Bits(sums.GetElement(r)));
    }

    /// <summary>The generated one-class loop's order: a Vector128 accumulator over whole vectors, added to zero, then the rest one at a time.</summary>
    private static float OneRow(ReadOnlySpan<float> row, ReadOnlySpan<float> x)
    {
        float sum = 0f;
        int vectors = row.Length / 4 * 4;
        if (vectors > 0)
        {
            var total = Vector128<float>.Zero;
            for (int i = 0; i < vectors; i += 4) total = Simd.MulAdd(Vector128.Create(row.Slice(i, 4)), Vector128.Create(x.Slice(i, 4)), total);
            sum += Vector128.Sum(total);
        }
        for (int i = vectors; i < row.Length; i++) sum += row[i] * x[i];
        return sum;
    }
}
