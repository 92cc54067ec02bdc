using System.Diagnostics;
using System.Runtime.Intrinsics;
using ShuffleNetGen.Kernels;
using ShuffleNetGen;
using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests;
using ShuffleNetGen.Tests.Reference;
using ShuffleNetGen.Weights;

namespace Conformance;

/// <summary>One int8 case: the generated int8 model against the scalar reference on the same float weights.</summary>
internal static class Int8Check
{
    /// <summary>Inputs per case: the matrix's input and a few pseudo-random images.</summary>
    public const int Inputs = 4;

    /// <summary>
    /// Lowest accepted centred cosine between int8 and reference logits, on every input. Measured (x64 JIT and arm64
    /// NativeAOT under qemu alike): 0.99963 to 0.99998 for the v1 cases, so quantization noise is 1 − cos ≈
    /// 2e-5..4e-4; this allows about five times the worst. The v2 case is noisier, 0.998458 on arm64 with and without
    /// SDOT (its branches run two quantized 1x1 convolutions in series, and conv5 a third), so it has
    /// about 1.3 times its noise here: the run is deterministic (the hashes must match), and a change that makes v2's
    /// int8 noticeably worse should stop this step. A wrong scale, zero point, weight byte, slot or shuffle moves
    /// logits far more.
    /// </summary>
    public const double MinCosine = 0.998;

    /// <summary>
    /// Null when a NaN activation quantizes to the lowest value (slot byte 0) on this CPU's scalar, Vector128 and
    /// packing paths, as Int8SlotsTests pins on x64; otherwise what differs.
    /// </summary>
    public static string? NaNQuantizeProblem()
    {
        const float inverse = 0.5f, zeroPoint = 37, high = Int8Simd.MaxActivation - zeroPoint;
        int scalar = Int8Simd.Quantize(float.NaN, inverse, -zeroPoint, high);
        var vector = Int8Simd.Quantize(Vector128.Create(float.NaN), Vector128.Create(inverse), Vector128.Create(-zeroPoint), Vector128.Create(high));
        var nan = Vector128.Create(float.NaN);
        var slots = Int8Slots.Pack(nan, nan, nan, nan, Vector128.Create(inverse), Vector128.Create(-zeroPoint), Vector128.Create(high), Vector128.Create((byte)zeroPoint));
        return scalar == -zeroPoint && vector == Vector128.Create((int)-zeroPoint) && slots == Vector128<int>.Zero
            ? null
            : $"NaN quantized to {scalar} (scalar), {vector} (Vector128), slots {slots}; want {-zeroPoint} and slot 0";
    }

    public static Int8Outcome Run<T>(string name) where T : class, IShuffleNetModel<T>
    {
        var d = T.Description;
        int length = d.InputChannels * d.InputHeight * d.InputWidth;
        // Float weights: the int8 layout without its calibration tensors, drawn as the matrix draws them.
        var floatLayout = d.WeightLayout.Where(t => !t.Name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal)
            && !t.Name.EndsWith(Int8Calibration.InputZeroPointSuffix, StringComparison.Ordinal)).ToList();
        var weights = RandomWeights.Create(floatLayout, seed: ReferenceCases.WeightSeed(name));
        var calibrated = Int8Ranges.Calibrate(d, weights, RandomWeights.Images(length, 4, seed: 1));
        var model = T.FromTensors(calibrated);

        var inputs = new List<float[]> { ReferenceCases.Input(length) };
        inputs.AddRange(RandomWeights.Images(length, Inputs - 1, seed: 2));

        ulong hash = 0xCBF29CE484222325UL; // FNV-1a 64 over the little-endian bytes of every logit, input after input
        int agree = 0;
        double worst = 1, margin = double.PositiveInfinity, generatedMs = 0, referenceMs = 0;
        string? problem = null;
        var logits = new float[d.Classes];
        var again = new float[d.Classes];
        foreach (var input in inputs)
        {
            long start = Stopwatch.GetTimestamp();
            model.Forward(input, logits);
            generatedMs += Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            var expected = ReferenceCases.ReferenceLogits(d, n => weights[n].Data, input);   // v1's or v2's reference, by d.Version
            referenceMs += Stopwatch.GetElapsedTime(start).TotalMilliseconds;

            foreach (float v in logits)
            {
                uint bits = BitConverter.SingleToUInt32Bits(v);
                for (int b = 0; b < 4; b++) hash = (hash ^ ((bits >> (8 * b)) & 0xFF)) * 0x100000001B3UL;
            }
            if (ArgMax(logits) == ArgMax(expected)) agree++;
            margin = Math.Min(margin, Margin(expected));
            double cosine = CentredCosine(logits, expected);
            worst = Math.Min(worst, double.IsNaN(cosine) ? -1 : cosine);
            model.Forward(input, again);
            if (problem is null && !logits.All(float.IsFinite)) problem = "a logit is NaN or infinite";
            if (problem is null && !again.AsSpan().SequenceEqual(logits)) problem = "a second Forward on the same input gave other logits";
            if (problem is null && !TeamCheck.SameOnTwoThreads(model, input, logits)) problem = "Forward on a 2-thread ShuffleNetTeam gave other logits than one thread";
        }
        if (problem is null && agree < inputs.Count) problem = $"top-1 differs from the reference's on {inputs.Count - agree} of {inputs.Count} inputs";
        if (problem is null && !(worst > MinCosine)) problem = $"centred cosine {worst:F6} against the reference is not above {MinCosine}";
        return new Int8Outcome($"{d.InputChannels}x{d.InputHeight}x{d.InputWidth}", agree, worst, margin, generatedMs, referenceMs, hash.ToString("x16"), problem);
    }

    /// <summary>Cosine of the two logit vectors less their means (a shared offset would make any two look alike).</summary>
    private static double CentredCosine(float[] a, float[] b)
    {
        double ma = a.Average(v => (double)v), mb = b.Average(v => (double)v), dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (a[i] - ma) * (b[i] - mb);
            na += (a[i] - ma) * (a[i] - ma);
            nb += (b[i] - mb) * (b[i] - mb);
        }
        return dot / Math.Sqrt(na * nb);
    }

    /// <summary>The reference's lead of its top-1 over the runner-up, relative to the spread of its logits: how safe the top-1 check is.</summary>
    private static double Margin(float[] values)
    {
        var sorted = values.Select(v => (double)v).OrderDescending().ToArray();
        return (sorted[0] - sorted[1]) / (sorted[0] - sorted[^1]);
    }

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

internal sealed record Int8Outcome(string Input, int Agree, double WorstCosine, double Margin, double GeneratedMs, double ReferenceMs, string Hash, string? Problem);
