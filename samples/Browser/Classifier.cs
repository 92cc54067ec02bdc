using System.Diagnostics;
using System.Reflection;
using System.Runtime.Intrinsics;
using FashionMnist;
using ShuffleNetGen;

namespace ShuffleNetGen.Browser;

/// <summary>Which compiled model classifies: <see cref="FashionNet"/> (float32) or its int8 twin <see cref="FashionNetInt8"/>.</summary>
public enum ModelKind
{
    Float,
    Int8,
}

/// <summary>One classification: the logits, their softmax, and the mean time of one forward pass over <paramref name="Passes"/>.</summary>
public sealed record Prediction(float[] Logits, float[] Probabilities, double Microseconds, int Passes)
{
    public int Class => Array.IndexOf(Logits, Logits.Max());

    public IEnumerable<(int Class, float Probability)> Top(int k) =>
        Probabilities.Select((p, c) => (c, p)).OrderByDescending(t => t.p).Take(k);
}

/// <summary>
/// The two models, bound once to the embedded weights (the FashionMnist sample's float weights; for int8 the same
/// plus the calibration tensors tools/BrowserSubset computed), and the embedded test subset. One instance of each
/// model: the browser runs .NET on one thread.
/// </summary>
public sealed class Classifier
{
    public static readonly string[] ClassNames = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    public const int Pixels = FashionNet.InputLength; // 28 x 28, one channel

    // samples/FashionMnist and training: (pixel / 255 - mean) / std, in float32.
    private const float Mean = 0.2860f, Std = 0.3530f;

    private readonly FashionNet _float;
    private readonly Lazy<FashionNetInt8> _int8;
    private readonly float[] _input = new float[Pixels];

    public Classifier()
    {
        TensorSet weights = Safetensors.Read(Resource("fashion_shufflenet.safetensors"));
        _float = FashionNet.FromTensors(weights);
        _int8 = new(() =>
        {
            var calibrated = new TensorSet();
            foreach (var tensor in weights) calibrated.Add(tensor);
            foreach (var tensor in Safetensors.Read(Resource("fashion_int8_calibration.safetensors"))) calibrated.Add(tensor);
            return FashionNetInt8.FromTensors(calibrated);
        });
        TestImages = ReadAll("test-images.bin");
        TestLabels = ReadAll("test-labels.bin");
        if (TestImages.Length != TestLabels.Length * Pixels) throw new InvalidDataException($"{TestImages.Length} image bytes for {TestLabels.Length} labels");
    }

    /// <summary>The embedded test images, <see cref="Pixels"/> bytes each (0 = black), the first of the Fashion-MNIST test set.</summary>
    public byte[] TestImages { get; }

    public byte[] TestLabels { get; }

    public int TestCount => TestLabels.Length;

    public ReadOnlySpan<byte> TestImage(int index) => TestImages.AsSpan(index * Pixels, Pixels);

    public static bool Vector128Accelerated => Vector128.IsHardwareAccelerated;

    public static bool Vector256Accelerated => Vector256.IsHardwareAccelerated;

    public static IReadOnlyList<KernelPath> KernelPaths(ModelKind kind) => kind == ModelKind.Int8 ? FashionNetInt8.KernelPaths : FashionNet.KernelPaths;

    /// <summary>The logits of one image into <paramref name="logits"/> (no timing: the self-test's loop).</summary>
    public void Forward(ModelKind kind, ReadOnlySpan<byte> pixels, Span<float> logits)
    {
        Normalize(pixels, _input);
        if (kind == ModelKind.Int8) _int8.Value.Forward(_input, logits);
        else _float.Forward(_input, logits);
    }

    /// <summary>
    /// The same pass on <paramref name="team"/>: in the browser a team has one thread (its <c>ThreadCount</c> is 1) and
    /// runs every pass on the calling thread, so code written for a team runs unchanged here.
    /// </summary>
    public void Forward(ModelKind kind, ReadOnlySpan<byte> pixels, Span<float> logits, ShuffleNetTeam team)
    {
        Normalize(pixels, _input);
        if (kind == ModelKind.Int8) _int8.Value.Forward(_input, logits, team);
        else _float.Forward(_input, logits, team);
    }

    /// <summary>
    /// Classifies one image. The time is the mean over repeated forward passes, at least three and about 100 ms (32 at most):
    /// the browser's clock is coarse (performance.now() rounds to 0.1 ms or more), so one pass cannot be timed alone.
    /// </summary>
    public Prediction Classify(ModelKind kind, ReadOnlySpan<byte> pixels)
    {
        var logits = new float[FashionNet.Classes];
        int passes = 0;
        long start = Stopwatch.GetTimestamp();
        TimeSpan elapsed;
        do
        {
            Forward(kind, pixels, logits);
            passes++;
            elapsed = Stopwatch.GetElapsedTime(start);
        }
        while (passes < 3 || (elapsed.TotalMilliseconds < 100 && passes < 32)); // bounded: under virtual time the clock stands still
        return new Prediction(logits, Softmax(logits), elapsed.TotalMicroseconds / passes, passes);
    }

    public static void Normalize(ReadOnlySpan<byte> pixels, Span<float> input)
    {
        if (pixels.Length != Pixels) throw new ArgumentException($"{pixels.Length} pixels, expected {Pixels}", nameof(pixels));
        for (int p = 0; p < Pixels; p++) input[p] = (pixels[p] / 255f - Mean) / Std;
    }

    private static float[] Softmax(float[] logits)
    {
        float max = logits.Max();
        var e = logits.Select(l => MathF.Exp(l - max)).ToArray();
        float sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static Stream Resource(string name) =>
        typeof(Classifier).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"resource {name} missing");

    private static byte[] ReadAll(string name)
    {
        using var stream = Resource(name);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
