using ShuffleNetGen.Tests.Models;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>ShuffleNetBatch over several workers gives, image by image, what Forward gives.</summary>
public class BatchTests
{
    [Fact]
    public void BatchOnTwoWorkersEqualsForwardPerImage()
    {
        const int count = 13;
        var random = new Random(5);
        var images = new float[count * G3Small64.InputLength];
        for (int i = 0; i < images.Length; i++) images[i] = (float)(random.NextDouble() * 2 - 1);

        var expected = new float[count * G3Small64.Classes];
        var single = G3Small64.CreateRandom(11);
        for (int i = 0; i < count; i++)
            single.Forward(images.AsSpan(i * G3Small64.InputLength, G3Small64.InputLength), expected.AsSpan(i * G3Small64.Classes, G3Small64.Classes));

        var logits = new float[count * G3Small64.Classes];
        ShuffleNetBatch.Run(new[] { G3Small64.CreateRandom(11), G3Small64.CreateRandom(11) }, images, logits);
        Assert.Equal(expected, logits);
    }

    [Fact]
    public void OneInstanceListedTwiceIsRejected()
    {
        var model = G3Small64.CreateRandom(1);
        Assert.Throws<ArgumentException>(() => ShuffleNetBatch.Run(new[] { model, model }, new float[G3Small64.InputLength], new float[G3Small64.Classes]));
    }
}
