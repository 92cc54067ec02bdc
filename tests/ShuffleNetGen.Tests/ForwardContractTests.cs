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
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) model.Forward(input, logits);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void WrongSpanLengthsAreRejected()
    {
        var model = G3Small64.CreateRandom(1);
        Assert.Throws<ArgumentException>(() => model.Forward(new float[G3Small64.InputLength - 1], new float[G3Small64.Classes]));
        Assert.Throws<ArgumentException>(() => model.Forward(new float[G3Small64.InputLength], new float[G3Small64.Classes - 1]));
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
