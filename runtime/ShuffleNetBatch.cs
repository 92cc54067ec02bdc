using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace ShuffleNetGen;

/// <summary>
/// Runs many images through a generated model on several cores. A model instance owns its activation arena, so each
/// worker is its own instance (create them from the same weights); images are handed out one at a time from a shared
/// counter, so a slow core never holds up the others.
/// </summary>
public static class ShuffleNetBatch
{
    /// <summary>
    /// Runs every image of <paramref name="images"/> (back to back, <c>InputElementCount</c> floats each) and writes
    /// <c>ClassCount</c> logits per image into <paramref name="logits"/>, using one thread per worker (the calling thread
    /// is one of them). Each image's logits are exactly what <see cref="IShuffleNetModel.Forward(ReadOnlySpan{float}, Span{float})"/> writes for it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// No workers, a worker listed twice, <paramref name="images"/> not a whole number of images,
    /// <paramref name="logits"/> not exactly <c>ClassCount</c> floats per image, or <paramref name="logits"/> overlapping
    /// <paramref name="images"/> (the first images' logits would overwrite images not yet read).
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// A worker is in use by another <see cref="Run{T}"/> still running, or is running <see cref="IShuffleNetModel.Forward(ReadOnlySpan{float}, Span{float})"/>
    /// on another thread (the first such failure, whether one worker or several).
    /// </exception>
    public static void Run<T>(IReadOnlyList<T> workers, ReadOnlyMemory<float> images, Memory<float> logits)
        where T : class, IShuffleNetModel<T>
    {
        if (workers is null) throw new ArgumentNullException(nameof(workers));
        if (workers.Count == 0) throw new ArgumentException("At least one worker (model instance) is needed.", nameof(workers));
        var distinct = new HashSet<T>(ReferenceEqualityComparer.Instance);
        foreach (var worker in workers)
        {
            if (worker is null || !distinct.Add(worker))
                throw new ArgumentException("Each worker must be its own, non-null model instance: an instance's arena cannot be shared.", nameof(workers));
        }
        int inputLength = T.InputElementCount;
        int classes = T.ClassCount;
        if (images.Length % inputLength != 0)
            throw new ArgumentException($"Expected a whole number of images of {inputLength} floats, got {images.Length} floats.", nameof(images));
        int count = images.Length / inputLength;
        if (logits.Length != (long)count * classes)
            throw new ArgumentException($"Expected exactly {count} x {classes} = {(long)count * classes} logits for {count} images, got {logits.Length}.", nameof(logits));
        if (images.Span.Overlaps(logits.Span))
            throw new ArgumentException("The logits buffer overlaps the images: logits written for the first images would overwrite images not yet read. Use separate buffers.", nameof(logits));

        // Checked here and not only by Forward's own guard: two runs sharing a worker overlap on that worker only by
        // chance of timing, and a misuse that fails only sometimes is found late.
        Claim(workers);
        try
        {
            RunClaimed(workers, images, logits, count, inputLength, classes);
        }
        finally
        {
            Release(workers);
        }
    }

    /// <summary>Workers of the runs now in progress, compared by reference.</summary>
    private static readonly HashSet<object> s_busy = new(ReferenceEqualityComparer.Instance);

    private static void Claim<T>(IReadOnlyList<T> workers) where T : class
    {
        lock (s_busy)
        {
            foreach (var worker in workers)
            {
                if (s_busy.Contains(worker))
                    throw new InvalidOperationException("A worker is already in use by another ShuffleNetBatch.Run still running; an instance's arena holds one pass at a time. Give each concurrent run its own instances.");
            }
            foreach (var worker in workers) s_busy.Add(worker);
        }
    }

    private static void Release<T>(IReadOnlyList<T> workers) where T : class
    {
        lock (s_busy)
        {
            foreach (var worker in workers) s_busy.Remove(worker);
        }
    }

    private static void RunClaimed<T>(IReadOnlyList<T> workers, ReadOnlyMemory<float> images, Memory<float> logits, int count, int inputLength, int classes)
        where T : class, IShuffleNetModel<T>
    {
        int threads = Math.Min(workers.Count, count);
        if (threads <= 1)
        {
            var model = workers[0];
            for (int i = 0; i < count; i++)
                model.Forward(images.Span.Slice(i * inputLength, inputLength), logits.Span.Slice(i * classes, classes));
            return;
        }

        var next = new StrongBox(-1);
        try
        {
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
            {
                var model = workers[w];
                int i;
                while ((i = Interlocked.Increment(ref next.Value)) < count)
                    model.Forward(images.Span.Slice(i * inputLength, inputLength), logits.Span.Slice(i * classes, classes));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // Parallel.For wraps what Forward throws (a worker busy in another thread's Forward); one worker runs on
            // this thread and throws it bare. The same misuse must give the same, documented type either way, so the
            // first failure is rethrown with its own stack (the others are the same misuse on other workers).
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    private sealed class StrongBox
    {
        public int Value;

        public StrongBox(int value) => Value = value;
    }
}
