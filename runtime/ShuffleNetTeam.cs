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
/// contiguous parts, one per thread; no sum is ever split, so the logits are bit-identical to the one-thread
/// <c>Forward</c> for every thread count.
/// </summary>
/// <remarks>
/// <para>
/// The team owns <c>N − 1</c> dedicated worker threads; the thread calling <c>Forward</c> is the N-th. Between ops the
/// threads meet at one barrier (ops too small to pay for one run on the calling thread alone). Between passes the
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
    /// thread alone: a barrier costs about a microsecond, which their share of the work would not repay.
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
    private PaddedCounter _arrived;
    private PaddedCounter _phase;
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

    /// <summary>Whether op <paramref name="op"/> of <typeparamref name="TModel"/> is split across this team's threads (false: the caller runs it alone).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public bool Splits<TModel>(TModel model, int op) where TModel : class, IShuffleNetTeamModel => TeamPlans<TModel>.For(model, ThreadCount).Split[op];

    private unsafe void Run(IShuffleNetTeamModel model, TeamPlan plan, ReadOnlySpan<float> input, Span<float> logits, int firstOp, int endOp)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException("This ShuffleNetTeam is already running a Forward pass; a team runs one pass at a time. Give each concurrent caller its own team.");
        try
        {
            // Pinned for the whole pass: the workers address the caller's spans through these pointers, and the pass
            // (its last barrier included) ends before the fixed scope does.
            fixed (float* image = input)
            fixed (float* output = logits)
            {
                if (endOp < 0) endOp = plan.Ops;
                if (_workers.Length == 0)
                {
                    RunPart(model, plan, 0, firstOp, endOp, ref *image, ref *output);
                    return;
                }
                _model = model;
                _plan = plan;
                _image = (nint)image;
                _logits = (nint)output;
                _firstOp = firstOp;
                _endOp = endOp;
                _failure = null;
                Interlocked.Increment(ref _job.Value);
                if (Volatile.Read(ref _sleepers) > 0)
                {
                    lock (_gate) Monitor.PulseAll(_gate);
                }
                RunPart(model, plan, 0, firstOp, endOp, ref *image, ref *output);
                // The join: no worker touches the spans after this.
                Arrive();
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
    /// One thread's share of ops [firstOp, endOp): its part of each op, a barrier wherever the plan puts one. A part that
    /// throws is recorded and the thread runs no further part, but it keeps meeting the others at the barriers, so the
    /// pass ends and the caller rethrows instead of every thread waiting forever.
    /// </summary>
    private void RunPart(IShuffleNetTeamModel model, TeamPlan plan, int rank, int firstOp, int endOp, ref float image, ref float logits)
    {
        int stride = plan.Threads + 1;
        bool failed = false;
        for (int op = firstOp; op < endOp; op++)
        {
            if (op > firstOp && plan.BarrierBefore[op]) Arrive();
            int start = plan.Bounds[op * stride + rank], stop = plan.Bounds[op * stride + rank + 1];
            if (start >= stop || failed) continue;
            try
            {
                model.RunTeamStep(op, start, stop, ref image, ref logits);
            }
            catch (Exception e)
            {
                failed = true;
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }
        }
    }

    private void WorkerLoop(int rank)
    {
        int seen = 0;
        while (true)
        {
            if (!WaitForJob(ref seen)) return;
            var model = _model!;
            var plan = _plan!;
            int firstOp = _firstOp, endOp = _endOp;
            unsafe
            {
                RunPart(model, plan, rank, firstOp, endOp, ref *(float*)_image, ref *(float*)_logits);
            }
            Arrive();
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

    /// <summary>A sense-reversing barrier of all <see cref="ThreadCount"/> threads: the last to arrive opens the next phase.</summary>
    private void Arrive()
    {
        int phase = Volatile.Read(ref _phase.Value);
        if (Interlocked.Increment(ref _arrived.Value) == ThreadCount)
        {
            _arrived.Value = 0;
            Volatile.Write(ref _phase.Value, phase + 1);
            return;
        }
        int spins = 0;
        while (Volatile.Read(ref _phase.Value) == phase)
        {
            // Spin while the others are likely running; yield once it is long, so an oversubscribed machine can run them.
            if (++spins < 4096) Thread.SpinWait(4);
            else Thread.Yield();
        }
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

    /// <summary>A counter on a cache line of its own: the threads spin on these, and false sharing would slow every barrier.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCounter
    {
        [FieldOffset(64)] public int Value;
    }
}

/// <summary>
/// How a pass splits a model's ops over N threads: for each op, the bounds of each thread's contiguous range of work
/// items, whether it is split, and whether a barrier precedes it.
/// </summary>
internal sealed class TeamPlan
{
    public TeamPlan(ReadOnlySpan<int> workItems, ReadOnlySpan<int> costs, int threads)
    {
        if (workItems.Length != costs.Length) throw new ArgumentException("One cost per op is needed.", nameof(costs));
        Threads = threads;
        Ops = workItems.Length;
        Bounds = new int[Ops * (threads + 1)];
        Split = new bool[Ops];
        BarrierBefore = new bool[Ops];
        for (int op = 0; op < Ops; op++)
        {
            int items = workItems[op];
            int parts = Math.Min(threads, items);
            Split[op] = parts > 1 && costs[op] / parts >= ShuffleNetTeam.MinCostPerThread;
            int row = op * (threads + 1);
            for (int r = 0; r <= threads; r++)
                Bounds[row + r] = Split[op] ? (r >= parts ? items : (int)((long)items * r / parts)) : (r == 0 ? 0 : items);
            // Split ops read what every thread wrote before them, and whoever runs the next op reads what they wrote; a
            // run of ops on the calling thread alone needs no barrier inside it.
            BarrierBefore[op] = op > 0 && (Split[op] || Split[op - 1]);
        }
    }

    public int Threads { get; }

    public int Ops { get; }

    /// <summary>Per op, <see cref="Threads"/> + 1 bounds: thread r runs items [Bounds[r], Bounds[r + 1]).</summary>
    public int[] Bounds { get; }

    public bool[] Split { get; }

    public bool[] BarrierBefore { get; }
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
