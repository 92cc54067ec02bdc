using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;

// Two generator builds of one model in one process: whole passes and each op in forward order, alternated pair by pair
// (which side runs first alternates too). Where each instance's arena and weights land moves single ops by a few
// percent on a shared host whatever the code, so compare.sh runs this twice, creating either side first; only moves
// that hold in both orders mean anything.
//   Runner <model> <pairs> <baseline-first|candidate-first> [all]
string model = args.Length > 0 ? args[0] : "v2_x1_0_224";
int pairs = args.Length > 1 ? int.Parse(args[1]) : 300;
bool candidateFirst = args.Length > 2 && args[2] == "candidate-first";
bool all = args.Contains("all");
Console.WriteLine($"{model}: {pairs} alternated pairs, {(candidateFirst ? "candidate" : "baseline")} instance created first");
switch (model)
{
    case "g3_1x_224":
        Compare<Sng.Baseline.G3One224, Sng.Candidate.G3One224>(Sng.Baseline.G3One224.BenchmarkOpNames, m => m.RunOpForBenchmark, m => m.RunOpForBenchmark);
        break;
    case "g3_1x_224_int8":
        Compare<Sng.Baseline.G3One224Int8, Sng.Candidate.G3One224Int8>(Sng.Baseline.G3One224Int8.BenchmarkOpNames, m => m.RunOpForBenchmark, m => m.RunOpForBenchmark);
        break;
    case "v2_x1_0_224":
        Compare<Sng.Baseline.V2X1_0_224, Sng.Candidate.V2X1_0_224>(Sng.Baseline.V2X1_0_224.BenchmarkOpNames, m => m.RunOpForBenchmark, m => m.RunOpForBenchmark);
        break;
    case "v2_x1_5_224":
        Compare<Sng.Baseline.V2X1_5_224, Sng.Candidate.V2X1_5_224>(Sng.Baseline.V2X1_5_224.BenchmarkOpNames, m => m.RunOpForBenchmark, m => m.RunOpForBenchmark);
        break;
    case "v2_x2_0_224":
        Compare<Sng.Baseline.V2X2_0_224, Sng.Candidate.V2X2_0_224>(Sng.Baseline.V2X2_0_224.BenchmarkOpNames, m => m.RunOpForBenchmark, m => m.RunOpForBenchmark);
        break;
    default:
        Console.Error.WriteLine($"unknown model {model}: g3_1x_224, g3_1x_224_int8, v2_x1_0_224, v2_x1_5_224 or v2_x2_0_224");
        return 2;
}
return 0;

// The op names and the op runner are the bench's members of each generated class, on no interface.
void Compare<TA, TB>(string[] names, Func<TA, Step> stepA, Func<TB, Step> stepB)
    where TA : class, ShuffleNetGen.IShuffleNetModel<TA> where TB : class, ShuffleNetGen.IShuffleNetModel<TB>
{
    TA a; TB b;
    if (candidateFirst) { b = TB.CreateRandom(2024); a = TA.CreateRandom(2024); } else { a = TA.CreateRandom(2024); b = TB.CreateRandom(2024); }
    int inputLength = TA.InputElementCount, classes = TA.ClassCount;
    Pass fa = a.Forward, fb = b.Forward;
    Step oa = stepA(a), ob = stepB(b);
    var rng = new Random(7);
    var x = new float[inputLength];
    for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
    var la = new float[classes];
    var lb = new float[classes];
    fa(x, la);
    fb(x, lb);
    int same = 0;
    for (int i = 0; i < classes; i++) if (BitConverter.SingleToInt32Bits(la[i]) == BitConverter.SingleToInt32Bits(lb[i])) same++;
    Console.WriteLine($"logits bit-identical: {same} of {classes}");

    int n = names.Length;
    var opA = Enumerable.Range(0, n).Select(_ => new List<double>()).ToArray();
    var opB = Enumerable.Range(0, n).Select(_ => new List<double>()).ToArray();
    var passTimesA = new List<double>();
    var passTimesB = new List<double>();
    var pairRatios = new List<double>();
    for (int w = 0; w < 50; w++) { fa(x, la); fb(x, lb); }
    var clock = new Stopwatch();
    for (int pair = 0; pair < pairs; pair++)
    {
        for (int k = 0; k < 2; k++)
        {
            bool runA = (k == 0) == (pair % 2 == 0);
            clock.Restart();
            if (runA) fa(x, la); else fb(x, lb);
            (runA ? passTimesA : passTimesB).Add(clock.Elapsed.TotalMicroseconds);
            for (int i = 0; i < n; i++)
            {
                clock.Restart();
                if (runA) oa(i, x, la); else ob(i, x, lb);
                (runA ? opA : opB)[i].Add(clock.Elapsed.TotalMicroseconds);
            }
        }
        pairRatios.Add(passTimesB[^1] / passTimesA[^1]);
    }
    Console.WriteLine($"pass medians: baseline {Median(passTimesA):F1} us, candidate {Median(passTimesB):F1} us; median of pair ratios candidate/baseline {Median(pairRatios):F4}");
    Console.WriteLine("  op  baseline  candidate  ratio  name (ops that moved by more than 2 us; all with 'all')");
    double sumA = 0, sumB = 0;
    for (int i = 0; i < n; i++)
    {
        double ma = Median(opA[i]), mb = Median(opB[i]);
        sumA += ma;
        sumB += mb;
        if (all || Math.Abs(mb - ma) > 2) Console.WriteLine($"{i,4} {ma,9:F1} {mb,10:F1} {mb / ma,6:F3}  {names[i]}");
    }
    Console.WriteLine($"sum of op medians: baseline {sumA:F1} us, candidate {sumB:F1} us, ratio {sumB / sumA:F4}");
}

static double Median(List<double> values)
{
    var sorted = values.OrderBy(v => v).ToList();
    return sorted[sorted.Count / 2];
}

delegate void Pass(ReadOnlySpan<float> input, Span<float> logits);

delegate void Step(int op, ReadOnlySpan<float> input, Span<float> output);
