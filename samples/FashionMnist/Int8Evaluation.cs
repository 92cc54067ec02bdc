using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using FashionMnist;
using ShuffleNetGen;
using ShuffleNetGen.Quantization;

/// <summary>
/// <c>--int8</c>: calibrates <see cref="FashionNetInt8"/> (the same architecture, 1x1 convolutions and classifier in int8) from the float
/// weights on training images, then runs it and <see cref="FashionNet"/> over the whole test set and compares them.
/// </summary>
internal static class Int8Evaluation
{
    /// <summary>
    /// The default calibration, chosen by measurement (README): Percentile on 500 images gave the highest agreement
    /// with float (99.31%) and float's accuracy; MinMax lost agreement as more images widened its ranges.
    /// </summary>
    public const CalibrationMethod DefaultMethod = CalibrationMethod.Percentile;

    /// <summary>Training images, from the first, calibration runs on by default.</summary>
    public const int DefaultImages = 500;

    /// <summary>Parses the value of <c>--calibration</c>: <c>minmax</c> or <c>percentile</c>, any case.</summary>
    public static CalibrationMethod? ParseMethod(string text) => text.ToLowerInvariant() switch
    {
        "minmax" => CalibrationMethod.MinMax,
        "percentile" => CalibrationMethod.Percentile,
        _ => null,
    };

    /// <summary>Runs the comparison; returns the process exit code.</summary>
    /// <param name="floatWeights">The float weights the default run binds.</param>
    /// <param name="testInputs">The normalized test images.</param>
    /// <param name="testLabels">Their labels.</param>
    /// <param name="dataDir">The directory holding <c>train-images-idx3-ubyte.gz</c>.</param>
    /// <param name="normalize">The training normalization, pixels to one NCHW input.</param>
    /// <param name="method">How observed activation ranges become scales.</param>
    /// <param name="count">How many training images, from the first, to calibrate on.</param>
    public static int Run(TensorSet floatWeights, float[][] testInputs, byte[] testLabels, string dataDir,
        Func<byte[], float[]> normalize, CalibrationMethod method, int count)
    {
        string trainPath = Path.Combine(dataDir, "train-images-idx3-ubyte.gz");
        if (!File.Exists(trainPath))
        {
            Console.Error.WriteLine($"Fashion-MNIST training images not found at {trainPath}: --int8 calibrates on them (package dataset-fashion-mnist).");
            return 2;
        }
        byte[][] train = Idx.ReadImages(trainPath, out int rows, out int cols);
        if (rows != FashionNetInt8.InputHeight || cols != FashionNetInt8.InputWidth)
        {
            Console.Error.WriteLine($"{trainPath}: expected {FashionNetInt8.InputHeight}x{FashionNetInt8.InputWidth} images, found {rows}x{cols}.");
            return 1;
        }
        if (count > train.Length)
        {
            Console.Error.WriteLine($"--calibration-images {count}: the training set has {train.Length} images.");
            return 2;
        }

        // The first images of the training set, which is in no particular class order; none of them is a test image.
        var calibrationImages = train.Take(count).Select(normalize).ToList();
        var watch = Stopwatch.StartNew();
        TensorSet calibrated = Int8Calibration.Calibrate(FashionNetInt8.Description, floatWeights, calibrationImages, method);
        Console.WriteLine($"Calibration: {method} on the first {count:N0} training images, {watch.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"{FashionNetInt8.Description.Name}: 1x1 convolutions and classifier in int8, packed weights {FashionNetInt8.PackedWeightBytes / 1024.0:F0} KiB "
            + $"(float: {FashionNet.ParameterCount * 4 / 1024.0:F0} KiB), arena {FashionNetInt8.ArenaBytes / 1024.0:F0} KiB");

        // The int8 model is bound from its int8 weight file, the form it ships in; the calibrated tensors bind a
        // second instance only to check that the file changes no logit.
        var (int8FromFile, floatFileBytes, int8FileBytes) = ThroughInt8File(calibrated);
        Console.WriteLine($"Weights at rest: calibrated F32 file {floatFileBytes:N0} bytes, int8 weight file {int8FileBytes:N0} bytes ({(double)int8FileBytes / floatFileBytes:F3}x)");
        int identical = CountIdenticalLogits(int8FromFile, FashionNetInt8.FromTensors(calibrated), testInputs);
        Console.WriteLine($"Logits from the int8 file and from the calibrated tensors: bit-identical on {identical}/{testInputs.Length} test images");

        var fp32 = FashionNet.FromTensors(floatWeights);
        var int8 = int8FromFile;
        int n = testInputs.Length;
        var (floatPredictions, floatSeconds) = Classify(fp32, testInputs, FashionNet.Classes);
        var (int8Predictions, int8Seconds) = Classify(int8, testInputs, FashionNetInt8.Classes);

        int floatCorrect = 0, int8Correct = 0, agree = 0;
        for (int i = 0; i < n; i++)
        {
            if (floatPredictions[i] == testLabels[i]) floatCorrect++;
            if (int8Predictions[i] == testLabels[i]) int8Correct++;
            if (int8Predictions[i] == floatPredictions[i]) agree++;
        }
        // Of the images the two models classify differently, which one is right.
        int onlyFloat = Enumerable.Range(0, n).Count(i => floatPredictions[i] == testLabels[i] && int8Predictions[i] != testLabels[i]);
        int onlyInt8 = Enumerable.Range(0, n).Count(i => int8Predictions[i] == testLabels[i] && floatPredictions[i] != testLabels[i]);

        Console.WriteLine($"float32: test accuracy {100.0 * floatCorrect / n:F2}% ({floatCorrect}/{n}), {floatSeconds * 1e6 / n:F0} µs/image on 1 thread");
        Console.WriteLine($"int8:    test accuracy {100.0 * int8Correct / n:F2}% ({int8Correct}/{n}), {int8Seconds * 1e6 / n:F0} µs/image on 1 thread");
        Console.WriteLine($"Same prediction on {agree}/{n} test images; of the {n - agree} others, only float right on {onlyFloat}, only int8 right on {onlyInt8}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"int8_accuracy {(double)int8Correct / n:F4} float_accuracy {(double)floatCorrect / n:F4} agreement {(double)agree / n:F4}"));
        return 0;
    }

    /// <summary>
    /// <c>--write-int8 CALIBRATED OUT</c>: the int8 weight file of calibrated F32 weights for <see cref="FashionNetInt8"/>,
    /// from <c>tools/quantize.py</c> or <c>Int8Calibration.Calibrate</c>. The conversion is the library's
    /// (<c>Safetensors.Write</c> with the model's description), so the file binds to the same packed weights.
    /// </summary>
    public static int WriteInt8File(string calibratedPath, string outputPath)
    {
        TensorSet calibrated;
        try
        {
            calibrated = Safetensors.Read(calibratedPath, FashionNetInt8.Description);
            Safetensors.Write(outputPath, calibrated, FashionNetInt8.Description);
        }
        catch (WeightFormatException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
        long before = new FileInfo(calibratedPath).Length, after = new FileInfo(outputPath).Length;
        Console.WriteLine($"{outputPath}: int8 weight file of {FashionNetInt8.Description.Name}, {after:N0} bytes ({before:N0} in {calibratedPath}, {(double)after / before:F3}x)");
        return 0;
    }

    private static (FashionNetInt8 Model, long FloatBytes, long Int8Bytes) ThroughInt8File(TensorSet calibrated)
    {
        string directory = Directory.CreateTempSubdirectory("fashion-int8-").FullName;
        try
        {
            string floatPath = Path.Combine(directory, "calibrated.safetensors");
            string int8Path = Path.Combine(directory, "int8.safetensors");
            Safetensors.Write(floatPath, calibrated);
            Safetensors.Write(int8Path, calibrated, FashionNetInt8.Description);
            return (FashionNetInt8.FromSafetensors(int8Path), new FileInfo(floatPath).Length, new FileInfo(int8Path).Length);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static int CountIdenticalLogits(IShuffleNetModel a, IShuffleNetModel b, float[][] inputs)
    {
        var x = new float[FashionNetInt8.Classes];
        var y = new float[FashionNetInt8.Classes];
        int identical = 0;
        foreach (var input in inputs)
        {
            a.Forward(input, x);
            b.Forward(input, y);
            if (BitwiseEqual(x, y)) identical++;
        }
        return identical;
    }

    private static bool BitwiseEqual(float[] x, float[] y) =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(y.AsSpan()));

    /// <summary>Predicted classes for every input, and the seconds one timed single-threaded pass took (after a warm-up).</summary>
    private static (int[] Predictions, double Seconds) Classify(IShuffleNetModel model, float[][] inputs, int classes)
    {
        var logits = new float[classes];
        for (int i = 0; i < Math.Min(1000, inputs.Length); i++) model.Forward(inputs[i], logits); // warm-up for tiered JIT
        var predictions = new int[inputs.Length];
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < inputs.Length; i++)
        {
            model.Forward(inputs[i], logits);
            int best = 0;
            for (int c = 1; c < classes; c++) if (logits[c] > logits[best]) best = c;
            predictions[i] = best;
        }
        return (predictions, watch.Elapsed.TotalSeconds);
    }
}
