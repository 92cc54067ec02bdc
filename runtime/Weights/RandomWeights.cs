using System;
using System.Collections.Generic;

namespace ShuffleNetGen.Weights;

/// <summary>
/// Deterministic pseudo-random weights for a model's layout, with batch-norm statistics far from identity so that
/// folding bugs show. Uses its own generator (SplitMix64) so the values never change with the .NET version.
/// </summary>
public static class RandomWeights
{
    /// <summary>
    /// A generated model's <c>CreateRandom</c>: <see cref="Create"/> over its layout, and for an int8 model those weights
    /// calibrated on four pseudo-random images of the same seed (random activation scales would quantize nearly
    /// everything to 0 or 127).
    /// </summary>
    public static TensorSet ForModel(ModelDescription model, int seed)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        var weights = Create(model.WeightLayout, seed);
        if (model.Precision != Precision.Int8) return weights;
        return Quantization.Int8Calibration.Calibrate(model, weights, Images(checked(model.InputChannels * model.InputHeight * model.InputWidth), 4, seed));
    }

    /// <summary>Creates one tensor per layout entry, reproducible from <paramref name="seed"/>.</summary>
    public static TensorSet Create(IReadOnlyList<TensorShape> layout, int seed)
    {
        if (layout is null) throw new ArgumentNullException(nameof(layout));
        ulong state = 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed;
        double Next()
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
        double Uniform(double lo, double hi) => lo + (hi - lo) * Next();

        var set = new TensorSet();
        foreach (var shape in layout)
        {
            if (shape is null) throw new ArgumentException("The layout contains null.", nameof(layout));
            var data = new float[shape.ElementCount];
            string name = shape.Name;
            if (data.Length == 0)
            {
                // Nothing to draw, and the fan-in below would divide by a zero dimension.
                set.Add(name, (int[])shape.Dimensions.Clone(), data);
                continue;
            }
            Func<double> draw;
            if (name.EndsWith(".running_var", StringComparison.Ordinal)) draw = () => Uniform(0.5, 1.5);
            else if (name.EndsWith(".running_mean", StringComparison.Ordinal)) draw = () => Uniform(-0.2, 0.2);
            else if (name.StartsWith("fc.", StringComparison.Ordinal))
            {
                double bound = name.EndsWith(".bias", StringComparison.Ordinal) || shape.Dimensions.Length < 2 ? 0.1 : 1.0 / Math.Sqrt(shape.Dimensions[1]);
                draw = () => Uniform(-bound, bound);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) draw = () => Uniform(-0.2, 0.2);
            // The last batch norm of a unit scales what the residual adds: keeping it small stops activations from
            // doubling unit after unit, so logits stay in a range where float32 comparisons mean something.
            else if (name.EndsWith(".bn3.weight", StringComparison.Ordinal)) draw = () => Uniform(0.1, 0.4);
            else if (shape.Dimensions.Length == 1) draw = () => Uniform(0.5, 1.5); // batch-norm gamma
            else
            {
                // He-uniform over the fan-in keeps activations at a stable scale through the residual stack.
                int fanIn = shape.ElementCount / shape.Dimensions[0];
                double bound = Math.Sqrt(6.0 / fanIn);
                draw = () => Uniform(-bound, bound);
            }
            for (int i = 0; i < data.Length; i++) data[i] = (float)draw();
            set.Add(name, (int[])shape.Dimensions.Clone(), data);
        }
        return set;
    }

    /// <summary>
    /// <paramref name="count"/> deterministic pseudo-random images of <paramref name="length"/> floats, uniform in
    /// [-1, 1]: what <c>CreateRandom</c> calibrates an int8 model's activation scales on.
    /// </summary>
    public static IReadOnlyList<float[]> Images(int length, int count, int seed)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        ulong state = 0xD1B54A32D192ED03UL ^ (ulong)(uint)seed;
        var images = new float[count][];
        for (int n = 0; n < count; n++)
        {
            var image = new float[length];
            for (int i = 0; i < length; i++)
            {
                state += 0x9E3779B97F4A7C15UL;
                ulong z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                image[i] = (float)((z >> 11) * (2.0 / (1UL << 53)) - 1.0);
            }
            images[n] = image;
        }
        return images;
    }
}
