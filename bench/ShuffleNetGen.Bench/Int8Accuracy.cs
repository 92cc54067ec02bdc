using ShuffleNetGen.Quantization;
using ShuffleNetGen.Weights;

namespace ShuffleNetGen.Bench;

/// <summary>
/// How far int8 moves an ImageNet-shaped model from its float twin: 1x g = 3 at 224x224 with random weights,
/// calibrated on some random images and compared on others it never saw. Reported per calibration method: top-1
/// agreement and the cosine similarity of the logits, raw and centred (random-weight logits share a large common
/// offset that would flatter the raw cosine).
/// </summary>
internal static class Int8Accuracy
{
    public static void Run(int calibrationCount, int testCount, int seed)
    {
        var weights = RandomWeights.Create(G3One224.WeightLayout, seed);
        var fp32 = G3One224.FromTensors(weights);
        var calibration = RandomWeights.Images(G3One224.InputLength, calibrationCount, seed + 1);
        var test = RandomWeights.Images(G3One224.InputLength, testCount, seed + 2);
        var reference = test.Select(image =>
        {
            var logits = new float[G3One224.Classes];
            fp32.Forward(image, logits);
            return logits;
        }).ToList();
        Console.WriteLine($"g3_1x_224, random weights (seed {seed}): calibrated on {calibrationCount} random images, compared on {testCount} others");
        Console.WriteLine($"{"method",-10} {"top1",9} {"cos_mean",9} {"cos_min",9} {"ccos_mean",9} {"ccos_min",9} {"top5_has_top1",13}");
        foreach (var method in new[] { CalibrationMethod.MinMax, CalibrationMethod.Percentile })
        {
            var int8 = G3One224Int8.FromTensors(Int8Calibration.Calibrate(G3One224Int8.Description, weights, calibration, method));
            int agree = 0, inTop5 = 0;
            var cosines = new List<double>();
            var centred = new List<double>();
            var logits = new float[G3One224.Classes];
            for (int k = 0; k < test.Count; k++)
            {
                int8.Forward(test[k], logits);
                var expected = reference[k];
                int top = ArgMax(expected);
                if (ArgMax(logits) == top) agree++;
                if (logits.Select((v, i) => (v, i)).OrderByDescending(p => p.v).Take(5).Any(p => p.i == top)) inTop5++;
                cosines.Add(Cosine(logits, expected, centre: false));
                centred.Add(Cosine(logits, expected, centre: true));
            }
            Console.WriteLine($"{method,-10} {agree,4}/{test.Count,-4} {cosines.Average(),9:F5} {cosines.Min(),9:F5} {centred.Average(),9:F5} {centred.Min(),9:F5} {inTop5,8}/{test.Count}");
        }
    }

    internal static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());

    internal static double Cosine(float[] a, float[] b, bool centre)
    {
        double ma = centre ? a.Average() : 0, mb = centre ? b.Average() : 0;
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
