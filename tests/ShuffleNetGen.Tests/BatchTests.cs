using ShuffleNetGen.Tests.Models;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>ShuffleNetBatch over several workers gives, image by image, what Forward gives.</summary>
public class BatchTests
{
    [Fact]
    public void BatchOnTwoWorkersEqualsForwardPerImage() => BatchEqualsForwardPerImage<G3Small64>(workers: 2, count: 13);

    /// <summary>
    /// A ShuffleNet v2 keeps more of its unit in the arena between steps (the split's halves, the plane tables of the
    /// shuffle), so a worker that carried anything from one image to the next would show here; three workers over
    /// seven images give each worker a different run of images than one instance sees.
    /// </summary>
    [Fact]
    public void BatchOfAShuffleNetV2OnThreeWorkersEqualsForwardPerImage() => BatchEqualsForwardPerImage<V2Custom57x41>(workers: 3, count: 7);

    /// <summary>The int8 v2 model adds its quantized slots to the arena (each 1x1 input, the classifier's features).</summary>
    [Fact]
    public void BatchOfAnInt8ShuffleNetV2EqualsForwardPerImage() => BatchEqualsForwardPerImage<V2Custom57x41Int8>(workers: 2, count: 5);

    private static void BatchEqualsForwardPerImage<T>(int workers, int count) where T : class, IShuffleNetModel<T>
    {
        int length = T.InputElementCount, classes = T.ClassCount;
        var random = new Random(5);
        var images = new float[count * length];
        for (int i = 0; i < images.Length; i++) images[i] = (float)(random.NextDouble() * 2 - 1);

        var expected = new float[count * classes];
        var single = T.CreateRandom(11);
        for (int i = 0; i < count; i++)
            single.Forward(images.AsSpan(i * length, length), expected.AsSpan(i * classes, classes));
        Assert.All(expected, v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(expected.AsSpan(0, classes).ToArray(), expected.AsSpan(classes, classes).ToArray());

        var logits = new float[count * classes];
        ShuffleNetBatch.Run(Enumerable.Range(0, workers).Select(_ => T.CreateRandom(11)).ToArray(), images, logits);
        Assert.Equal(expected, logits);
    }

    [Fact]
    public void OneInstanceListedTwiceIsRejected()
    {
        var model = G3Small64.CreateRandom(1);
        Assert.Throws<ArgumentException>(() => ShuffleNetBatch.Run(new[] { model, model }, new float[G3Small64.InputLength], new float[G3Small64.Classes]));
    }

    [Fact]
    public void LogitsOverlappingTheImagesAreRejected()
    {
        var workers = new[] { G3Small64.CreateRandom(1), G3Small64.CreateRandom(1) };
        const int count = 3;
        var buffer = new float[count * G3Small64.InputLength + count * G3Small64.Classes];
        var images = buffer.AsMemory(0, count * G3Small64.InputLength);
        // Logits in place of the last image's tail: the second image's logits would overwrite the third image.
        var inside = buffer.AsMemory(count * G3Small64.InputLength - 5, count * G3Small64.Classes);
        var e = Assert.Throws<ArgumentException>(() => ShuffleNetBatch.Run(workers, images, inside));
        Assert.Equal("logits", e.ParamName);
        Assert.Contains("overlaps", e.Message);
        // Right after the images, in the same array, is fine.
        ShuffleNetBatch.Run(workers, images, buffer.AsMemory(count * G3Small64.InputLength));
    }

    [Fact]
    public void LogitsNotExactlySizedForTheImagesAreRejected()
    {
        var workers = new[] { G3Small64.CreateRandom(1) };
        var images = new float[2 * G3Small64.InputLength];
        var e = Assert.Throws<ArgumentException>(() => ShuffleNetBatch.Run(workers, images, new float[2 * G3Small64.Classes + 1]));
        Assert.Contains($"exactly 2 x {G3Small64.Classes} = {2 * G3Small64.Classes} logits", e.Message);
        Assert.Throws<ArgumentException>(() => ShuffleNetBatch.Run(workers, images, new float[2 * G3Small64.Classes - 1]));
    }

    /// <summary>
    /// A run holds its workers until it returns. The first run is parked inside a worker's Forward (a stand-in model
    /// that waits on a gate), so the second run certainly starts while the first holds the shared worker.
    /// </summary>
    [Fact]
    public void ConcurrentRunsSharingAWorkerAreRejected()
    {
        var shared = new GatedModel();
        var other = new GatedModel();
        var first = Task.Run(() => ShuffleNetBatch.Run(new[] { shared }, new float[1], new float[1]));
        Assert.True(shared.Entered.Wait(TimeSpan.FromSeconds(30)), "the first run never reached Forward");

        var e = Assert.Throws<InvalidOperationException>(() => ShuffleNetBatch.Run(new[] { other, shared }, new float[2], new float[2]));
        Assert.Contains("already in use by another ShuffleNetBatch.Run", e.Message);
        Assert.Equal(0, other.Calls);
        Assert.Equal(1, shared.Calls);

        shared.Gate.Set();
        other.Gate.Set();
        // A plain wait: the first run is on the thread pool and its gate is open, so blocking here cannot deadlock it.
#pragma warning disable xUnit1031
        Assert.True(first.Wait(TimeSpan.FromSeconds(30)));
#pragma warning restore xUnit1031
        // Released when the first run returned: the same workers run again.
        ShuffleNetBatch.Run(new[] { other, shared }, new float[2], new float[2]);
        Assert.Equal(3, shared.Calls + other.Calls);
    }

    /// <summary>
    /// A worker already in a Forward that another thread called directly (not through Run) fails its Forward inside
    /// Run's Parallel.For. Run throws that InvalidOperationException itself, as it does with one worker, not the
    /// AggregateException Parallel.For wraps it in. Two cases: both workers busy (each image hits a busy worker), and
    /// one busy beside a free one, which waits in its Forward until the busy one has been tried, so the busy one
    /// certainly gets an image.
    /// </summary>
    [Fact]
    public void WorkerBusyInAnotherThreadsForwardThrowsInvalidOperationLikeASingleWorker()
    {
        var a = new GuardedModel();
        var b = new GuardedModel();
        var holders = new[] { a, b }.Select(m => Task.Run(() => m.Forward(new float[1], new float[1]))).ToArray();
        try
        {
            Assert.True(a.Entered.Wait(TimeSpan.FromSeconds(30)) && b.Entered.Wait(TimeSpan.FromSeconds(30)), "the holding threads never reached Forward");

            var single = Assert.Throws<InvalidOperationException>(() => ShuffleNetBatch.Run(new[] { a }, new float[1], new float[1]));
            Assert.Contains("already running Forward", single.Message);

            var both = Record.Exception(() => ShuffleNetBatch.Run(new[] { a, b }, new float[2], new float[2]));
            Assert.IsType<InvalidOperationException>(both);
            Assert.Contains("already running Forward", both.Message);

            var free = new GuardedModel { WaitFor = a.Rejected };
            a.Rejected.Reset();
            var mixed = Record.Exception(() => ShuffleNetBatch.Run(new[] { free, a }, new float[2], new float[2]));
            Assert.True(a.Rejected.IsSet, "the busy worker was never given an image");
            Assert.IsType<InvalidOperationException>(mixed);
            Assert.Contains("already running Forward", mixed.Message);
        }
        finally
        {
            a.Gate.Set();
            b.Gate.Set();
#pragma warning disable xUnit1031 // the holders are on the thread pool and their gates are open: no deadlock
            Assert.True(Task.WaitAll(holders, TimeSpan.FromSeconds(30)));
#pragma warning restore xUnit1031
        }
    }

    /// <summary>
    /// A model with the generated Forward's guard (one interlocked exchange; a second caller gets
    /// InvalidOperationException), whose first caller waits until the test opens its gate.
    /// </summary>
    private sealed class GuardedModel : IShuffleNetModel<GuardedModel>
    {
        private int _busy;
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Gate { get; } = new();
        public ManualResetEventSlim Rejected { get; } = new();
        public ManualResetEventSlim? WaitFor { get; init; }

        public void Forward(ReadOnlySpan<float> input, Span<float> logits)
        {
            if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            {
                Rejected.Set();
                throw new InvalidOperationException("This GuardedModel instance is already running Forward on another thread.");
            }
            try
            {
                if (WaitFor is not null) WaitFor.Wait(TimeSpan.FromSeconds(30));
                else
                {
                    Entered.Set();
                    Gate.Wait();
                }
                logits[0] = input[0];
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }

        public static int InputElementCount => 1;
        public static int ClassCount => 1;
        public static ModelDescription Description => throw new NotSupportedException();
        public static IReadOnlyList<KernelPath> KernelPaths => throw new NotSupportedException();
        public static GuardedModel FromTensors(TensorSet tensors) => throw new NotSupportedException();
        public static GuardedModel FromSafetensors(string path) => throw new NotSupportedException();
        public static GuardedModel FromSafetensors(Stream stream) => throw new NotSupportedException();
        public static GuardedModel CreateRandom(int seed) => throw new NotSupportedException();
    }

    /// <summary>A model whose Forward waits until the test opens its gate.</summary>
    private sealed class GatedModel : IShuffleNetModel<GatedModel>
    {
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Gate { get; } = new();
        public int Calls;

        public void Forward(ReadOnlySpan<float> input, Span<float> logits)
        {
            Interlocked.Increment(ref Calls);
            Entered.Set();
            Gate.Wait();
            logits[0] = input[0];
        }

        public static int InputElementCount => 1;
        public static int ClassCount => 1;
        public static ModelDescription Description => throw new NotSupportedException();
        public static IReadOnlyList<KernelPath> KernelPaths => throw new NotSupportedException();
        public static GatedModel FromTensors(TensorSet tensors) => throw new NotSupportedException();
        public static GatedModel FromSafetensors(string path) => throw new NotSupportedException();
        public static GatedModel FromSafetensors(Stream stream) => throw new NotSupportedException();
        public static GatedModel CreateRandom(int seed) => throw new NotSupportedException();
    }
}
