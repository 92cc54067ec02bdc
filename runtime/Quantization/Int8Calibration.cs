using System;
using System.Collections.Generic;

namespace ShuffleNetGen.Quantization;

/// <summary>How <see cref="Int8Calibration.Calibrate"/> turns the values a tensor took on the calibration images into a range.</summary>
public enum CalibrationMethod
{
    /// <summary>
    /// The smallest and largest value seen. Nothing saturates on the calibration images, but one outlier widens the
    /// scale, and so coarsens the steps, for every other value.
    /// </summary>
    MinMax = 0,

    /// <summary>
    /// Clips each tensor's range on each side to the 99.99th percentile of its values (below: the 0.01th), read from a
    /// histogram of 4096 bins over the min/max range, to the precision of one bin. The rare values beyond saturate;
    /// the rest get finer steps. Needs two passes over the images.
    /// </summary>
    Percentile = 1,
}

/// <summary>
/// Calibration of an int8 ShuffleNet: runs the float network on representative images and records, for the input of
/// every 1x1 convolution, the activation scale and zero point the int8 kernels quantize it with.
/// </summary>
public static class Int8Calibration
{
    /// <summary>Suffix of the tensor holding a 1x1 convolution's input scale, shape [1].</summary>
    public const string InputScaleSuffix = ".input_scale";

    /// <summary>Suffix of the tensor holding a 1x1 convolution's input zero point (an integer stored as float), shape [1].</summary>
    public const string InputZeroPointSuffix = ".input_zero_point";

    // Fine enough that one bin is well under a quantization step (127 steps), coarse enough to stay in L1 per tensor.
    private const int HistogramBins = 4096;

    // The 99.99th percentile: the share of values allowed beyond the clipped range on each side.
    private const double PercentileTail = 1e-4;

    /// <summary>
    /// Runs <paramref name="model"/> in float32 with <paramref name="floatWeights"/> over every image and returns a new
    /// set holding every tensor of <paramref name="floatWeights"/> plus, for each 1x1 convolution <c>{conv}</c> of
    /// <see cref="PointwiseConvolutions"/>, <c>{conv}.input_scale</c> and <c>{conv}.input_zero_point</c> (shape [1]) from
    /// <see cref="ActivationQuantization.FromRange"/> over the values its input took. Calibration tensors already in
    /// <paramref name="floatWeights"/> are replaced, so a calibrated set can be calibrated again.
    /// </summary>
    /// <param name="model">The architecture, e.g. a generated model's <c>Description</c>.</param>
    /// <param name="floatWeights">Float weights in the canonical layout (see README).</param>
    /// <param name="images">Representative inputs, each NCHW with exactly <c>InputChannels·InputHeight·InputWidth</c> floats, preprocessed as for inference.</param>
    /// <param name="method">How observed values become a range.</param>
    /// <returns>A new set; the input tensors are shared with <paramref name="floatWeights"/>, not copied.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">
    /// There are no images, an image is null, has the wrong length (the message names its index and the expected
    /// length) or drives an activation to NaN or an infinity, or the description is not a buildable ShuffleNet.
    /// </exception>
    /// <exception cref="WeightFormatException">A weight is missing or mis-shaped.</exception>
    public static TensorSet Calibrate(ModelDescription model, TensorSet floatWeights, IEnumerable<float[]> images, CalibrationMethod method = CalibrationMethod.MinMax)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        if (floatWeights is null) throw new ArgumentNullException(nameof(floatWeights));
        if (images is null) throw new ArgumentNullException(nameof(images));
        if (method is not (CalibrationMethod.MinMax or CalibrationMethod.Percentile))
            throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown calibration method.");

        var network = FloatForward.Prepare(model, floatWeights);
        // Materialized: Percentile reads the images twice, and an enumerable may not replay (or replay differently).
        var list = new List<float[]>(images);
        if (list.Count == 0) throw new ArgumentException("Calibration needs at least one image.", nameof(images));
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is null) throw new ArgumentException($"Image {i} is null.", nameof(images));
            if (list[i].Length != network.InputLength)
                throw new ArgumentException(
                    $"Image {i} has {list[i].Length} values; {model.Name} expects {model.InputChannels}x{model.InputHeight}x{model.InputWidth} = {network.InputLength} (NCHW).",
                    nameof(images));
        }

        var convolutions = FloatForward.PointwiseConvolutions(model);
        var index = new Dictionary<string, int>(convolutions.Length, StringComparer.Ordinal);
        for (int k = 0; k < convolutions.Length; k++) index.Add(convolutions[k], k);

        var min = new float[convolutions.Length];
        var max = new float[convolutions.Length];
        Array.Fill(min, float.PositiveInfinity);
        Array.Fill(max, float.NegativeInfinity);
        for (int i = 0; i < list.Count; i++)
        {
            int image = i;
            network.Run(list[i], (conv, values) =>
            {
                int k = index[conv];
                float lo = min[k], hi = max[k];
                foreach (float v in values)
                {
                    if (!float.IsFinite(v)) ThrowNotFinite(conv, image, v);
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
                min[k] = lo;
                max[k] = hi;
            });
        }

        if (method == CalibrationMethod.Percentile) ClipToPercentile(network, list, index, min, max);

        var result = new TensorSet();
        var produced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var conv in convolutions)
        {
            produced.Add(conv + InputScaleSuffix);
            produced.Add(conv + InputZeroPointSuffix);
        }
        foreach (var tensor in floatWeights)
            if (!produced.Contains(tensor.Name)) result.Add(tensor);
        for (int k = 0; k < convolutions.Length; k++)
        {
            var (scale, zeroPoint) = ActivationQuantization.FromRange(min[k], max[k]);
            result.Add(convolutions[k] + InputScaleSuffix, new[] { 1 }, new[] { scale });
            result.Add(convolutions[k] + InputZeroPointSuffix, new[] { 1 }, new[] { (float)zeroPoint });
        }
        return result;
    }

    /// <summary>
    /// The 1x1 convolutions whose inputs the int8 model quantizes, in forward order: <c>units.0.conv1</c>,
    /// <c>units.0.conv3</c>, <c>units.1.conv1</c>, … (two per unit; the stem and classifier stay float).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    public static IReadOnlyList<string> PointwiseConvolutions(ModelDescription model) => FloatForward.PointwiseConvolutions(model);

    /// <summary>The float32 logits calibration's forward pass computes for one image.</summary>
    internal static float[] ForwardFloat(ModelDescription model, TensorSet floatWeights, float[] image) =>
        FloatForward.Run(model, floatWeights, image);

    /// <summary>
    /// Second pass: a histogram per tensor over its min/max range, then each end moved inward while at most
    /// <see cref="PercentileTail"/> of the values lie beyond it. Ranges only shrink, so a clipped scale is never larger.
    /// </summary>
    private static void ClipToPercentile(FloatForward.Network network, List<float[]> images, Dictionary<string, int> index, float[] min, float[] max)
    {
        int n = min.Length;
        var histograms = new long[n][];
        var lows = new double[n];
        var binsPerUnit = new double[n];
        for (int k = 0; k < n; k++)
        {
            histograms[k] = new long[HistogramBins];
            // Over the range FromRange will widen to anyway, so the clipped ends stay comparable with MinMax's.
            lows[k] = Math.Min(min[k], 0f);
            double width = Math.Max(max[k], 0f) - lows[k];
            binsPerUnit[k] = width > 0 && double.IsFinite(width) ? HistogramBins / width : 0;
        }
        foreach (var image in images)
        {
            network.Run(image, (conv, values) =>
            {
                int k = index[conv];
                var histogram = histograms[k];
                double low = lows[k], perUnit = binsPerUnit[k];
                foreach (float v in values)
                {
                    // Truncation is the floor here: v ≥ low on this pass, which saw the same values as the first.
                    int bin = (int)((v - low) * perUnit);
                    histogram[Math.Clamp(bin, 0, HistogramBins - 1)]++;
                }
            });
        }
        for (int k = 0; k < n; k++)
        {
            if (binsPerUnit[k] == 0) continue;
            var histogram = histograms[k];
            long total = 0;
            foreach (long c in histogram) total += c;
            double allowed = total * PercentileTail;
            double binWidth = 1 / binsPerUnit[k];

            long below = 0;
            int first = 0;
            while (first < HistogramBins - 1 && below + histogram[first] <= allowed) below += histogram[first++];
            long above = 0;
            int last = HistogramBins - 1;
            while (last > first && above + histogram[last] <= allowed) above += histogram[last--];

            min[k] = (float)Math.Max(min[k], lows[k] + first * binWidth);
            max[k] = (float)Math.Min(max[k], lows[k] + (last + 1) * binWidth);
        }
    }

    // An infinite activation would pass FromRange as an empty range, (1, 0): a silent, useless scale.
    private static void ThrowNotFinite(string conv, int image, float value) =>
        throw new ArgumentException(
            $"Image {image} drives the input of {TensorNameText.Quote(conv)} to {value}; the image or the weights hold NaN or an infinity, or values large enough to overflow.", "images");
}
