using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests.Models
{
    /// <summary>The trained Fashion-MNIST model of samples/FashionMnist (tools/train_fashion_mnist.py), compiled here too.</summary>
    [ShuffleNet(Groups = 3, Scale = 0.5, Stages = new[] { 4, 8, 4 }, StageChannels = new[] { 120, 240, 480 }, StemChannels = 12,
        InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false)]
    internal partial class FashionNetForTests;
}

namespace ShuffleNetGen.Tests
{
    /// <summary>
    /// The committed trained weights (samples/FashionMnist/fashion_shufflenet.safetensors) against PyTorch's float64
    /// logits for a committed sample of 64 test images (Fixtures/fashion/fashion_sample.io.safetensors).
    /// </summary>
    public class FashionMnistTests
    {
        private readonly ITestOutputHelper _output;

        public FashionMnistTests(ITestOutputHelper output) => _output = output;

        private static string WeightsPath => Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors");

        private static TensorSet Sample => Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "fashion", "fashion_sample.io.safetensors"));

        [Fact]
        public void TrainedModelReproducesPyTorchLogitsOnTheSample()
        {
            var sample = Sample;
            var input = sample["input"];
            var expected = sample["logits"];
            var labels = sample["labels"].Data;
            var indices = sample["indices"].Data;
            int count = input.Shape[0];
            Assert.Equal(new[] { count, 1, 28, 28 }, input.Shape);
            Assert.Equal(new[] { count, 10 }, expected.Shape);

            var model = FashionNetForTests.FromSafetensors(WeightsPath);
            var logits = new float[10];
            double worst = 0;
            int agree = 0, correct = 0;
            for (int k = 0; k < count; k++)
            {
                model.Forward(input.Data.AsSpan(k * 784, 784), logits);
                var want = expected.Data.AsSpan(k * 10, 10).ToArray();
                double scale = want.Max(v => Math.Abs((double)v));
                double error = logits.Zip(want, (a, b) => Math.Abs((double)a - b)).Max() / scale;
                worst = Math.Max(worst, error);
                Assert.True(error <= 1e-4, $"test image {indices[k]}: max logit error {error:E3} relative to {scale:G4}");
                int predicted = Logits.ArgMax(logits);
                Assert.Equal(Logits.ArgMax(want), predicted);
                agree++;
                if (predicted == (int)labels[k]) correct++;
            }
            _output.WriteLine($"{count} test images: max relative logit error {worst:E2}; argmax agrees on {agree}/{count}; {correct}/{count} correct");
        }

        [Fact]
        public void SampleIndicesAreDistinctTestImages()
        {
            var indices = Sample["indices"].Data;
            Assert.Equal(indices.Length, indices.Distinct().Count());
            Assert.All(indices, i => Assert.InRange(i, 0, 9999));
            Assert.All(Sample["labels"].Data, l => Assert.InRange(l, 0, 9));
        }
    }
}
