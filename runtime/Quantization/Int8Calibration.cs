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
    /// Clips each tensor's range on each side to the 99.99th percentile of its values (below: the 0.01th), exactly:
    /// the largest value with at most 0.01% of the values above it. The rare values beyond saturate; the rest get
    /// finer steps. Exact however far the extremes lie from the rest (it keeps the 0.01% most extreme values of each
    /// tensor, about 1.7 KB per image at ShuffleNet 1x 224, against the image's own 600 KB).
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

    // The 99.99th percentile: the share of values allowed beyond the clipped range on each side.
    private const double PercentileTail = 1e-4;

    // How far an image's pixel range may exceed the median image's before calibration refuses it. At 127x the median
    // image already quantizes into a single step of MinMax's range; 1000x leaves room for real variation (normalized
    // images differ by a few times at most) and catches what is corrupt, such as a stray 1e38.
    private const double OutOfLineFactor = 1000;

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
    /// length), holds a pixel range more than 1000 times the median image's (named by index: one such image would set
    /// every scale, see docs/int8.md) or drives an activation to NaN or an infinity, or the description is not a
    /// buildable ShuffleNet.
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

        RejectOutOfLineImage(list);

        var convolutions = FloatForward.PointwiseConvolutions(model);
        var index = new Dictionary<string, int>(convolutions.Length, StringComparer.Ordinal);
        for (int k = 0; k < convolutions.Length; k++) index.Add(convolutions[k], k);

        var min = new float[convolutions.Length];
        var max = new float[convolutions.Length];
        Array.Fill(min, float.PositiveInfinity);
        Array.Fill(max, float.NegativeInfinity);
        var tails = method == CalibrationMethod.Percentile ? new Tails[convolutions.Length] : null;
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
                if (tails is not null) (tails[k] ??= new Tails((long)values.Length * list.Count)).Add(values);
            });
        }

        if (tails is not null)
        {
            // Ranges only shrink: each clip is a value that was observed, inside [min, max].
            for (int k = 0; k < convolutions.Length; k++)
                if (tails[k] is { } t) (min[k], max[k]) = (t.Low, t.High);
        }

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
    /// The most extreme values of one tensor over all images, as many as the percentile lets past the clip plus one on
    /// each side, so the clips are exact order statistics. A histogram over [min, max] could not be: with 4096 bins,
    /// one value of 1e38 put every ordinary value in the first bin, and the clip could come down only to max / 4096
    /// (issue 23). Memory is 0.02% of the tensor's values over all images, a sliver of the images themselves.
    /// </summary>
    private sealed class Tails
    {
        private readonly int _keep;
        private readonly PriorityQueue<float, float> _largest = new();                                   // min-heap
        private readonly PriorityQueue<float, float> _smallest = new(Comparer<float>.Create((a, b) => b.CompareTo(a))); // max-heap
        private float _largestFloor = float.NegativeInfinity, _smallestCeiling = float.PositiveInfinity;

        public Tails(long total) => _keep = (int)Math.Min(total * PercentileTail, int.MaxValue - 1) + 1;

        public void Add(ReadOnlySpan<float> values)
        {
            foreach (float v in values)
            {
                // The common case is two comparisons: a value inside both kept tails changes nothing.
                if (v > _largestFloor || _largest.Count < _keep)
                {
                    if (_largest.Count < _keep) _largest.Enqueue(v, v);
                    else _largest.EnqueueDequeue(v, v);
                    if (_largest.Count == _keep) _largestFloor = _largest.Peek();
                }
                if (v < _smallestCeiling || _smallest.Count < _keep)
                {
                    if (_smallest.Count < _keep) _smallest.Enqueue(v, v);
                    else _smallest.EnqueueDequeue(v, v);
                    if (_smallest.Count == _keep) _smallestCeiling = _smallest.Peek();
                }
            }
        }

        /// <summary>The clip below: the smallest value with at most <see cref="PercentileTail"/> of the values under it.</summary>
        public float Low => _smallest.Peek();

        /// <summary>The clip above: the largest value with at most <see cref="PercentileTail"/> of the values over it.</summary>
        public float High => _largest.Peek();
    }

    /// <summary>
    /// Refuses an image whose pixel range (widened to 0, as <see cref="ActivationQuantization.FromRange"/> widens) is
    /// more than <see cref="OutOfLineFactor"/> times the median image's. Weights are shared, so activation ranges
    /// follow the pixels; one such image sets every scale by itself, and neither method can clip a whole image away
    /// (it is far more than 0.01% of the values). Refused rather than warned about: calibration has no channel to warn
    /// on, and no scale it could return would serve the other images.
    /// </summary>
    private static void RejectOutOfLineImage(List<float[]> images)
    {
        if (images.Count < 2) return;
        var spans = new double[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            float lo = 0, hi = 0;
            foreach (float v in images[i])
            {
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            spans[i] = (double)hi - lo; // NaN pixels fall through both tests; the forward pass names them
        }
        var sorted = (double[])spans.Clone();
        Array.Sort(sorted);
        double median = sorted[(sorted.Length - 1) / 2];
        if (!(median > 0)) return; // most images constant at 0: no scale of reference to compare with
        for (int i = 0; i < images.Count; i++)
        {
            if (spans[i] > OutOfLineFactor * median)
                throw new ArgumentException(
                    $"Image {i} spans {spans[i]:G4} (its pixels' range, widened to include 0), {spans[i] / median:G3} times the median image's {median:G4}; "
                    + $"an image more than {OutOfLineFactor:G} times out of line would set every activation scale by itself and leave the other images a step or two. "
                    + "It is likely corrupt or not preprocessed like the rest: fix or remove it.",
                    nameof(images));
        }
    }

    // An infinite activation would pass FromRange as an empty range, (1, 0): a silent, useless scale.
    private static void ThrowNotFinite(string conv, int image, float value) =>
        throw new ArgumentException(
            $"Image {image} drives the input of {TensorNameText.Quote(conv)} to {value}; the image or the weights hold NaN or an infinity, or values large enough to overflow.", "images");
}
