namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>How two logit vectors compare: the tests that bound quantization error all ask the same two questions.</summary>
public static class Logits
{
    /// <summary>The largest difference from <paramref name="expected"/>, relative to its largest magnitude, in double.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double worst = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return worst / scale;
    }

    /// <summary>The index of the largest logit (the first, on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>
    /// The cosine of the angle between two logit vectors, in double. <paramref name="centred"/>: of the logits less their
    /// means, since a shared offset across classes would otherwise make any two vectors look alike.
    /// </summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool centred)
    {
        double ma = 0, mb = 0;
        if (centred)
        {
            for (int i = 0; i < a.Length; i++) { ma += a[i]; mb += b[i]; }
            ma /= a.Length;
            mb /= b.Length;
        }
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double x = a[i] - ma, y = b[i] - mb;
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        return dot / Math.Sqrt(na * nb);
    }
}
