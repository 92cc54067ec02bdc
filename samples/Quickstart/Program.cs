using System;
using System.Diagnostics;
using System.Linq;
using ShuffleNetGen;

// The paper's ShuffleNet 1x with 3 groups on 224x224 RGB: the generator emits its whole forward pass at build time.
var model = args.Length > 0 ? ShuffleNet1x.FromSafetensors(args[0]) : ShuffleNet1x.CreateRandom(seed: 42);
Console.WriteLine(args.Length > 0 ? $"Weights: {args[0]}" : "Weights: seeded random (pass a .safetensors path to load real ones)");

// A smooth synthetic image, so the run needs no data files.
var image = new float[ShuffleNet1x.InputLength];
for (int c = 0; c < ShuffleNet1x.InputChannels; c++)
    for (int y = 0; y < ShuffleNet1x.InputHeight; y++)
        for (int x = 0; x < ShuffleNet1x.InputWidth; x++)
            image[(c * ShuffleNet1x.InputHeight + y) * ShuffleNet1x.InputWidth + x] = MathF.Sin(0.05f * x + 0.9f * c) * MathF.Cos(0.07f * y);

var logits = new float[ShuffleNet1x.Classes];
model.Forward(image, logits);

float max = logits.Max();
double denominator = logits.Sum(l => Math.Exp(l - max));
Console.WriteLine("Top-5 classes (softmax):");
foreach (var (score, index) in logits.Select((l, i) => (Math.Exp(l - max) / denominator, i)).OrderByDescending(p => p.Item1).Take(5))
    Console.WriteLine($"  class {index,4}  {score:P2}  (logit {logits[index]:F4})");

const int Runs = 100;
for (int i = 0; i < 10; i++) model.Forward(image, logits);
var times = new double[Runs];
for (int i = 0; i < Runs; i++)
{
    long start = Stopwatch.GetTimestamp();
    model.Forward(image, logits);
    times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
}
Array.Sort(times);

// Counted apart from the timing loop, whose own bookkeeping (and the JIT's first visits) would show up here.
long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
for (int i = 0; i < Runs; i++) model.Forward(image, logits);
long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

Console.WriteLine($"Latency: median {times[Runs / 2]:F2} ms, p90 {times[Runs * 9 / 10]:F2} ms over {Runs} runs (one thread)");
Console.WriteLine($"Allocated by {Runs} more forward passes: {allocated} bytes");
Console.WriteLine($"Multiply-adds: {ShuffleNet1x.MultiplyAdds / 1e6:F1} M    Parameters: {ShuffleNet1x.ParameterCount / 1e6:F3} M");
Console.WriteLine($"Memory (floats): arena {ShuffleNet1x.ArenaLength:N0}, no reuse {ShuffleNet1x.NaiveActivationLength:N0}, live lower bound {ShuffleNet1x.LiveLowerBound:N0}");
Console.WriteLine($"Arena: {ShuffleNet1x.ArenaLength * 4 / 1024.0 / 1024.0:F2} MiB, {(double)ShuffleNet1x.ArenaLength / ShuffleNet1x.NaiveActivationLength:P1} of no reuse, {(double)ShuffleNet1x.ArenaLength / ShuffleNet1x.LiveLowerBound:F3}x the lower bound");

[ShuffleNet(Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputChannels = 3, InputHeight = 224, InputWidth = 224, Classes = 1000)]
public partial class ShuffleNet1x;
