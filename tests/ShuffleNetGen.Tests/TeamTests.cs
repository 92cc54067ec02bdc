using System.Diagnostics;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// <see cref="ShuffleNetTeam"/>: a team's pass gives the one-thread pass's logits bit for bit at 1 to 4 threads, over
/// the whole reference matrix (v1 and v2, float) and the compiled v2 and int8 models; it allocates nothing; an idle team
/// uses no CPU; misuse fails loudly.
/// </summary>
public class TeamTests
{
    private readonly ITestOutputHelper _output;

    public TeamTests(ITestOutputHelper output) => _output = output;

    private static readonly int[] s_threadCounts = { 1, 2, 3, 4 };

    /// <summary>Bit patterns, so a -0 against a +0 or two different NaNs count as a difference.</summary>
    private static int[] Bits(float[] logits) => logits.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>The one-thread logits, then each team size's, twice each (the second pass reuses the plan and the arena).</summary>
    private void AssertBitIdentical(string name, IShuffleNetModel model, float[] input, int classes)
    {
        var expected = new float[classes];
        model.Forward(input, expected);
        Assert.Contains(expected, v => v != 0f);
        int splitOps = 0;
        foreach (int threads in s_threadCounts)
        {
            using var team = new ShuffleNetTeam(threads);
            for (int pass = 0; pass < 2; pass++)
            {
                var logits = new float[classes];
                model.Forward(input, logits, team);
                if (!Bits(expected).SequenceEqual(Bits(logits)))
                    Assert.Fail($"{name}, {threads} threads, pass {pass}: first differing logit {Enumerable.Range(0, classes).First(i => Bits(expected)[i] != Bits(logits)[i])}");
            }
            if (threads == 2) splitOps = SplitOps((IShuffleNetTeamModel)model, threads);
        }
        _output.WriteLine($"{name}: bit-identical at 1-4 threads; {splitOps} ops split at 2 threads");
    }

    private static int SplitOps(IShuffleNetTeamModel model, int threads)
    {
        var plan = new TeamPlan(model.TeamWorkItems, model.TeamCosts, threads);
        return plan.Split.Count(s => s);
    }

    [Theory]
    [MemberData(nameof(ReferenceMatrixTests.Cases), MemberType = typeof(ReferenceMatrixTests))]
    public void ReferenceMatrixLogitsAreBitIdenticalAtEveryThreadCount(string name, string attribute, string arguments)
    {
        var compiled = ReferenceMatrixTests.Compiled(name, attribute, arguments);
        var d = compiled.Description;
        var model = compiled.FromTensors(RandomWeights.Create(compiled.WeightLayout, seed: ReferenceCases.WeightSeed(name)));
        AssertBitIdentical(name, model, ReferenceCases.Input(d.InputChannels * d.InputHeight * d.InputWidth), d.Classes);
    }

    public static TheoryData<string> CompiledCases => new()
    {
        nameof(Paper1xG3), nameof(V2X1_0_56x40), nameof(V2Custom57x41), nameof(V2OddHalves17x13), nameof(V2FourStages80x72), nameof(V2X0_5_64x64),
        nameof(G3Small64Int8), nameof(G2Odd33Int8), nameof(G8Gray48x40OfficialInt8), nameof(G2Tiny12x20Int8), nameof(V2Custom57x41Int8), nameof(V2OddHalves17x13Int8),
    };

    private static (IShuffleNetModel Model, int InputLength, int Classes) Create(string name) => name switch
    {
        nameof(Paper1xG3) => Of<Paper1xG3>(),
        nameof(V2X1_0_56x40) => Of<V2X1_0_56x40>(),
        nameof(V2Custom57x41) => Of<V2Custom57x41>(),
        nameof(V2OddHalves17x13) => Of<V2OddHalves17x13>(),
        nameof(V2FourStages80x72) => Of<V2FourStages80x72>(),
        nameof(V2X0_5_64x64) => Of<V2X0_5_64x64>(),
        nameof(G3Small64Int8) => Of<G3Small64Int8>(),
        nameof(G2Odd33Int8) => Of<G2Odd33Int8>(),
        nameof(G8Gray48x40OfficialInt8) => Of<G8Gray48x40OfficialInt8>(),
        nameof(G2Tiny12x20Int8) => Of<G2Tiny12x20Int8>(),
        nameof(V2Custom57x41Int8) => Of<V2Custom57x41Int8>(),
        nameof(V2OddHalves17x13Int8) => Of<V2OddHalves17x13Int8>(),
        _ => throw new ArgumentException(name),
    };

    private static (IShuffleNetModel, int, int) Of<T>() where T : class, IShuffleNetModel<T> => (T.CreateRandom(7), T.InputElementCount, T.ClassCount);

    /// <summary>The compiled v2 models (torchvision's widths among them) and every int8 model, v1 and v2.</summary>
    [Theory]
    [MemberData(nameof(CompiledCases))]
    public void CompiledV2AndInt8LogitsAreBitIdenticalAtEveryThreadCount(string name)
    {
        var (model, inputLength, classes) = Create(name);
        AssertBitIdentical(name, model, ReferenceCases.Input(inputLength), classes);
    }

    [Fact]
    public void ATeamRefusesASecondConcurrentPass()
    {
        using var team = new ShuffleNetTeam(2);
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var blocking = new GatedModel(entered, release);
        var first = Task.Run(() => team.RunForward(blocking, new float[1], new float[1]));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the first pass never started");
        var error = Assert.Throws<InvalidOperationException>(() => team.RunForward(new GatedModel(null, null), new float[1], new float[1]));
        Assert.Contains("already running", error.Message);
        release.Set();
        first.Wait(TimeSpan.FromSeconds(30));
        Assert.True(first.IsCompletedSuccessfully);
        // Free again once the pass returned.
        team.RunForward(new GatedModel(null, null), new float[1], new float[1]);
    }

    [Fact]
    public void AKernelFailureOnAnyThreadReachesTheCaller()
    {
        using var team = new ShuffleNetTeam(3);
        var error = Assert.Throws<InvalidOperationException>(() => team.RunForward(new ThrowingModel(rankToFail: 2), new float[1], new float[1]));
        Assert.Equal("part 2 failed", error.Message);
        // The team still works afterwards: the failed part was counted, so the pass completed.
        team.RunForward(new GatedModel(null, null), new float[1], new float[1]);
    }

    [Fact]
    public void ADisposedTeamRefusesPassesAndSizesAreChecked()
    {
        var model = V2OddHalves17x13.CreateRandom(1);
        var team = new ShuffleNetTeam(2);
        team.Dispose();
        team.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Forward(new float[V2OddHalves17x13.InputLength], new float[V2OddHalves17x13.Classes], team));
        Assert.Throws<ArgumentNullException>(() => model.Forward(new float[V2OddHalves17x13.InputLength], new float[V2OddHalves17x13.Classes], null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShuffleNetTeam(0));
        using var live = new ShuffleNetTeam(2);
        Assert.Throws<ArgumentException>(() => model.Forward(new float[V2OddHalves17x13.InputLength - 1], new float[V2OddHalves17x13.Classes], live));
        // The model's own guard still holds after a refused call.
        model.Forward(new float[V2OddHalves17x13.InputLength], new float[V2OddHalves17x13.Classes], live);
    }

    /// <summary>
    /// Each op's parts for N threads cover its items exactly once, in order; an op is split only where each thread gets at
    /// least the threshold's share. Parts shrink toward the point where the threads claiming from the front meet those
    /// claiming from the back, and the two parts there, the last ones claimed, are no larger than the smallest part
    /// worth a claim: that bounds how long the first thread done waits for the last one.
    /// </summary>
    [Fact]
    public void PlansCoverEveryItemOnceInOrderWithPartsShrinkingTowardWhereTheThreadsMeet()
    {
        var model = (IShuffleNetTeamModel)Paper1xG3.CreateRandom(1);
        foreach (int threads in new[] { 1, 2, 3, 4, 7 })
        {
            var plan = new TeamPlan(model.TeamWorkItems, model.TeamCosts, threads);
            for (int op = 0; op < plan.Ops; op++)
            {
                int items = model.TeamWorkItems[op];
                Assert.Equal(0, plan.Start(op, 0));
                Assert.Equal(items, plan.Start(op, plan.Parts[op]));
                for (int part = 0; part < plan.Parts[op]; part++) Assert.True(plan.Start(op, part) < plan.Start(op, part + 1), $"op {op}: empty part {part}");
                Assert.Equal(threads > 1 && items > 1 && model.TeamCosts[op] / Math.Min(threads, items) >= ShuffleNetTeam.MinCostPerThread, plan.Split[op]);
                if (!plan.Split[op])
                {
                    Assert.Equal(1, plan.Parts[op]);
                    continue;
                }
                int meet = (int)((long)items * ((threads + 1) / 2) / threads);
                int smallest = Math.Max(1, (int)((long)items * TeamPlan.SmallestPartCost / model.TeamCosts[op]));
                int[] sizes = Enumerable.Range(0, plan.Parts[op]).Select(part => plan.Start(op, part + 1) - plan.Start(op, part)).ToArray();
                int atMeet = Enumerable.Range(0, plan.Parts[op] + 1).Single(part => plan.Start(op, part) == meet || meet == 0 && part == 0);
                for (int part = 1; part < atMeet; part++) Assert.True(sizes[part] <= sizes[part - 1], $"{threads} threads, op {op}: front parts {string.Join(" ", sizes)} grow");
                for (int part = atMeet + 1; part < sizes.Length; part++) Assert.True(sizes[part] >= sizes[part - 1], $"{threads} threads, op {op}: back parts {string.Join(" ", sizes)} shrink outward");
                if (atMeet > 0) Assert.True(sizes[atMeet - 1] <= smallest, $"{threads} threads, op {op}: last front part of {string.Join(" ", sizes)} above {smallest}");
                if (atMeet < sizes.Length) Assert.True(sizes[atMeet] <= smallest, $"{threads} threads, op {op}: last back part of {string.Join(" ", sizes)} above {smallest}");
            }
            Assert.Equal(threads > 1, plan.Split.Any(s => s));
            _output.WriteLine($"{threads} threads: {plan.Split.Count(s => s)} of {plan.Ops} ops split, {Enumerable.Range(0, plan.Ops).Sum(op => plan.Parts[op])} parts");
        }
    }

    /// <summary>
    /// With two threads, the caller's parts of every op are a prefix of the op's parts and the worker's the rest: each
    /// thread keeps the same end of every op, pass after pass, whatever the timing (a late worker only leaves its end
    /// shorter), so the outputs it writes stay in its own cache. Parts spin long enough for the worker to take some.
    /// </summary>
    [Fact]
    public void EachOfTwoThreadsRunsOneContiguousEndOfEveryOp()
    {
        var model = new RecordingModel(ops: 12, items: 8);
        using var team = new ShuffleNetTeam(2);
        int callerThread = Environment.CurrentManagedThreadId;
        int workerOps = 0;
        for (int pass = 0; pass < 5; pass++)
        {
            model.Forward(team);
            for (int op = 0; op < model.Ops; op++)
            {
                var ranByCaller = Enumerable.Range(0, model.Items).Select(item => model.RanBy[op, item] == callerThread).ToArray();
                int prefix = ranByCaller.TakeWhile(c => c).Count();
                Assert.True(ranByCaller.Skip(prefix).All(c => !c), $"pass {pass}, op {op}: the caller ran items {string.Join(", ", Enumerable.Range(0, model.Items).Where(i => ranByCaller[i]))}, not a prefix");
                if (prefix < model.Items) workerOps++;
            }
        }
        _output.WriteLine($"the worker ran the back end of {workerOps} of {5 * model.Ops} ops");
    }

    /// <summary>A stand-in whose ops have one-item parts that spin for 50 µs and record which thread ran them.</summary>
    private sealed class RecordingModel : IShuffleNetTeamModel
    {
        private readonly int[] _items;
        private readonly int[] _costs;

        public RecordingModel(int ops, int items)
        {
            Ops = ops;
            Items = items;
            _items = Enumerable.Repeat(items, ops).ToArray();
            _costs = Enumerable.Repeat(1_000_000, ops).ToArray();
            RanBy = new int[ops, items];
        }

        public int Ops { get; }

        public int Items { get; }

        public int[,] RanBy { get; }

        public ReadOnlySpan<int> TeamWorkItems => _items;

        public ReadOnlySpan<int> TeamCosts => _costs;

        public void Forward(ShuffleNetTeam team) => team.RunForward(this, new float[1], new float[1]);

        public void RunTeamStep(int op, int start, int stop, ref float image, ref float logits)
        {
            long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20_000;
            while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(10);
            for (int item = start; item < stop; item++) RanBy[op, item] = Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>A stand-in with two items in one op, each thread's step blocking until released (or not, without gates).</summary>
    private sealed class GatedModel : IShuffleNetTeamModel
    {
        private readonly ManualResetEventSlim? _entered;
        private readonly ManualResetEventSlim? _release;

        public GatedModel(ManualResetEventSlim? entered, ManualResetEventSlim? release) => (_entered, _release) = (entered, release);

        public ReadOnlySpan<int> TeamWorkItems => new[] { 4 };

        public ReadOnlySpan<int> TeamCosts => new[] { 1_000_000 };

        public void RunTeamStep(int op, int start, int stop, ref float image, ref float logits)
        {
            _entered?.Set();
            _release?.Wait();
        }
    }

    /// <summary>Three split ops of three one-item parts; whichever thread runs item <c>rankToFail</c> of the second one throws.</summary>
    private sealed class ThrowingModel : IShuffleNetTeamModel
    {
        private readonly int _rankToFail;

        public ThrowingModel(int rankToFail) => _rankToFail = rankToFail;

        public ReadOnlySpan<int> TeamWorkItems => new[] { 3, 3, 3 };

        public ReadOnlySpan<int> TeamCosts => new[] { 1_000_000, 1_000_000, 1_000_000 };

        public void RunTeamStep(int op, int start, int stop, ref float image, ref float logits)
        {
            if (op == 1 && start == _rankToFail) throw new InvalidOperationException($"part {start} failed");
        }
    }
}

/// <summary>
/// The team's measurements of the whole process (allocated bytes, CPU time), in a collection that runs alone: other
/// test classes running in parallel would allocate and compute into the same counters.
/// </summary>
[Collection(nameof(TeamProcessMeasurements))]
public class TeamProcessMeasurements
{
    private readonly ITestOutputHelper _output;

    public TeamProcessMeasurements(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// Measured with the process-wide counter: the per-thread one would not see the workers allocate. It also sees the
    /// runtime's and the test runner's own threads (measured: 0 to 336 bytes per window around the one-thread
    /// <c>Forward</c> too), so the least of ten windows of 100 passes is compared with what one object per pass would
    /// take (100 × 24 bytes), next to the one-thread pass's least as a control.
    /// </summary>
    [Fact]
    public void ATeamPassAllocatesNothingOnAnyThread()
    {
        var model = V2X1_0_56x40.CreateRandom(3);
        var input = ReferenceCases.Input(V2X1_0_56x40.InputLength);
        var logits = new float[V2X1_0_56x40.Classes];
        using var team = new ShuffleNetTeam(2);
        long Least(Action pass)
        {
            // Past tiered compilation's rejits first: they allocate on the workers for the first few hundred passes.
            for (int i = 0; i < 1000; i++) pass();
            long least = long.MaxValue;
            for (int window = 0; window < 10; window++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < 100; i++) pass();
                least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
            }
            return least;
        }
        long control = Least(() => model.Forward(input, logits));
        long teamBytes = Least(() => model.Forward(input, logits, team));
        _output.WriteLine($"100 passes, least of 10 windows, whole process: {teamBytes} bytes with a 2-thread team, {control} bytes with the one-thread Forward");
        Assert.True(teamBytes < 100 * 24, $"{teamBytes} bytes in 100 team passes: something allocates per pass");
    }

    /// <summary>
    /// Workers spin briefly after a pass, then block: over a second of idleness the team's threads use next to no CPU.
    /// Their own CPU time is read, not the process's: background tiered compilation after the rest of the suite once
    /// charged 850 ms to an idle second of the whole process.
    /// </summary>
    [Fact]
    public void AnIdleTeamUsesNoCpu()
    {
        var model = V2X1_0_56x40.CreateRandom(3);
        var input = ReferenceCases.Input(V2X1_0_56x40.InputLength);
        var logits = new float[V2X1_0_56x40.Classes];
        using var team = new ShuffleNetTeam(4);
        for (int i = 0; i < 20; i++) model.Forward(input, logits, team);
        var (workers, ticksAfterPasses) = TeamWorkerTicks();
        Assert.True(workers >= 3, $"found {workers} team worker threads in /proc/self/task, expected the 3 of a 4-thread team");
        Thread.Sleep(ShuffleNetTeam.SpinBeforeBlocking * 20);
        var (_, ticksBefore) = TeamWorkerTicks();
        var wall = Stopwatch.StartNew();
        Thread.Sleep(1000);
        var (_, ticksAfter) = TeamWorkerTicks();
        double cpuMs = (ticksAfter - ticksBefore) * 10.0;   // USER_HZ: 100 ticks a second on Linux
        _output.WriteLine($"idle 4-thread team: its {workers} worker threads used {cpuMs:F0} ms of CPU over {wall.ElapsedMilliseconds} ms (resolution 10 ms); {(ticksAfterPasses) * 10} ms in all before, through 20 passes");
        // A worker that kept spinning would use up to 1000 ms; two ticks allow for a wake-up on the tick boundary.
        Assert.True(cpuMs <= 20, $"the team's idle workers used {cpuMs:F0} ms of CPU in one idle second");
    }

    /// <summary>The team worker threads of this process (named "ShuffleNetTeam worker N", which Linux truncates to 15 characters) and their user + system CPU ticks.</summary>
    private static (int Threads, long Ticks) TeamWorkerTicks()
    {
        int threads = 0;
        long ticks = 0;
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            string comm;
            string stat;
            try
            {
                comm = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue;   // the thread ended between the listing and the read
            }
            if (!comm.StartsWith("ShuffleNetTeam", StringComparison.Ordinal)) continue;
            // Fields after the parenthesized name: state is field 3, utime 14, stime 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            threads++;
        }
        return (threads, ticks);
    }
}

[CollectionDefinition(nameof(TeamProcessMeasurements), DisableParallelization = true)]
public class TeamProcessMeasurementsCollection
{
}
