using System;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FashionMnist;
using ShuffleNetGen;
using ShuffleNetGen.Quantization;

// Classifies the Fashion-MNIST test set with a ShuffleNet trained by tools/train_fashion_mnist.py and compiled by
// ShuffleNetGen. Usage: dotnet run -c Release --project samples/FashionMnist [-- [--weights W.safetensors|W.onnx] [DATA_DIR [GRID.png]]]
// With --int8 [--calibration minmax|percentile] [--calibration-images N] it instead calibrates the int8 twin
// (FashionNetInt8) on training images and compares it with the float model on the test set (Int8Evaluation.cs).
// With --write-int8 CALIBRATED OUT it converts calibrated F32 weights (tools/quantize.py's output) to the int8 weight file.

int writeInt8 = Array.IndexOf(args, "--write-int8");
if (writeInt8 >= 0)
{
    if (args.Length != 3 || writeInt8 != 0)
    {
        Console.Error.WriteLine("--write-int8 takes the calibrated F32 file and the int8 file to write, and nothing else.");
        return 2;
    }
    return Int8Evaluation.WriteInt8File(args[1], args[2]);
}

string weightsPath = Path.Combine(AppContext.BaseDirectory, "fashion_shufflenet.safetensors");
int weightsFlag = Array.IndexOf(args, "--weights");
if (weightsFlag >= 0 && weightsFlag + 1 < args.Length)
{
    weightsPath = args[weightsFlag + 1];
    args = args.Where((_, i) => i != weightsFlag && i != weightsFlag + 1).ToArray();
}
bool int8 = false, calibrationGiven = false;
CalibrationMethod calibration = Int8Evaluation.DefaultMethod;
int calibrationImages = Int8Evaluation.DefaultImages;
var positional = new System.Collections.Generic.List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--int8") int8 = true;
    else if (args[i] == "--calibration")
    {
        if (i + 1 >= args.Length || Int8Evaluation.ParseMethod(args[++i]) is not CalibrationMethod method)
        {
            Console.Error.WriteLine("--calibration takes minmax or percentile.");
            return 2;
        }
        calibration = method;
        calibrationGiven = true;
    }
    else if (args[i] == "--calibration-images")
    {
        if (i + 1 >= args.Length || !int.TryParse(args[++i], out calibrationImages) || calibrationImages < 1)
        {
            Console.Error.WriteLine("--calibration-images takes a positive number of training images.");
            return 2;
        }
        calibrationGiven = true;
    }
    else positional.Add(args[i]);
}
if (calibrationGiven && !int8)
{
    Console.Error.WriteLine("--calibration and --calibration-images apply to --int8 only.");
    return 2;
}
args = positional.ToArray();
string dataDir = args.Length > 0 ? args[0] : "/usr/share/datasets/fashion-mnist";
string gridPath = args.Length > 1 ? args[1] : "fashion_predictions.png";
string imagesPath = Path.Combine(dataDir, "t10k-images-idx3-ubyte.gz");
string labelsPath = Path.Combine(dataDir, "t10k-labels-idx1-ubyte.gz");
if (!File.Exists(imagesPath) || !File.Exists(labelsPath))
{
    Console.Error.WriteLine($"Fashion-MNIST test set not found in {dataDir}: install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass its directory.");
    return 2;
}

string[] classNames = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
byte[][] images = Idx.ReadImages(imagesPath, out int rows, out int cols);
byte[] labels = Idx.ReadLabels(labelsPath);
if (rows != FashionNet.InputHeight || cols != FashionNet.InputWidth || labels.Length != images.Length)
{
    Console.Error.WriteLine($"{dataDir}: expected {FashionNet.InputHeight}x{FashionNet.InputWidth} images with one label each, found {rows}x{cols} ({images.Length} images, {labels.Length} labels).");
    return 1;
}
int n = images.Length;

// The same normalization as training, in the same float32 operations: (pixel / 255 - mean) / std.
const float Mean = 0.2860f, Std = 0.3530f;
var inputs = new float[n][];
for (int i = 0; i < n; i++) inputs[i] = Normalize(images[i]);
static float[] Normalize(byte[] image)
{
    var input = new float[FashionNet.InputLength];
    for (int p = 0; p < input.Length; p++) input[p] = (image[p] / 255f - Mean) / Std;
    return input;
}

// The same model binds either file: safetensors by name, ONNX by matching the graph (ShuffleNetGen.Onnx). The file is
// read once; every instance below binds the same tensors.
TensorSet weights = weightsPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)
    ? ShuffleNetGen.Onnx.OnnxWeights.Read(weightsPath, FashionNet.Description)
    : Safetensors.Read(weightsPath);
Console.WriteLine($"Weights: {weightsPath}");
Console.WriteLine($"{FashionNet.Description.Name}: g = {FashionNet.Description.Groups}, stages [{string.Join(", ", FashionNet.Description.StageChannels)}] x [{string.Join(", ", FashionNet.Description.StageRepeats)}], "
    + $"{FashionNet.ParameterCount:N0} parameters, {FashionNet.MultiplyAdds / 1e6:F1} M multiply-adds per image, arena {FashionNet.ArenaLength * 4 / 1024.0:F0} KiB");
if (int8) return Int8Evaluation.Run(weights, inputs, labels, dataDir, Normalize, calibration, calibrationImages);

// Single-threaded pass: the predictions, and the throughput of one core.
var predictions = new int[n];
var model = FashionNet.FromTensors(weights);
var logits = new float[FashionNet.Classes];
for (int i = 0; i < n; i++) model.Forward(inputs[i], logits); // warm-up: one full pass, so tiered JIT has settled
var watch = Stopwatch.StartNew();
for (int i = 0; i < n; i++)
{
    model.Forward(inputs[i], logits);
    predictions[i] = ArgMax(logits);
}
double singleSeconds = watch.Elapsed.TotalSeconds;

// All cores: one model instance per thread (an instance owns its activation arena).
int threads = Environment.ProcessorCount;
var parallelPredictions = new int[n];
var models = Enumerable.Range(0, threads).Select(_ => FashionNet.FromTensors(weights)).ToArray();
void RunParallel()
{
    int next = -1;
    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
    {
        var m = models[t];
        var l = new float[FashionNet.Classes];
        for (int i = Interlocked.Increment(ref next); i < n; i = Interlocked.Increment(ref next))
        {
            m.Forward(inputs[i], l);
            parallelPredictions[i] = ArgMax(l);
        }
    });
}
RunParallel(); // warm-up
watch.Restart();
RunParallel();
double parallelSeconds = watch.Elapsed.TotalSeconds;
if (!parallelPredictions.SequenceEqual(predictions))
{
    Console.Error.WriteLine("The multi-threaded pass disagrees with the single-threaded one.");
    return 1;
}

int correct = 0;
var confusion = new int[10, 10];
for (int i = 0; i < n; i++)
{
    confusion[labels[i], predictions[i]]++;
    if (predictions[i] == labels[i]) correct++;
}
Console.WriteLine($"Test accuracy: {100.0 * correct / n:F2}% ({correct}/{n})");
Console.WriteLine($"Throughput: {n / singleSeconds:N0} images/s on 1 thread ({singleSeconds * 1e6 / n:F0} µs/image), "
    + $"{n / parallelSeconds:N0} images/s on {threads} threads");

string predictionsPath = Path.Combine(AppContext.BaseDirectory, "pytorch_predictions.bin");
if (File.Exists(predictionsPath))
{
    byte[] torch = File.ReadAllBytes(predictionsPath);
    if (torch.Length == n)
    {
        var differ = Enumerable.Range(0, n).Where(i => torch[i] != predictions[i]).ToArray();
        Console.WriteLine($"Agreement with PyTorch's predictions: {n - differ.Length}/{n} ({100.0 * (n - differ.Length) / n:F2}%)"
            + (differ.Length > 0 ? $"; differing images: {string.Join(", ", differ.Take(10))}{(differ.Length > 10 ? ", …" : "")}" : ""));
    }
}

Console.WriteLine();
Console.WriteLine("Confusion matrix (rows: true class, columns: predicted class):");
Console.WriteLine(new string(' ', 14) + string.Concat(Enumerable.Range(0, 10).Select(c => $"{c,6}")) + "   recall");
for (int t = 0; t < 10; t++)
{
    int total = Enumerable.Range(0, 10).Sum(p => confusion[t, p]);
    Console.WriteLine($"{t} {classNames[t],-11} " + string.Concat(Enumerable.Range(0, 10).Select(p => $"{confusion[t, p],6}")) + $"   {100.0 * confusion[t, t] / Math.Max(total, 1),5:F1}%");
}

// A grid of the first 64 test images: green frame = correct, red = wrong; digits: predicted class, true class.
const int Grid = 8;
string legendPath = Path.ChangeExtension(gridPath, ".txt");
using (var legend = new StreamWriter(legendPath))
{
    legend.WriteLine($"{gridPath}: the first {Grid * Grid} Fashion-MNIST test images, row by row. Frame green = correct, red = wrong.");
    legend.WriteLine("Under each image: predicted class digit, then true class digit. Classes: "
        + string.Join(", ", classNames.Select((c, i) => $"{i} {c}")));
    for (int i = 0; i < Grid * Grid; i++)
        legend.WriteLine($"row {i / Grid} col {i % Grid}: test image {i}, predicted {predictions[i]} {classNames[predictions[i]]}, true {labels[i]} {classNames[labels[i]]}{(predictions[i] == labels[i] ? "" : "  <- wrong")}");
}
PredictionGrid.Write(gridPath, images, labels, predictions, rows, cols, Grid);
Console.WriteLine();
Console.WriteLine($"Wrote {gridPath} (example predictions) and {legendPath} (its legend).");
return 0;

static int ArgMax(ReadOnlySpan<float> values)
{
    int best = 0;
    for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
    return best;
}

/// <summary>Reads the idx files of MNIST-style data sets (gzip-compressed).</summary>
internal static class Idx
{
    public static byte[][] ReadImages(string path, out int rows, out int cols)
    {
        byte[] data = ReadAll(path);
        if (data.Length < 16 || ReadInt(data, 0) != 0x00000803) throw new InvalidDataException($"{path}: not an idx3 image file");
        int count = ReadInt(data, 4);
        rows = ReadInt(data, 8);
        cols = ReadInt(data, 12);
        int size = rows * cols;
        if (data.Length < 16 + (long)count * size) throw new InvalidDataException($"{path}: truncated");
        var images = new byte[count][];
        for (int i = 0; i < count; i++) images[i] = data.AsSpan(16 + i * size, size).ToArray();
        return images;
    }

    public static byte[] ReadLabels(string path)
    {
        byte[] data = ReadAll(path);
        if (data.Length < 8 || ReadInt(data, 0) != 0x00000801) throw new InvalidDataException($"{path}: not an idx1 label file");
        int count = ReadInt(data, 4);
        if (data.Length < 8 + count) throw new InvalidDataException($"{path}: truncated");
        return data.AsSpan(8, count).ToArray();
    }

    private static byte[] ReadAll(string path)
    {
        using var file = File.OpenRead(path);
        using var gz = new GZipStream(file, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gz.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static int ReadInt(byte[] data, int at) => data[at] << 24 | data[at + 1] << 16 | data[at + 2] << 8 | data[at + 3];
}

/// <summary>Draws the example grid and writes it as an RGB PNG (zlib via <see cref="ZLibStream"/>, CRC-32 by hand).</summary>
internal static class PredictionGrid
{
    private const int Scale = 2, Frame = 2, TextHeight = 14;

    // 3x5 digits, one row of three bits per entry, top to bottom.
    private static readonly int[][] Digits =
    {
        new[] { 7, 5, 5, 5, 7 }, new[] { 2, 6, 2, 2, 7 }, new[] { 7, 1, 7, 4, 7 }, new[] { 7, 1, 7, 1, 7 }, new[] { 5, 5, 7, 1, 1 },
        new[] { 7, 4, 7, 1, 7 }, new[] { 7, 4, 7, 5, 7 }, new[] { 7, 1, 1, 1, 1 }, new[] { 7, 5, 7, 5, 7 }, new[] { 7, 5, 7, 1, 7 },
    };

    public static void Write(string path, byte[][] images, byte[] labels, int[] predictions, int rows, int cols, int grid)
    {
        int tileW = cols * Scale + 2 * Frame, tileH = rows * Scale + 2 * Frame + TextHeight;
        int width = grid * tileW, height = grid * tileH;
        var rgb = new byte[width * height * 3];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = 255;
        void Put(int x, int y, byte r, byte g, byte b)
        {
            int at = (y * width + x) * 3;
            rgb[at] = r; rgb[at + 1] = g; rgb[at + 2] = b;
        }
        for (int k = 0; k < grid * grid && k < images.Length; k++)
        {
            int x0 = k % grid * tileW, y0 = k / grid * tileH;
            bool right = predictions[k] == labels[k];
            byte fr = right ? (byte)40 : (byte)220, fg = right ? (byte)170 : (byte)30, fb = 40;
            for (int y = 0; y < rows * Scale + 2 * Frame; y++)
                for (int x = 0; x < tileW; x++)
                {
                    bool frame = x < Frame || y < Frame || x >= tileW - Frame || y >= rows * Scale + Frame;
                    if (frame) Put(x0 + x, y0 + y, fr, fg, fb);
                    else
                    {
                        byte v = (byte)(255 - images[k][(y - Frame) / Scale * cols + (x - Frame) / Scale]); // dark garment on white
                        Put(x0 + x, y0 + y, v, v, v);
                    }
                }
            int ty = y0 + rows * Scale + 2 * Frame + 2;
            DrawDigit(predictions[k], x0 + tileW / 2 - 10, ty, right ? (byte)0 : (byte)200, 0, 0);
            DrawDigit(labels[k], x0 + tileW / 2 + 4, ty, 90, 90, 90);
        }
        WritePng(path, rgb, width, height);

        void DrawDigit(int d, int x, int y, byte r, byte g, byte b)
        {
            for (int row = 0; row < 5; row++)
                for (int bit = 0; bit < 3; bit++)
                    if ((Digits[d][row] >> (2 - bit) & 1) != 0)
                        for (int dy = 0; dy < 2; dy++)
                            for (int dx = 0; dx < 2; dx++) Put(x + bit * 2 + dx, y + row * 2 + dy, r, g, b);
        }
    }

    private static void WritePng(string path, byte[] rgb, int width, int height)
    {
        using var file = File.Create(path);
        file.Write(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 });
        var header = new byte[13];
        WriteInt(header, 0, width);
        WriteInt(header, 4, height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // colour type: RGB
        Chunk(file, "IHDR", header);
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                z.WriteByte(0); // filter: none
                z.Write(rgb, y * width * 3, width * 3);
            }
        }
        Chunk(file, "IDAT", compressed.ToArray());
        Chunk(file, "IEND", Array.Empty<byte>());
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var length = new byte[4];
        WriteInt(length, 0, data.Length);
        s.Write(length);
        var typed = new byte[4 + data.Length];
        for (int i = 0; i < 4; i++) typed[i] = (byte)type[i];
        data.CopyTo(typed, 4);
        s.Write(typed);
        var crc = new byte[4];
        WriteInt(crc, 0, (int)Crc32(typed));
        s.Write(crc);
    }

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    private static void WriteInt(byte[] buffer, int at, int value)
    {
        buffer[at] = (byte)(value >> 24); buffer[at + 1] = (byte)(value >> 16); buffer[at + 2] = (byte)(value >> 8); buffer[at + 3] = (byte)value;
    }
}
