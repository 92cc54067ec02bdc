using System.Diagnostics;
using ShuffleNetGen;

namespace ShuffleNetGen.Bench;

/// <summary>
/// One image on several threads: ShuffleNetGen with one thread and with a <see cref="ShuffleNetTeam"/>, ONNX Runtime
/// with intra_op_num_threads 1 and N, and <see cref="ShuffleNetBatch"/> with 1 and N workers (how much N threads can
/// give on this host at all), all alternated in one loop so that the machine's load hits each alike, with a pause
/// before each so that no contender's spinning threads run into the next; each is timed on its second run after the
/// pause, with its threads awake.
/// </summary>
internal static class ThreadScaling
{
    /// <summary>Images per batch round: enough for N workers to stay busy, few enough for a round to stay short.</summary>
    private const int BatchImages = 8;

    /// <summary>Between two contenders: longer than a team's spin (1 ms) and ORT's, so none runs into the next.</summary>
    private const int PauseMs = 5;

    public static void Run<T>(string name, string repo, string cache, bool quick, int threads) where T : class, IShuffleNetModel<T>, IShuffleNetTeamModel
    {
        using var single = new Candidate<T>(name, ortThreads: 1);
        using var multi = new Candidate<T>(name, ortThreads: threads);
        single.Setup(repo, cache);
        multi.Setup(repo, cache);
        using var team = new ShuffleNetTeam(threads);
        var batchOne = new[] { T.CreateRandom(2024) };
        var batchMany = Enumerable.Range(0, threads).Select(_ => T.CreateRandom(2024)).ToArray();
        var images = new float[BatchImages * T.InputElementCount];
        var rng = new Random(3);
        for (int i = 0; i < images.Length; i++) images[i] = (float)(rng.NextDouble() * 2 - 1);
        var batchLogits = new float[BatchImages * T.ClassCount];

        single.RunSngAlone();
        var oneThreadLogits = (float[])single.SngLogits.Clone();
        multi.RunSng(team);
        bool identical = oneThreadLogits.Select(BitConverter.SingleToInt32Bits).SequenceEqual(multi.SngLogits.Select(BitConverter.SingleToInt32Bits));

        var contenders = new (string Name, Action Run, int Images)[]
        {
            ("sng_1t", () => single.RunSngAlone(), 1),
            ($"sng_{threads}t", () => multi.RunSng(team), 1),
            ("ort_1t", single.RunOrt, 1),
            ($"ort_{threads}t", multi.RunOrt, 1),
            ("batch_1w", () => ShuffleNetBatch.Run(batchOne, images, batchLogits), BatchImages),
            ($"batch_{threads}w", () => ShuffleNetBatch.Run(batchMany, images, batchLogits), BatchImages),
        };
        double warmup = quick ? 1.0 : 3.0, budget = quick ? 8.0 : 30.0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < warmup) foreach (var c in contenders) c.Run();
        var times = contenders.Select(_ => new List<double>()).ToArray();
        clock.Restart();
        while ((clock.Elapsed.TotalSeconds < budget || times[0].Count < 20) && times[0].Count < 3000)
        {
            for (int i = 0; i < contenders.Length; i++)
            {
                // Idle threads of the previous contender (ORT's intra-op pool, a team's workers) spin for a while after
                // a run; without a pause they would take the second core from the next contender (measured: the team's
                // 2-thread pass went from 1.58x to 1.0x the one-thread pass when it ran right after ORT's 2-thread run).
                Thread.Sleep(PauseMs);
                // One untimed run first: the timed one finds the contender's threads awake, as the second image of a
                // stream does (a team's blocked workers take a scheduler round trip to wake: measured, the pass right
                // after a 5 ms pause was only 1.10x faster on two threads than on one, against 1.58x back to back).
                contenders[i].Run();
                long t0 = Stopwatch.GetTimestamp();
                contenders[i].Run();
                times[i].Add((Stopwatch.GetTimestamp() - t0) * 1e3 / Stopwatch.Frequency / contenders[i].Images);
            }
        }
        double Median(IEnumerable<double> values) { var v = values.OrderBy(x => x).ToArray(); return v[v.Length / 2]; }
        double RatioMedian(int a, int b) => Median(times[a].Zip(times[b], (x, y) => x / y));

        Console.WriteLine();
        Console.WriteLine($"threads {name}: {times[0].Count} alternated rounds of {string.Join(", ", contenders.Select(c => c.Name))}; load average {LoadAverage()}");
        Console.WriteLine($"{"contender",-10} {"median_ms",10} {"p90_ms",8}   (batch rows: ms per image over {BatchImages} images)");
        for (int i = 0; i < contenders.Length; i++)
        {
            var sorted = times[i].OrderBy(x => x).ToArray();
            Console.WriteLine($"{contenders[i].Name,-10} {sorted[sorted.Length / 2],10:F3} {sorted[(int)(0.9 * sorted.Length)],8:F3}");
        }
        double speedup = RatioMedian(0, 1), batchScaling = RatioMedian(4, 5), ortSpeedup = RatioMedian(2, 3);
        Console.WriteLine($"team logits bit-identical to one thread: {(identical ? "yes" : "NO")}; ORT's own {threads}-thread speedup {ortSpeedup:F2}x; ShuffleNetBatch {threads}-worker scaling {batchScaling:F2}x");
        Console.WriteLine($"speedup_{threads}t_vs_1t {name} {speedup:F3}");
        Console.WriteLine($"thread_efficiency_{threads}t {name} {speedup / batchScaling:F3}");
        Console.WriteLine($"ratio_{threads}t_vs_onnxruntime_{threads}t {name} {RatioMedian(1, 3):F3}");
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    public delegate void RunOp<T>(T model, int index, ReadOnlySpan<float> input, Span<float> logits);

    /// <summary>
    /// Each op alone, at one thread and split on a team of <paramref name="threads"/>, alternated; the ten most expensive
    /// ops (at one thread) with their parallel efficiency, t1 / (N × tN), and the share of one thread's time in split ops.
    /// </summary>
    public static void Ops<T>(T model, int inputLength, int classes, string[] names, int threads, RunOp<T> runOp) where T : class, IShuffleNetModel, IShuffleNetTeamModel
    {
        var input = new float[inputLength];
        for (int i = 0; i < input.Length; i++) input[i] = MathF.Sin(i * 0.01f);
        var logits = new float[classes];
        using var team = new ShuffleNetTeam(threads);
        for (int i = 0; i < 200; i++) { model.Forward(input, logits); model.Forward(input, logits, team); }
        var one = new double[names.Length];
        var many = new double[names.Length];
        for (int op = 0; op < names.Length; op++)
        {
            var a = new List<double>();
            var b = new List<double>();
            for (int rep = 0; rep < 300; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runOp(model, op, input, logits);
                long t1 = Stopwatch.GetTimestamp();
                team.RunOpForBenchmark(model, op, input, logits);
                long t2 = Stopwatch.GetTimestamp();
                a.Add((t1 - t0) * 1e6 / Stopwatch.Frequency);
                b.Add((t2 - t1) * 1e6 / Stopwatch.Frequency);
            }
            a.Sort();
            b.Sort();
            one[op] = a[a.Count / 2];
            many[op] = b[b.Count / 2];
        }
        double total = one.Sum();
        double splitShare = Enumerable.Range(0, names.Length).Where(op => team.SplitsOp(model, op)).Sum(op => one[op]) / total;
        Console.WriteLine($"per-op, alone, median of 300 alternated runs; {threads} threads; load average {LoadAverage()}");
        Console.WriteLine($"op   1t_us   {threads}t_us  efficiency  split  share  name");
        foreach (int op in Enumerable.Range(0, names.Length).OrderByDescending(op => one[op]).Take(10))
            Console.WriteLine($"{op,3} {one[op],7:F1} {many[op],7:F1} {one[op] / (threads * many[op]),10:P0}  {(team.SplitsOp(model, op) ? "yes" : "no"),5} {one[op] / total,6:P1}  {names[op]}");
        Console.WriteLine($"sum of ops: {total:F1} us at 1 thread, {many.Sum():F1} us at {threads}; split ops hold {splitShare:P1} of the one-thread time");
    }

    /// <summary>
    /// Passes on a team with its trace on, alternated with untraced one-thread and team passes: per op, the median over
    /// passes of its span (first thread ready to last part done), each thread's time in its parts, the hand-over (the op
    /// before done to the first thread ready) and the tail (first thread done to last); per thread, its time in parts and
    /// waiting for ops to complete over the whole pass.
    /// </summary>
    public static void Trace<T>(T model, int inputLength, int classes, string[] names, int threads) where T : class, IShuffleNetModel, IShuffleNetTeamModel
    {
        var input = new float[inputLength];
        for (int i = 0; i < input.Length; i++) input[i] = MathF.Sin(i * 0.01f);
        var logits = new float[classes];
        int ops = names.Length;
        using var team = new ShuffleNetTeam(threads);
        var trace = new long[threads * ops * 4];
        const int Passes = 300;
        var span = new double[ops][];
        var work = new double[ops][];
        var handover = new double[ops][];
        var tail = new double[ops][];
        for (int op = 0; op < ops; op++) { span[op] = new double[Passes]; work[op] = new double[Passes * threads]; handover[op] = new double[Passes]; tail[op] = new double[Passes]; }
        var pass1 = new double[Passes];
        var pass2 = new double[Passes];
        int workerJoined = 0;
        var busy = new double[threads][];
        var waiting = new double[threads][];
        for (int t = 0; t < threads; t++) { busy[t] = new double[Passes]; waiting[t] = new double[Passes]; }
        for (int i = 0; i < 300; i++) { model.Forward(input, logits); model.Forward(input, logits, team); }
        double us = 1e6 / Stopwatch.Frequency;
        for (int p = 0; p < Passes; p++)
        {
            long a = Stopwatch.GetTimestamp();
            model.Forward(input, logits);
            long b = Stopwatch.GetTimestamp();
            model.Forward(input, logits, team);
            long c = Stopwatch.GetTimestamp();
            pass1[p] = (b - a) * us;
            pass2[p] = (c - b) * us;
            Array.Clear(trace);
            team.TraceForBenchmark = trace;
            model.Forward(input, logits, team);
            team.TraceForBenchmark = null;
            long previousEnd = 0;
            for (int t = 1; t < threads; t++)
                for (int op = 0; op < ops; op++)
                    if (trace[(t * ops + op) * 4 + 3] > 0) workerJoined++;
            for (int op = 0; op < ops; op++)
            {
                long firstReady = long.MaxValue, lastEnd = 0, firstEnd = long.MaxValue, lastReady = 0;
                for (int t = 0; t < threads; t++)
                {
                    int at = (t * ops + op) * 4;
                    if (trace[at + 3] == 0) { work[op][p * threads + t] = 0; continue; }
                    firstReady = Math.Min(firstReady, trace[at + 1]);
                    lastReady = Math.Max(lastReady, trace[at + 1]);
                    lastEnd = Math.Max(lastEnd, trace[at + 2]);
                    firstEnd = Math.Min(firstEnd, trace[at + 2]);
                    work[op][p * threads + t] = (trace[at + 2] - trace[at + 1]) * us;
                    busy[t][p] += (trace[at + 2] - trace[at + 1]) * us;
                    waiting[t][p] += (trace[at + 1] - trace[at]) * us;
                }
                span[op][p] = (lastEnd - firstReady) * us;
                handover[op][p] = previousEnd == 0 ? 0 : (firstReady - previousEnd) * us;
                tail[op][p] = (lastEnd - firstEnd) * us;
                previousEnd = lastEnd;
            }
        }
        static double Median(double[] v) { var s = (double[])v.Clone(); Array.Sort(s); return s[s.Length / 2]; }
        Console.WriteLine($"trace: {Passes} passes on {threads} threads, back to back with one-thread passes; load average {LoadAverage()}");
        Console.WriteLine($"pass median: 1 thread {Median(pass1):F1} us, {threads} threads {Median(pass2):F1} us, speedup {Median(pass1) / Median(pass2):F3}");
        double spans = 0, handovers = 0, tails = 0;
        Console.WriteLine($"ops (summed over passes) a worker ran parts of: {workerJoined} of {Passes * ops * (threads - 1)}");
        Console.WriteLine("op  span_us  handover_us  tail_us  work_us(per thread)  name");
        for (int op = 0; op < ops; op++)
        {
            double s = Median(span[op]), h = Median(handover[op]), tl = Median(tail[op]);
            spans += s; handovers += h; tails += tl;
            var perThread = Enumerable.Range(0, threads).Select(t => Median(Enumerable.Range(0, Passes).Select(p => work[op][p * threads + t]).ToArray()));
            Console.WriteLine($"{op,2} {s,8:F1} {h,12:F2} {tl,8:F1}  {string.Join(" ", perThread.Select(w => $"{w,6:F1}")),-20} {names[op]}");
        }
        for (int t = 0; t < threads; t++)
            Console.WriteLine($"thread {t}{(t == 0 ? " (caller)" : "")}: median per pass {Median(busy[t]):F1} us in parts, {Median(waiting[t]):F1} us waiting for the op before");
        Console.WriteLine($"sums of medians: span {spans:F1} us, hand-over {handovers:F1} us, tail (last thread done - first) {tails:F1} us");
    }
}
