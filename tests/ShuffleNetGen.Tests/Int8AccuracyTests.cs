using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests.Models
{
    /// <summary>The Fashion-MNIST model of samples/FashionMnist, int8.</summary>
    [ShuffleNet(Groups = 3, Scale = 0.5, Stages = new[] { 4, 8, 4 }, StageChannels = new[] { 120, 240, 480 }, StemChannels = 12,
        InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false, Precision = Precision.Int8)]
    internal partial class FashionNetInt8ForTests;
}

namespace ShuffleNetGen.Tests
{
    /// <summary>
    /// int8 models against their float twins on the same weights: how far quantization moves the logits. The kernels'
    /// exactness is <see cref="Int8KernelTests"/>' job; these bound the error quantization itself brings, so a wrong
    /// scale, zero point, weight layout or shuffle (which all still run) fails here.
    /// </summary>
    public class Int8AccuracyTests
    {
        private readonly ITestOutputHelper _output;

        public Int8AccuracyTests(ITestOutputHelper output) => _output = output;

        [Fact]
        public void TrainedFashionModelInInt8AgreesWithFloat()
        {
            var sample = Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "fashion", "fashion_sample.io.safetensors"));
            var input = sample["input"];
            var labels = sample["labels"].Data;
            int count = input.Shape[0];
            var images = Enumerable.Range(0, count).Select(k => input.Data.AsSpan(k * 784, 784).ToArray()).ToList();

            var weights = Safetensors.Read(Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors"));
            // Calibrated on the first half only; the second half is unseen by calibration.
            var calibrated = Int8Calibration.Calibrate(FashionNetInt8ForTests.Description, weights, images.Take(count / 2));
            var int8 = FashionNetInt8ForTests.FromTensors(calibrated);
            var fp32 = FashionNetForTests.FromSafetensors(Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors"));

            var (agree, cosine, int8Correct, floatCorrect) = Compare(int8, fp32, images, labels);
            _output.WriteLine($"{count} sample images: top-1 agreement {agree}/{count}, worst logit cosine {cosine:F5}, correct int8 {int8Correct} float {floatCorrect}");
            Assert.True(agree >= count - 1, $"int8 and float disagree on {count - agree} of {count} images");
            Assert.True(cosine > 0.99, $"worst logit cosine similarity {cosine:F5}");
        }

        /// <summary>Random weights, calibrated on 16 random images and compared on 100 others.</summary>
        [Fact]
        public void RandomG3ModelInInt8FollowsFloatOnUnseenInputs()
        {
            var weights = RandomWeights.Create(G3Small64.WeightLayout, 11);
            var calibrated = Int8Calibration.Calibrate(G3Small64Int8.Description, weights, RandomWeights.Images(G3Small64.InputLength, 16, 1));
            var int8 = G3Small64Int8.FromTensors(calibrated);
            var fp32 = G3Small64.FromTensors(weights);
            var images = RandomWeights.Images(G3Small64.InputLength, 100, 2);
            var (agree, cosine, _, _) = Compare(int8, fp32, images, null);
            _output.WriteLine($"100 unseen random images: top-1 agreement {agree}/100, worst centred-logit cosine {cosine:F5}");
            Assert.True(cosine > 0.98, $"worst centred-logit cosine similarity {cosine:F5}");
            Assert.True(agree >= 90, $"top-1 agreement {agree}/100");
        }

        /// <summary>
        /// ShuffleNet v2: torchvision's weights of a fixture (random init, as torchvision builds them), calibrated on 16
        /// random images and compared on 100 others. Every quantize step reads its convolution's input through a plane
        /// table and the stride-1 units' convolutions store through one, so a wrong table or half fails here.
        /// </summary>
        [Fact]
        public void V2ModelInInt8FollowsFloatOnUnseenInputs()
        {
            var weights = Safetensors.Read(V2Fixture.PathOf("custom_57x41.safetensors"), V2Custom57x41.Description);
            var calibrated = Int8Calibration.Calibrate(V2Custom57x41Int8.Description, weights, RandomWeights.Images(V2Custom57x41.InputLength, 16, 1));
            var int8 = V2Custom57x41Int8.FromTensors(calibrated);
            var fp32 = V2Custom57x41.FromTensors(weights);
            var images = RandomWeights.Images(V2Custom57x41.InputLength, 100, 2);
            var (agree, cosine, _, _) = Compare(int8, fp32, images, null);
            _output.WriteLine($"v2 custom_57x41, 100 unseen random images: top-1 agreement {agree}/100, worst centred-logit cosine {cosine:F5}");
            Assert.True(cosine > 0.98, $"worst centred-logit cosine similarity {cosine:F5}");
            Assert.True(agree >= 90, $"top-1 agreement {agree}/100");
        }

        [Fact]
        public void FloatWeightsWithoutCalibrationAreRefusedWithTheWayOut()
        {
            var weights = RandomWeights.Create(G3Small64.WeightLayout, 3);
            var error = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromTensors(weights));
            Assert.Equal("units.0.conv1.input_scale", error.TensorName);
            Assert.Contains("Int8Calibration.Calibrate", error.Message);
        }

        [Fact]
        public void AZeroPointOutsideSevenBitsIsRefusedNamingTheTensor()
        {
            var weights = RandomWeights.Create(G3Small64.WeightLayout, 3);
            var calibrated = Int8Calibration.Calibrate(G3Small64Int8.Description, weights, RandomWeights.Images(G3Small64.InputLength, 2, 1));
            var edited = new TensorSet();
            foreach (var t in calibrated)
                edited.Add(t.Name == "units.2.conv3.input_zero_point" ? new NamedTensor(t.Name, t.Shape, new[] { 200f }) : t);
            var error = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromTensors(edited));
            Assert.Equal("units.2.conv3.input_zero_point", error.TensorName);
            Assert.Contains("0 to 127", error.Message);
        }

        [Fact]
        public void Int8DescriptionSaysSoAndListsTheCalibrationTensors()
        {
            Assert.Equal(Precision.Int8, G3Small64Int8.Description.Precision);
            Assert.Equal(Precision.Float32, G3Small64.Description.Precision);
            var extra = G3Small64Int8.WeightLayout.Select(t => t.Name).Except(G3Small64.WeightLayout.Select(t => t.Name)).ToList();
            var convolutions = Int8Calibration.PointwiseConvolutions(G3Small64Int8.Description);
            Assert.Equal(convolutions.SelectMany(c => new[] { c + ".input_scale", c + ".input_zero_point" }).OrderBy(n => n, StringComparer.Ordinal), extra.OrderBy(n => n, StringComparer.Ordinal));
            // The int8 weights take about a quarter of the float ones: most parameters are in the 1x1 convolutions.
            _output.WriteLine($"packed weights: int8 {G3Small64Int8.PackedWeightBytes} bytes; arena {G3Small64Int8.ArenaBytes} bytes against float {G3Small64.ArenaLength * 4}");
        }

        private static (int Agree, double WorstCosine, int Int8Correct, int FloatCorrect) Compare(IShuffleNetModel int8, IShuffleNetModel fp32, IReadOnlyList<float[]> images, float[]? labels)
        {
            const int classes = 10; // both models compared here have 10
            int agree = 0, int8Correct = 0, floatCorrect = 0;
            double worst = 1;
            var a = new float[classes];
            var b = new float[classes];
            for (int k = 0; k < images.Count; k++)
            {
                int8.Forward(images[k], a);
                fp32.Forward(images[k], b);
                int pa = Logits.ArgMax(a), pb = Logits.ArgMax(b);
                if (pa == pb) agree++;
                if (labels is not null && pa == (int)labels[k]) int8Correct++;
                if (labels is not null && pb == (int)labels[k]) floatCorrect++;
                worst = Math.Min(worst, Logits.Cosine(a, b, centred: true));
            }
            return (agree, worst, int8Correct, floatCorrect);
        }
    }
}
