using System;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace ShuffleNetGen;

/// <summary>
/// Threads that run one image's forward pass together: create it once for N threads and pass it to
/// <c>Forward(input, logits, team)</c> of any generated model, float or int8, v1 or v2. Each op's independent outputs
/// (output-channel blocks of a 1x1 convolution, channels of a depthwise convolution or a pool) are split into
/// contiguous parts, shrinking toward where the threads meet; no sum is ever split, so the logits are
/// bit-identical to the one-thread <c>Forward</c> for every thread count.
/// </summary>
/// <remarks>
/// <para>
/// The team owns <c>N − 1</c> dedicated worker threads; the thread calling <c>Forward</c> is the N-th. An op starts once
/// the op before it has completed; its parts go to whichever thread claims them first (even ranks from the front, odd ones
/// from the back, so each thread of two keeps the same end of every op), so a thread the system has not scheduled yet
/// does not hold the others up (ops too small to pay for a split run on the calling thread alone). Between passes the
/// workers spin for <see cref="SpinBeforeBlocking"/>, then block: an idle team uses no CPU. Nothing is allocated per
/// pass on any thread; the split of a model's ops for N threads is computed once per model type and N.
/// </para>
/// <para>
/// One pass at a time: a second <c>Forward</c> on the same team while one runs throws
/// <see cref="InvalidOperationException"/>. For many images at once, <see cref="ShuffleNetBatch"/> (one image per
/// thread) gives more throughput; a team gives one image a lower latency.
/// </para>
/// <para>
/// Where the platform has no threads (browser-wasm, WASI), a team of any size runs every pass on the calling thread and
/// reports a <see cref="ThreadCount"/> of 1.
/// </para>
/// </remarks>
public sealed class ShuffleNetTeam : IDisposable
{
    /// <summary>How long an idle worker spins for the next pass before it blocks.</summary>
    public static readonly TimeSpan SpinBeforeBlocking = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// Ops with fewer thousands of multiply-adds (or, for pools, window reads) than this per thread run on the calling
    /// thread alone: handing an op to the others costs about a microsecond, which their share of the work would not repay.
    /// </summary>
    internal const int MinCostPerThread = 16;

    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private readonly long _spinTicks = (long)(SpinBeforeBlocking.TotalSeconds * Stopwatch.Frequency);

    // The pass the workers run: set by the caller before it publishes a new _job, read by each worker into locals.
    private IShuffleNetTeamModel? _model;
    private TeamPlan? _plan;
    private nint _image;
    private nint _logits;
    private int _firstOp;
    private int _endOp;
    private ExceptionDispatchInfo? _failure;

    private PaddedCounter _job;
    private PaddedLong _completed;
    private long[] _claimed = Array.Empty<long>();
    private long[] _finished = Array.Empty<long>();
    private int _sleepers;
    private int _busy;
    private volatile bool _disposed;

    /// <summary>Starts <paramref name="threadCount"/> − 1 worker threads; the thread calling <c>Forward</c> is the last.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threadCount"/> is below 1 or above 256.</exception>
    public ShuffleNetTeam(int threadCount)
    {
        if (threadCount < 1 || threadCount > 256)
            throw new ArgumentOutOfRangeException(nameof(threadCount), threadCount, "A team has 1 to 256 threads (the caller included).");
        ThreadCount = ThreadsAvailable ? threadCount : 1;
        _workers = new Thread[ThreadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int rank = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(rank)) { IsBackground = true, Name = $"ShuffleNetTeam worker {rank}" };
            _workers[i].Start();
        }
    }

    /// <summary>Threads that run a pass, the caller's included (1 where the platform has no threads).</summary>
    public int ThreadCount { get; }

    private static bool ThreadsAvailable => !OperatingSystem.IsBrowser() && !OperatingSystem.IsWasi();

    /// <summary>Called by a generated model's <c>Forward(input, logits, team)</c> after it checked its arguments; not for direct use.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void RunForward<TModel>(TModel model, ReadOnlySpan<float> input, Span<float> logits) where TModel : class, IShuffleNetTeamModel =>
        Run(model, TeamPlans<TModel>.For(model, ThreadCount), input, logits, 0, -1);

    /// <summary>Benchmark hook, not for inference: runs op <paramref name="op"/> alone, split as a pass splits it, on the arena as the last pass left it.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void RunOpForBenchmark<TModel>(TModel model, int op, ReadOnlySpan<float> input, Span<float> logits) where TModel : class, IShuffleNetTeamModel
    {
        var plan = TeamPlans<TModel>.For(model, ThreadCount);
        if ((uint)op >= (uint)plan.Ops) throw new ArgumentOutOfRangeException(nameof(op));
        Run(model, plan, input, logits, op, op + 1);
    }

    /// <summary>Benchmark hook: whether this team splits op <paramref name="op"/> of <paramref name="model"/> (false: the caller runs it alone). Computes a plan: not for a hot path.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public bool SplitsOp(IShuffleNetTeamModel model, int op) => new TeamPlan(model.TeamWorkItems, model.TeamCosts, ThreadCount).Split[op];

    /// <summary>
    /// Benchmark hook, not for inference: while set, each thread of a pass records, per op it takes part in, four longs at
    /// <c>(rank × ops + op) × 4</c> (the caller is rank 0): the <see cref="Stopwatch"/> timestamps at which it began to
    /// wait for the op before, found it completed, and finished its last part of the op, then the number of parts it ran.
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public long[]? TraceForBenchmark { get; set; }

    private unsafe void Run(IShuffleNetTeamModel model, TeamPlan plan, ReadOnlySpan<float> input, Span<float> logits, int firstOp, int endOp)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException("This ShuffleNetTeam is already running a Forward pass; a team runs one pass at a time. Give each concurrent caller its own team.");
        try
        {
            // Pinned for the whole pass: the workers address the caller's spans through these pointers, and every part
            // of the pass has finished before the fixed scope ends.
            fixed (float* image = input)
            fixed (float* output = logits)
            {
                if (endOp < 0) endOp = plan.Ops;
                if (_workers.Length == 0)
                {
                    for (int op = firstOp; op < endOp; op++)
                        for (int part = 0; part < plan.Parts[op]; part++)
                            model.RunTeamStep(op, plan.Start(op, part), plan.Start(op, part + 1), ref *image, ref *output);
                    return;
                }
                // A new pass: its number tags every counter, so a worker still finishing the last pass's loop can
                // claim nothing of this one.
                int pass = _job.Value + 1;
                long tag = (long)pass << 32;
                if (_claimed.Length < plan.Ops)
                {
                    // Once per larger model: the counters live as long as the team.
                    _claimed = new long[plan.Ops];
                    _finished = new long[plan.Ops];
                }
                for (int op = firstOp; op < endOp; op++)
                {
                    _claimed[op] = tag | ((long)plan.Parts[op] << 16);
                    _finished[op] = tag;
                }
                _completed.Value = tag | (uint)firstOp;
                _model = model;
                _plan = plan;
                _image = (nint)image;
                _logits = (nint)output;
                _firstOp = firstOp;
                _endOp = endOp;
                _failure = null;
                Interlocked.Exchange(ref _job.Value, pass);
                if (Volatile.Read(ref _sleepers) > 0)
                {
                    lock (_gate) Monitor.PulseAll(_gate);
                }
                RunParts(model, plan, pass, 0, firstOp, endOp, ref *image, ref *output);
                // Every part has finished (the last op's completion says so): no worker touches the spans after this.
                _model = null;
                _failure?.Throw();
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// One thread's work in pass <paramref name="pass"/>: for each op in order, once every op before it has completed,
    /// it claims parts of the op until none is left, runs them, and counts them finished; whoever finishes an op's last
    /// part marks the op completed. The caller also runs the ops that are not split, and returns only once the last op
    /// has completed. No thread waits for another to arrive anywhere: a worker the system has not scheduled yet leaves
    /// its parts to the others, so a pass only waits for parts that are running. A part that throws is recorded and
    /// still counted, so the pass ends and the caller rethrows.
    /// </summary>
    private void RunParts(IShuffleNetTeamModel model, TeamPlan plan, int pass, int rank, int firstOp, int endOp, ref float image, ref float logits)
    {
        bool caller = rank == 0;
        long tag = (long)pass << 32;
        var trace = TraceForBenchmark;
        for (int op = firstOp; op < endOp; op++)
        {
            if (!plan.Split[op] && !caller) continue;
            long waitStart = trace is null ? 0 : Stopwatch.GetTimestamp();
            if (!WaitForCompleted(tag, op)) return;
            long ready = trace is null ? 0 : Stopwatch.GetTimestamp();
            if (!plan.Split[op])
            {
                Execute(model, op, 0, plan.Start(op, 1), ref image, ref logits);
                if (trace is not null) Record(trace, plan.Ops, rank, op, waitStart, ready, 1);
                Volatile.Write(ref _completed.Value, tag | (uint)(op + 1));
                continue;
            }
            // Even ranks claim the op's parts from the front, odd ones from the back: with two threads each runs the
            // same contiguous end of every op, pass after pass, so the outputs it writes stay in its own cache for the
            // next pass, and it reads more of its own outputs in the next op; a late thread still leaves its end to the
            // other. Each thread counts its parts finished once, not once per part, on the line both share.
            bool fromBack = (rank & 1) != 0;
            int ran = 0;
            while (true)
            {
                int part = Claim(ref _claimed[op], tag, fromBack);
                if (part < 0) break;
                Execute(model, op, plan.Start(op, part), plan.Start(op, part + 1), ref image, ref logits);
                ran++;
            }
            if (trace is not null) Record(trace, plan.Ops, rank, op, waitStart, ready, ran);
            if (ran > 0 && (int)Interlocked.Add(ref _finished[op], ran) == plan.Parts[op]) Volatile.Write(ref _completed.Value, tag | (uint)(op + 1));
        }
        if (caller) WaitForCompleted(tag, endOp);
    }

    private static void Record(long[] trace, int ops, int rank, int op, long waitStart, long ready, int parts)
    {
        int at = (rank * ops + op) * 4;
        if ((uint)(at + 3) >= (uint)trace.Length) return;
        trace[at] = waitStart;
        trace[at + 1] = ready;
        trace[at + 2] = Stopwatch.GetTimestamp();
        trace[at + 3] = parts;
    }

    private void Execute(IShuffleNetTeamModel model, int op, int start, int stop, ref float image, ref float logits)
    {
        try
        {
            model.RunTeamStep(op, start, stop, ref image, ref logits);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
        }
    }

    /// <summary>
    /// The unclaimed part at the front (or back) of an op in this pass, or −1 when all are claimed or the pass is over.
    /// The counter holds the pass's tag (high half), the end of the unclaimed parts (bits 16–31) and their front (bits 0–15).
    /// </summary>
    private static int Claim(ref long claimed, long tag, bool fromBack)
    {
        while (true)
        {
            long seen = Volatile.Read(ref claimed);
            if ((seen & ~0xFFFF_FFFFL) != tag) return -1;
            int front = (int)(seen & 0xFFFF), end = (int)((seen >> 16) & 0xFFFF);
            if (front >= end) return -1;
            if (Interlocked.CompareExchange(ref claimed, fromBack ? seen - (1L << 16) : seen + 1, seen) == seen) return fromBack ? end - 1 : front;
        }
    }

    /// <summary>Waits until ops before <paramref name="op"/> have completed in this pass; false if the pass is over.</summary>
    private bool WaitForCompleted(long tag, int op)
    {
        int spins = 0;
        while (true)
        {
            long completed = Volatile.Read(ref _completed.Value);
            if ((completed & ~0xFFFF_FFFFL) != tag) return false;
            if ((int)completed >= op) return true;
            // Spin while the part being waited for is likely running; yield once it is long, so an oversubscribed
            // machine can run whoever holds it.
            if (++spins < 2048) Thread.SpinWait(4);
            else Thread.Yield();
        }
    }

    private void WorkerLoop(int rank)
    {
        int seen = 0;
        while (true)
        {
            if (!WaitForJob(ref seen)) return;
            var model = _model;
            var plan = _plan;
            int firstOp = _firstOp, endOp = _endOp;
            nint image = _image, logits = _logits;
            // The pass may already be over (the caller ran every part): its tag then no longer matches anything.
            if (model is null || plan is null) continue;
            unsafe
            {
                RunParts(model, plan, seen, rank, firstOp, endOp, ref *(float*)image, ref *(float*)logits);
            }
        }
    }

    /// <summary>Spins for the next pass, then blocks; false when the team is disposed.</summary>
    private bool WaitForJob(ref int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + _spinTicks;
        while (Volatile.Read(ref _job.Value) == seen)
        {
            if (_disposed) return false;
            if (Stopwatch.GetTimestamp() > deadline)
            {
                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers);
                    // Re-checked after announcing the sleeper (a full fence): a caller that published the job before it
                    // saw the sleeper is seen here; one that publishes after sees the sleeper and pulses under the lock.
                    while (Volatile.Read(ref _job.Value) == seen && !_disposed) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sleepers);
                }
                break;
            }
            Thread.SpinWait(16);
        }
        if (_disposed) return false;
        seen = Volatile.Read(ref _job.Value);
        return true;
    }

    /// <summary>Stops and joins the workers. A team in a pass cannot be disposed.</summary>
    /// <exception cref="InvalidOperationException">A <c>Forward</c> pass is running on this team.</exception>
    public void Dispose()
    {
        if (_disposed) return;
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException("This ShuffleNetTeam is running a Forward pass; dispose it after the pass returns.");
        _disposed = true;
        lock (_gate) Monitor.PulseAll(_gate);
        foreach (var worker in _workers) worker.Join();
    }

    /// <summary>A counter on a cache line of its own: the threads spin on these, and false sharing would slow every op.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCounter
    {
        [FieldOffset(64)] public int Value;
    }

    /// <summary>The pass's tag (high half) and the ops completed in it (low half), on a cache line of its own.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedLong
    {
        [FieldOffset(64)] public long Value;
    }
}

/// <summary>
/// How a pass splits a model's ops for a team of N threads: whether each op is split, into how many parts, and the
/// bounds of each part's contiguous range of work items. The threads claiming from the front and those claiming from the
/// back meet near the op's share-weighted middle, and parts shrink toward that point: each thread starts with half of its
/// share, so a thread that starts late, or a core that is busy with something else, leaves parts to the others, while
/// the last parts claimed, which decide how long the first thread done waits for the last one, are the smallest.
/// </summary>
internal sealed class TeamPlan
{
    /// <summary>
    /// A part holds at least this many thousands of multiply-adds (or window reads), unless one item is more: claiming
    /// one moves a cache line between cores (a fraction of a microsecond), which a smaller part would not repay.
    /// </summary>
    public const int SmallestPartCost = 8;

    public TeamPlan(ReadOnlySpan<int> workItems, ReadOnlySpan<int> costs, int threads)
    {
        if (workItems.Length != costs.Length) throw new ArgumentException("One cost per op is needed.", nameof(costs));
        Threads = threads;
        Ops = workItems.Length;
        Split = new bool[Ops];
        Parts = new int[Ops];
        _offsets = new int[Ops];
        var bounds = new System.Collections.Generic.List<int>();
        for (int op = 0; op < Ops; op++)
        {
            int items = workItems[op];
            Split[op] = threads > 1 && items > 1 && costs[op] / Math.Min(threads, items) >= ShuffleNetTeam.MinCostPerThread;
            _offsets[op] = bounds.Count;
            bounds.Add(0);
            if (Split[op]) AddShrinkingParts(bounds, items, costs[op], threads);
            else bounds.Add(items);
            Parts[op] = bounds.Count - _offsets[op] - 1;
        }
        _bounds = bounds.ToArray();
    }

    /// <summary>
    /// The ends of an op's parts after its first bound: from the front up to where the front threads (even ranks) should
    /// meet the back ones (odd ranks), each part half of what is left per front thread, then mirrored from the back.
    /// </summary>
    private static void AddShrinkingParts(System.Collections.Generic.List<int> bounds, int items, int cost, int threads)
    {
        int frontThreads = (threads + 1) / 2, backThreads = threads / 2;
        int meet = (int)((long)items * frontThreads / threads);
        int smallest = Math.Max(1, (int)((long)items * SmallestPartCost / Math.Max(1, cost)));
        for (int at = 0; at < meet;)
        {
            at = Math.Min(meet, at + Math.Max(smallest, CeilingDivide(meet - at, 2 * frontThreads)));
            bounds.Add(at);
        }
        int firstBack = bounds.Count;
        for (int at = items; at > meet;)
        {
            bounds.Add(at);
            at = Math.Max(meet, at - Math.Max(smallest, CeilingDivide(at - meet, 2 * backThreads)));
        }
        bounds.Reverse(firstBack, bounds.Count - firstBack);
    }

    private static int CeilingDivide(int a, int b) => (a + b - 1) / b;

    private readonly int[] _offsets;
    private readonly int[] _bounds;

    public int Threads { get; }

    public int Ops { get; }

    /// <summary>Whether the op is split (false: the calling thread runs it whole, as one part).</summary>
    public bool[] Split { get; }

    public int[] Parts { get; }

    /// <summary>The first item of part <paramref name="part"/> of <paramref name="op"/>; part <c>Parts[op]</c> gives the end.</summary>
    public int Start(int op, int part) => _bounds[_offsets[op] + part];
}

/// <summary>The plans of one model type, one per thread count, each computed once.</summary>
internal static class TeamPlans<TModel> where TModel : class, IShuffleNetTeamModel
{
    private static readonly object s_lock = new();
    private static TeamPlan?[] s_byThreads = new TeamPlan?[8];

    public static TeamPlan For(TModel model, int threads)
    {
        var plans = Volatile.Read(ref s_byThreads);
        if (threads < plans.Length && plans[threads] is { } plan) return plan;
        lock (s_lock)
        {
            plans = s_byThreads;
            if (threads >= plans.Length) Array.Resize(ref plans, Math.Max(threads + 1, plans.Length * 2));
            plan = plans[threads] ??= new TeamPlan(model.TeamWorkItems, model.TeamCosts, threads);
            Volatile.Write(ref s_byThreads, plans);
            return plan;
        }
    }
}

/// <summary>What a generated model offers a <see cref="ShuffleNetTeam"/>: its ops' work items and costs, and a step that runs a range of one op's items. Not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IShuffleNetTeamModel
{
    /// <summary>Independent work items of each op, in forward order (1: the op is not split).</summary>
    ReadOnlySpan<int> TeamWorkItems { get; }

    /// <summary>Each op's thousands of multiply-adds (pools: window reads), what the split threshold compares.</summary>
    ReadOnlySpan<int> TeamCosts { get; }

    /// <summary>Runs items [<paramref name="start"/>, <paramref name="stop"/>) of op <paramref name="op"/> on this instance's arena.</summary>
    void RunTeamStep(int op, int start, int stop, ref float image, ref float logits);
}
