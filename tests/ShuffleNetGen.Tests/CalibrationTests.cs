using ShuffleNetGen.Quantization;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Int8 calibration: the float forward pass it observes against the generated float models, the range-to-quantization
/// rule, and the tensors <see cref="Int8Calibration.Calibrate"/> adds.
/// </summary>
public class CalibrationTests
{
    // Measured: 2e-8 to 5e-7 relative to the largest logit on these models (the two passes differ only in summation
    // order and FMA). A wrong shuffle order gives about 1e-1 (see ShuffleOrderChangesTheFloatLogits), a missed
    // residual or mis-folded batch norm more, so 1e-5 has room for rounding and none for a mistake.
    private const double LogitTolerance = 1e-5;

    private readonly ITestOutputHelper _output;

    public CalibrationTests(ITestOutputHelper output) => _output = output;

    private sealed record Case(ModelDescription Description, Func<TensorSet, IShuffleNetModel> Bind);

    private static Case Of<T>() where T : class, IShuffleNetModel<T> => new(T.Description, set => T.FromTensors(set));

    private static Case Model(string name) => name switch
    {
        nameof(G3Small64) => Of<G3Small64>(),
        nameof(G8Gray48x40) => Of<G8Gray48x40>(),
        nameof(MegviiG4Official48) => Of<MegviiG4Official48>(),
        nameof(G2Odd33) => Of<G2Odd33>(),
        nameof(Paper1xG3) => Of<Paper1xG3>(),
        _ => throw new ArgumentException(name),
    };

    /// <summary>Deterministic images, uniform in [-1, 1) like normalized pixels.</summary>
    private static List<float[]> Images(ModelDescription d, int count, int seed)
    {
        var random = new Random(seed);
        var images = new List<float[]>();
        for (int i = 0; i < count; i++)
        {
            var image = new float[d.InputChannels * d.InputHeight * d.InputWidth];
            for (int k = 0; k < image.Length; k++) image[k] = (float)(random.NextDouble() * 2 - 1);
            images.Add(image);
        }
        return images;
    }

    private static double RelativeError(float[] actual, float[] expected)
    {
        double scale = expected.Max(v => Math.Abs((double)v));
        return actual.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max() / scale;
    }

    [Theory]
    [InlineData(nameof(G3Small64))]
    [InlineData(nameof(G8Gray48x40))]
    [InlineData(nameof(MegviiG4Official48))]
    [InlineData(nameof(G2Odd33))]
    [InlineData(nameof(Paper1xG3))]
    public void FloatForwardMatchesTheGeneratedModel(string name)
    {
        var model = Model(name);
        var weights = RandomWeights.Create(model.Description.WeightLayout, 11);
        var generated = model.Bind(weights);
        double worst = 0;
        foreach (var image in Images(model.Description, 3, 5))
        {
            var expected = new float[model.Description.Classes];
            generated.Forward(image, expected);
            var actual = Int8Calibration.ForwardFloat(model.Description, weights, image);
            Assert.Equal(expected.Length, actual.Length);
            Assert.True(expected.Max(v => Math.Abs(v)) > 1e-3, $"{name}: logits near zero would make the relative check meaningless");
            worst = Math.Max(worst, RelativeError(actual, expected));
        }
        _output.WriteLine($"{name}: max |float forward - generated| / max |logit| = {worst:E2}");
        Assert.True(worst <= LogitTolerance, $"{name}: max relative error {worst:E3}");
    }

    /// <summary>
    /// The same weights with the layers' shuffles in the other order: shows the logits check above can fail, and that
    /// FloatForward follows the layers' plane maps.
    /// </summary>
    [Fact]
    public void ShuffleOrderChangesTheFloatLogits()
    {
        var description = MegviiG4Official48.Description;
        var weights = RandomWeights.Create(description.WeightLayout, 11);
        var image = Images(description, 1, 5)[0];
        var expected = new float[description.Classes];
        MegviiG4Official48.FromTensors(weights).Forward(image, expected);
        var flipped = description.Layers
            .Select(l => l.OutputPlanes is { ShuffleGroups: > 1 } p ? l with { OutputPlanes = ChannelPlanes.Shuffled(p.Start, p.Count, p.ShuffleGroups, !p.OfficialShuffle) } : l)
            .ToArray();
        Assert.Contains(flipped, l => l.OutputPlanes is { ShuffleGroups: > 1, OfficialShuffle: false });
        var paper = Int8Calibration.ForwardFloat(description with { Layers = flipped }, weights, image);
        double error = RelativeError(paper, expected);
        _output.WriteLine($"paper order on an official-order model: {error:E2}");
        Assert.True(error > 100 * LogitTolerance, $"relative error {error:E3}: the shuffle order made no difference");
    }

    [Fact]
    public void PointwiseConvolutionsAreTwoPerUnitInForwardOrder()
    {
        var names = Int8Calibration.PointwiseConvolutions(G3Small64.Description);
        Assert.Equal(14, names.Count); // 2 + 3 + 2 units
        Assert.Equal(new[] { "units.0.conv1", "units.0.conv3", "units.1.conv1", "units.1.conv3" }, names.Take(4));
        Assert.Equal("units.6.conv3", names[^1]);
        Assert.Equal(32, Int8Calibration.PointwiseConvolutions(Paper1xG3.Description).Count); // 4 + 8 + 4 units
    }

    /// <summary>Input sizes worked out by hand from the declarations in CompiledModels.cs (channels × rows × columns).</summary>
    public static TheoryData<string, int[]> ObservedSizes => new()
    {
        // 64x64, stem stride 2 and max pool: units see 16, 8, 8, 4, 4, 4, 2 pixels square; bottlenecks 15, 15, 30, 30, 30, 60, 60.
        {
            nameof(G3Small64), new[]
            {
                12 * 16 * 16, 15 * 8 * 8, 60 * 8 * 8, 15 * 8 * 8, 60 * 8 * 8, 30 * 4 * 4, 120 * 4 * 4,
                30 * 4 * 4, 120 * 4 * 4, 30 * 4 * 4, 120 * 4 * 4, 60 * 2 * 2, 240 * 2 * 2, 60 * 2 * 2,
            }
        },
        // 48x40, stem stride 1 and no pool: the first unit sees the full map; bottlenecks 16, 16, 32, 32.
        {
            nameof(G8Gray48x40), new[]
            {
                16 * 48 * 40, 16 * 24 * 20, 64 * 24 * 20, 16 * 24 * 20, 64 * 24 * 20, 32 * 12 * 10, 128 * 12 * 10, 32 * 12 * 10,
            }
        },
    };

    [Theory]
    [MemberData(nameof(ObservedSizes))]
    public void ObserverSeesEveryPointwiseInputWithItsSize(string name, int[] sizes)
    {
        var d = Model(name).Description;
        var weights = RandomWeights.Create(d.WeightLayout, 3);
        var seen = new List<(string Name, int Count, float Min)>();
        FloatForward.Run(d, weights, Images(d, 1, 9)[0], (conv, values) => seen.Add((conv, values.Length, Min(values))));

        Assert.Equal(Int8Calibration.PointwiseConvolutions(d), seen.Select(s => s.Name));
        Assert.Equal(sizes, seen.Select(s => s.Count));
        foreach (var (conv, _, min) in seen)
        {
            // conv1 reads a unit input, which a ReLU produced; conv3 reads the depthwise output, which has none.
            if (conv.EndsWith(".conv1", StringComparison.Ordinal)) Assert.True(min >= 0, $"{conv}: input minimum {min}");
            else Assert.True(min < 0, $"{conv}: input minimum {min}, as if a ReLU followed the depthwise convolution");
        }
    }

    private static float Min(ReadOnlySpan<float> values)
    {
        float min = float.PositiveInfinity;
        foreach (float v in values) min = Math.Min(min, v);
        return min;
    }

    [Fact]
    public void FromRangeOfKnownRanges()
    {
        Assert.Equal((0.1f, 0), ActivationQuantization.FromRange(0f, 12.7f));
        Assert.Equal(((float)(4.0 / 127), 32), ActivationQuantization.FromRange(-1f, 3f)); // 1 / (4/127) = 31.75
        Assert.Equal(((float)(4.0 / 127), 127), ActivationQuantization.FromRange(-4f, -1f)); // widened up to 0
        Assert.Equal(((float)(5.0 / 127), 0), ActivationQuantization.FromRange(2f, 5f)); // widened down to 0
        Assert.Equal((1f, 0), ActivationQuantization.FromRange(0f, 0f));
        Assert.Equal((1f, 0), ActivationQuantization.FromRange(float.PositiveInfinity, float.NegativeInfinity)); // nothing observed
        Assert.Throws<ArgumentException>(() => ActivationQuantization.FromRange(float.NaN, 1f));
        Assert.Throws<ArgumentException>(() => ActivationQuantization.FromRange(0f, float.NaN));
    }

    [Theory]
    [InlineData(0f, 12.7f)]
    [InlineData(-1f, 3f)]
    [InlineData(-4f, -1f)]
    [InlineData(-0.5f, 10f)]
    [InlineData(-6.25f, 6.25f)]
    public void QuantizeCoversTheRangeAndKeepsZeroExact(float min, float max)
    {
        var (scale, zeroPoint) = ActivationQuantization.FromRange(min, max);
        Assert.Equal(0, ActivationQuantization.Quantize(Math.Min(min, 0f), scale, zeroPoint));
        Assert.Equal(ActivationQuantization.MaxQuantized, ActivationQuantization.Quantize(Math.Max(max, 0f), scale, zeroPoint));
        Assert.Equal(zeroPoint, ActivationQuantization.Quantize(0f, scale, zeroPoint));
        Assert.Equal(0, ActivationQuantization.Quantize(Math.Min(min, 0f) * 2 - 1, scale, zeroPoint));
        Assert.Equal(127, ActivationQuantization.Quantize(Math.Max(max, 0f) * 2 + 1, scale, zeroPoint));
        Assert.Equal(0, ActivationQuantization.Quantize(float.NegativeInfinity, scale, zeroPoint));
        Assert.Equal(127, ActivationQuantization.Quantize(float.PositiveInfinity, scale, zeroPoint));
    }

    [Fact]
    public void QuantizeRoundsTiesToEvenAfterMultiplyingByTheReciprocal()
    {
        Assert.Equal(2, ActivationQuantization.Quantize(2.5f, 1f, 0));
        Assert.Equal(4, ActivationQuantization.Quantize(3.5f, 1f, 0));
        Assert.Equal(0, ActivationQuantization.Quantize(0.5f, 1f, 0));
        Assert.Equal(10 - 2, ActivationQuantization.Quantize(-2.5f, 1f, 10)); // away from zero would give 7
        Assert.Equal(10 - 4, ActivationQuantization.Quantize(-3.5f, 1f, 10));
        // 3.15f / 0.7f is 4.5 in float (rounds to 4), but 3.15f * (1f / 0.7f) is 4.5000005: the kernels multiply.
        Assert.Equal(4.5f, 3.15f / 0.7f);
        Assert.Equal(5, ActivationQuantization.Quantize(3.15f, 0.7f, 0));
    }

    [Fact]
    public void QuantizeRejectsParametersFromNoRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationQuantization.Quantize(1f, 0f, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationQuantization.Quantize(1f, float.NaN, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationQuantization.Quantize(1f, 1f, 128));
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationQuantization.Quantize(1f, 1f, -1));
    }

    [Fact]
    public void CalibrateAddsAScaleAndZeroPointPerPointwiseInput()
    {
        var d = G3Small64.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 2);
        var images = Images(d, 4, 21);
        var calibrated = Int8Calibration.Calibrate(d, weights, images);

        var convolutions = Int8Calibration.PointwiseConvolutions(d);
        Assert.Equal(weights.Count + 2 * convolutions.Count, calibrated.Count);
        foreach (var tensor in weights) Assert.Same(tensor, calibrated[tensor.Name]);

        // Ranges over all images together: recomputed here from the forward pass's own observations.
        var min = new Dictionary<string, float>();
        var max = new Dictionary<string, float>();
        var lastMax = new Dictionary<string, float>();
        foreach (var image in images)
        {
            FloatForward.Run(d, weights, image, (conv, values) =>
            {
                float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
                foreach (float v in values) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
                min[conv] = Math.Min(min.GetValueOrDefault(conv, float.PositiveInfinity), lo);
                max[conv] = Math.Max(max.GetValueOrDefault(conv, float.NegativeInfinity), hi);
                lastMax[conv] = hi;
            });
        }
        Assert.Contains(convolutions, c => max[c] > lastMax[c]); // else using only the last image would pass too

        foreach (var conv in convolutions)
        {
            var scale = calibrated[conv + ".input_scale"];
            var zeroPoint = calibrated[conv + ".input_zero_point"];
            Assert.Equal(new[] { 1 }, scale.Shape);
            Assert.Equal(new[] { 1 }, zeroPoint.Shape);
            var expected = ActivationQuantization.FromRange(min[conv], max[conv]);
            Assert.Equal(expected.Scale, scale.Data[0]);
            Assert.Equal(expected.ZeroPoint, zeroPoint.Data[0]);
            if (conv.EndsWith(".conv1", StringComparison.Ordinal)) Assert.Equal(0f, zeroPoint.Data[0]);
            else Assert.True(zeroPoint.Data[0] > 0, $"{conv}: zero point {zeroPoint.Data[0]} for an input with negative values");
        }
    }

    [Fact]
    public void RecalibrationReplacesTheScales()
    {
        var d = G3Small64.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 2);
        var first = Int8Calibration.Calibrate(d, weights, Images(d, 2, 1));
        var fresh = Int8Calibration.Calibrate(d, weights, Images(d, 2, 2));
        var again = Int8Calibration.Calibrate(d, first, Images(d, 2, 2));
        Assert.Equal(fresh.Count, again.Count);
        Assert.Equal(fresh.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), again.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var tensor in fresh) Assert.Equal(tensor.Data, again[tensor.Name].Data);
        Assert.Contains(Int8Calibration.PointwiseConvolutions(d), c => first[c + ".input_scale"].Data[0] != again[c + ".input_scale"].Data[0]);
    }

    [Fact]
    public void PercentileNeverWidensARangeAndNarrowsSome()
    {
        var d = G3Small64.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 4);
        var images = Images(d, 8, 8);
        var minMax = Int8Calibration.Calibrate(d, weights, images, CalibrationMethod.MinMax);
        var percentile = Int8Calibration.Calibrate(d, weights, images, CalibrationMethod.Percentile);
        int narrower = 0;
        foreach (var conv in Int8Calibration.PointwiseConvolutions(d))
        {
            float wide = minMax[conv + ".input_scale"].Data[0], clipped = percentile[conv + ".input_scale"].Data[0];
            Assert.True(clipped <= wide, $"{conv}: percentile scale {clipped} above min/max scale {wide}");
            if (clipped < wide) narrower++;
            if (conv.EndsWith(".conv1", StringComparison.Ordinal)) Assert.Equal(0f, percentile[conv + ".input_zero_point"].Data[0]);
        }
        _output.WriteLine($"percentile narrowed {narrower} of {Int8Calibration.PointwiseConvolutions(d).Count} ranges");
        Assert.True(narrower > 0, "percentile clipped nothing: it behaves as min/max");
    }

    [Fact]
    public void AnImageOfTheWrongLengthIsNamedByIndex()
    {
        var d = G3Small64.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 1);
        var images = Images(d, 2, 1);
        images.Add(new float[3 * 64 * 63]);
        var e = Assert.Throws<ArgumentException>(() => Int8Calibration.Calibrate(d, weights, images));
        Assert.Contains("Image 2", e.Message);
        Assert.Contains((3 * 64 * 64).ToString(), e.Message);
        Assert.Contains((3 * 64 * 63).ToString(), e.Message);

        var none = Assert.Throws<ArgumentException>(() => Int8Calibration.Calibrate(d, weights, Array.Empty<float[]>()));
        Assert.Contains("at least one image", none.Message);
    }

    [Fact]
    public void AnImageThatMakesAnActivationNaNIsNamedByIndex()
    {
        var d = G3Small64.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 1);
        var images = Images(d, 3, 1);
        images[1][100] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => Int8Calibration.Calibrate(d, weights, images));
        Assert.Contains("Image 1", e.Message);
        Assert.Contains("'units.0.conv1'", e.Message);
    }

    /// <summary>
    /// The percentile is exact however far the extremes lie from the rest. A corner pixel of 1e6 in every image reaches
    /// units.0.conv1's input as one value per image (the stem reads the image through one centre tap, in channel 0
    /// only; every other channel is zero), 1 in 30,720, inside the 0.01% tail: the clip must come down to the
    /// ordinary values. A histogram of 4096 bins over [0, 1e6] could not go below 1e6 / 4096 = 244, a scale 250 times
    /// too coarse. Reference: all observed values sorted.
    /// </summary>
    [Fact]
    public void PercentileClipsExtremesManyOrdersAboveTheRestExactly()
    {
        var d = G8Gray48x40.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 6);
        var stem = weights["conv1.weight"].Data; // [16, 1, 3, 3]
        Array.Clear(stem);
        stem[4] = 1; // channel 0, centre tap
        Array.Fill(weights["bn1.weight"].Data, 1f);
        Array.Clear(weights["bn1.bias"].Data);
        Array.Clear(weights["bn1.running_mean"].Data);
        Array.Fill(weights["bn1.running_var"].Data, 1f);
        var images = Images(d, 6, 17);
        foreach (var image in images) image[0] = 1e6f;

        var values = new List<float>();
        foreach (var image in images)
            FloatForward.Run(d, weights, image, (conv, v) => { if (conv == "units.0.conv1") values.AddRange(v.ToArray()); });
        values.Sort();
        int allowed = (int)(values.Count * 1e-4);
        int extreme = values.Count(v => v > 1e5f);
        Assert.True(extreme > 0 && extreme <= allowed, $"{extreme} extreme values of {values.Count}, {allowed} allowed beyond the clip");
        var expected = ActivationQuantization.FromRange(values[allowed], values[values.Count - 1 - allowed]);

        var calibrated = Int8Calibration.Calibrate(d, weights, images, CalibrationMethod.Percentile);
        float scale = calibrated["units.0.conv1.input_scale"].Data[0];
        _output.WriteLine($"clip at {values[values.Count - 1 - allowed]} (max {values[^1]}): expected scale {expected.Scale:R}, got {scale:R}");
        Assert.Equal(expected.Scale, scale);
        Assert.Equal(expected.ZeroPoint, calibrated["units.0.conv1.input_zero_point"].Data[0]);
    }

    /// <summary>
    /// One image of 32 with a pixel of 1e38 (finite) set every scale near 3e35, and int8 agreed with float on 0 of 32
    /// images. No choice of range fits both it and the rest, so calibration refuses it by index.
    /// </summary>
    [Fact]
    public void AnImageWildlyOutOfLineWithTheRestIsRefusedByIndex()
    {
        var d = G3Small64.Description;
        var weights = RandomWeights.Create(d.WeightLayout, 1);
        var images = Images(d, 32, 3);
        images[5][1000] = 1e38f;
        foreach (var method in new[] { CalibrationMethod.MinMax, CalibrationMethod.Percentile })
        {
            var e = Assert.Throws<ArgumentException>(() => Int8Calibration.Calibrate(d, weights, images, method));
            _output.WriteLine(e.Message);
            Assert.Equal("images", e.ParamName);
            Assert.Contains("Image 5", e.Message);
            Assert.Contains("median", e.Message);
        }
        // Ordinary variation is not out of line: the same images without the pixel, half of them scaled by 10.
        images[5][1000] = 0.5f;
        for (int i = 0; i < 16; i++) for (int k = 0; k < images[i].Length; k++) images[i][k] *= 10;
        Assert.NotNull(Int8Calibration.Calibrate(d, weights, images));
    }

    /// <summary>
    /// An input scale of 1e38 with the weights 1000 times larger overflows the int8 multiplier (input scale × weight
    /// scale). The float model loads the same weights, so the batch norm is not the cause; the message named it.
    /// </summary>
    [Fact]
    public void AnInputScaleThatOverflowsTheMultiplierIsNamedNotTheBatchNorm()
    {
        var weights = RandomWeights.Create(G3Small64.Description.WeightLayout, 2);
        var calibrated = Int8Calibration.Calibrate(G3Small64Int8.Description, weights, Images(G3Small64.Description, 2, 4));
        calibrated["units.1.conv1.input_scale"].Data[0] = 1e38f;
        var w = calibrated["units.1.conv1.weight"].Data;
        for (int i = 0; i < w.Length; i++) w[i] *= 1000;

        Assert.NotNull(G3Small64.FromTensors(weights)); // the same (shared) float weights
        var e = Assert.Throws<WeightFormatException>(() => G3Small64Int8.FromTensors(calibrated));
        _output.WriteLine(e.Message);
        Assert.Equal("units.1.conv1.input_scale", e.TensorName);
        Assert.Contains("'units.1.conv1.input_scale'", e.Message);
        Assert.DoesNotContain("batch-norm scale", e.Message);
    }

    /// <summary>An infinite bound has no scale; (1, 0) in its place quantized every activation as if nothing were wrong.</summary>
    [Fact]
    public void FromRangeRefusesAnInfiniteBound()
    {
        Assert.Throws<ArgumentException>(() => ActivationQuantization.FromRange(0f, float.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => ActivationQuantization.FromRange(float.NegativeInfinity, 1f));
        Assert.Throws<ArgumentException>(() => ActivationQuantization.FromRange(-3e38f, float.PositiveInfinity));
    }
}
