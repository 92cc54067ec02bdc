using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>What a caller relies on: no allocation per call, argument checks, clear errors for bad weights.</summary>
public class ForwardContractTests
{
    [Fact]
    public void ForwardAllocatesNothingAfterWarmUp()
    {
        var model = Paper1xG3.CreateRandom(1);
        var input = new float[Paper1xG3.InputLength];
        var logits = new float[Paper1xG3.Classes];
        for (int i = 0; i < 5; i++) model.Forward(input, logits);
        // The runtime itself may allocate on this thread while it settles (tiered compilation promoting a method once
        // it has run often enough: 3,184 bytes once in twenty passes, in the fast suite). An allocation per pass shows
        // in every batch; a settling one leaves a batch that allocates nothing.
        var batches = new List<long>();
        for (int batch = 0; batch < 5 && (batches.Count == 0 || batches[^1] != 0); batch++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) model.Forward(input, logits);
            batches.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(batches[^1] == 0, $"bytes allocated by each batch of 20 passes: {string.Join(", ", batches)}");
    }

    /// <summary>
    /// A pass on a thread that never ran one allocates nothing either: scratch kept per thread (a [ThreadStatic] buffer
    /// allocated on first use) passes the test above, which warms up first. The model is warmed up on this thread, so
    /// what a fresh thread's first pass allocates is its own; a settling runtime allocates once, a per-thread buffer on
    /// every fresh thread, so up to five threads run until one allocates nothing.
    /// </summary>
    [Fact]
    public void ForwardAllocatesNothingOnAFreshThreadsFirstPass()
    {
        var model = Paper1xG3.CreateRandom(1);
        var input = new float[Paper1xG3.InputLength];
        var logits = new float[Paper1xG3.Classes];
        for (int i = 0; i < 25; i++) model.Forward(input, logits);
        var firstPasses = new List<long>();
        for (int thread = 0; thread < 5 && (firstPasses.Count == 0 || firstPasses[^1] != 0); thread++)
        {
            long allocated = -1;
            var fresh = new Thread(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                model.Forward(input, logits);
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            });
            fresh.Start();
            fresh.Join();
            firstPasses.Add(allocated);
        }
        Assert.True(firstPasses[^1] == 0, $"bytes allocated by each fresh thread's first pass: {string.Join(", ", firstPasses)}");
    }

    [Fact]
    public void WrongSpanLengthsAreRejected()
    {
        var model = G3Small64.CreateRandom(1);
        Assert.Throws<ArgumentException>(() => model.Forward(new float[G3Small64.InputLength - 1], new float[G3Small64.Classes]));
        Assert.Throws<ArgumentException>(() => model.Forward(new float[G3Small64.InputLength + 1], new float[G3Small64.Classes]));
        Assert.Throws<ArgumentException>(() => model.Forward(new float[G3Small64.InputLength], new float[G3Small64.Classes - 1]));
    }

    /// <summary>A longer logits span used to be accepted and only its start written, hiding a caller's sizing mistake.</summary>
    [Fact]
    public void LogitsSpanLongerThanClassesIsRejectedNamingBothLengths()
    {
        var model = G3Small64.CreateRandom(1);
        var logits = new float[G3Small64.Classes + 3];
        Array.Fill(logits, 42f);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(new float[G3Small64.InputLength], logits));
        Assert.Equal("logits", e.ParamName);
        Assert.Contains($"exactly {G3Small64.Classes} logits", e.Message);
        Assert.Contains($"got {G3Small64.Classes + 3}", e.Message);
        Assert.All(logits, l => Assert.Equal(42f, l));
    }

    /// <summary>
    /// Simulates a second thread inside Forward by holding the instance's guard, as an overlapping call would: the
    /// call must be refused, and the instance must work again once the guard is released.
    /// </summary>
    [Fact]
    public void ForwardOnAnInstanceAlreadyInForwardThrows()
    {
        var model = G3Small64.CreateRandom(1);
        var input = Enumerable.Range(0, G3Small64.InputLength).Select(i => MathF.Cos(i)).ToArray();
        var expected = new float[G3Small64.Classes];
        model.Forward(input, expected);

        var busy = typeof(G3Small64).GetField("_sngBusy", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        busy.SetValue(model, 1);
        var e = Assert.Throws<InvalidOperationException>(() => model.Forward(input, new float[G3Small64.Classes]));
        Assert.Contains("one instance per thread", e.Message);
        Assert.Contains("G3Small64", e.Message);
        busy.SetValue(model, 0);

        var again = new float[G3Small64.Classes];
        model.Forward(input, again);
        Assert.Equal(expected, again);
        // A call that failed its argument checks must not leave the guard taken.
        Assert.Throws<ArgumentException>(() => model.Forward(input, new float[1]));
        model.Forward(input, again);
        Assert.Equal(expected, again);
    }

    /// <summary>
    /// Two threads hammer one instance of the paper model (a few ms per pass, so a time slice ends inside a pass
    /// often). Without the guard some results come out wrong; with it every call either throws or returns exactly the
    /// single-threaded logits. The loop runs until both threads have seen a refusal, so the test cannot pass without
    /// the concurrent case having happened; on an idle machine that takes a few passes.
    /// </summary>
    [Fact]
    public void ConcurrentForwardOnOneInstanceThrowsAndNeverReturnsWrongLogits()
    {
        var model = Paper1xG3.CreateRandom(3);
        var input = Enumerable.Range(0, Paper1xG3.InputLength).Select(i => MathF.Sin(i * 0.01f)).ToArray();
        var expected = new float[Paper1xG3.Classes];
        model.Forward(input, expected);

        int refused = 0, completed = 0, wrong = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        using var barrier = new Barrier(2);
        void Hammer()
        {
            var logits = new float[Paper1xG3.Classes];
            barrier.SignalAndWait();
            while (Volatile.Read(ref refused) < 2 && DateTime.UtcNow < deadline)
            {
                try
                {
                    model.Forward(input, logits);
                    Interlocked.Increment(ref completed);
                    if (!logits.AsSpan().SequenceEqual(expected)) Interlocked.Increment(ref wrong);
                }
                catch (InvalidOperationException)
                {
                    Interlocked.Increment(ref refused);
                }
            }
        }
        var threads = new[] { new Thread(Hammer), new Thread(Hammer) };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        Assert.True(refused >= 2, $"no overlapping call in 60 s ({completed} passes completed)");
        Assert.Equal(0, wrong);
        Assert.True(completed > 0);
        // The instance is usable again afterwards: no refusal leaves the guard taken.
        var after = new float[Paper1xG3.Classes];
        model.Forward(input, after);
        Assert.Equal(expected, after);
    }

    [Fact]
    public void CreateRandomIsDeterministic()
    {
        var input = Enumerable.Range(0, G3Small64.InputLength).Select(i => MathF.Sin(i)).ToArray();
        var a = new float[G3Small64.Classes];
        var b = new float[G3Small64.Classes];
        G3Small64.CreateRandom(7).Forward(input, a);
        G3Small64.CreateRandom(7).Forward(input, b);
        Assert.Equal(a, b);
        G3Small64.CreateRandom(8).Forward(input, b);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void GenericCodeCanDriveAnyModel()
    {
        static float[] Run<T>(int seed) where T : class, IShuffleNetModel<T>
        {
            var model = T.CreateRandom(seed);
            var logits = new float[T.ClassCount];
            model.Forward(new float[T.InputElementCount], logits);
            return logits;
        }
        Assert.Equal(G3Small64.Classes, Run<G3Small64>(1).Length);
        Assert.Equal(G2Odd33.Classes, Run<G2Odd33>(1).Length);
        Assert.Equal(G3Small64.ArenaLength, G3Small64.Description.ArenaLength);
    }

    [Fact]
    public void MissingTensorIsNamedWithItsShape()
    {
        var set = Without(RandomWeights.Create(G3Small64.WeightLayout, 1), "units.2.bn1.running_var");
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromTensors(set));
        Assert.Equal("units.2.bn1.running_var", e.TensorName);
        Assert.Contains("missing", e.Message);
        Assert.Contains("[30]", e.Message);
    }

    [Fact]
    public void MisshapedTensorIsNamedWithBothShapes()
    {
        var set = Without(RandomWeights.Create(G3Small64.WeightLayout, 1), "units.1.conv1.weight");
        // As if the convolution were not grouped: 60 input channels instead of 60 / 3.
        set.Add("units.1.conv1.weight", new[] { 15, 60, 1, 1 }, new float[900]);
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromTensors(set));
        Assert.Equal("units.1.conv1.weight", e.TensorName);
        Assert.Contains("[15, 60, 1, 1]", e.Message);
        Assert.Contains("[15, 20, 1, 1]", e.Message);
    }

    [Fact]
    public void UnexpectedTensorIsNamed()
    {
        var set = RandomWeights.Create(G3Small64.WeightLayout, 1);
        set.Add("units.99.conv1.weight", new[] { 1 }, new float[1]);
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromTensors(set));
        Assert.Equal("units.99.conv1.weight", e.TensorName);
    }

    [Fact]
    public void BatchCountersThatPyTorchSavesAreIgnored()
    {
        var set = RandomWeights.Create(G3Small64.WeightLayout, 1);
        set.Add("bn1.num_batches_tracked", new[] { 1 }, new float[1]);
        Assert.NotNull(G3Small64.FromTensors(set));
    }

    [Fact]
    public void NegativeVarianceIsRejected()
    {
        var set = RandomWeights.Create(G3Small64.WeightLayout, 1);
        set["bn1.running_var"].Data[3] = -1f;
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromTensors(set));
        Assert.Equal("bn1.running_var", e.TensorName);
    }

    private static TensorSet Without(TensorSet set, string name)
    {
        var result = new TensorSet();
        foreach (var t in set) if (t.Name != name) result.Add(t);
        return result;
    }
}
