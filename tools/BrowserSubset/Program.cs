using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using FashionMnist;
using ShuffleNetGen;
using ShuffleNetGen.Quantization;

// Extracts what samples/Browser embeds, from the Debian package dataset-fashion-mnist (a clone has no data set):
//   samples/Browser/Data/test-images.bin   the first COUNT test images, 784 bytes each (28x28, row-major, 0 = black)
//   samples/Browser/Data/test-labels.bin   their labels, one byte each
//   samples/Browser/Data/fashion_int8_calibration.safetensors
//       the int8 twin's calibration tensors only ({conv}.input_scale, {conv}.input_zero_point): Int8Calibration's
//       Percentile on the first 500 training images, the FashionMnist sample's default, so the page binds
//       FashionNetInt8 without calibrating in the browser. The float weights are the FashionMnist sample's file.
// Usage: dotnet run -c Release --project tools/BrowserSubset [-- [COUNT [DATA_DIR]]]   (COUNT defaults to 256)

int count = args.Length > 0 ? int.Parse(args[0]) : 256;
string dataDir = args.Length > 1 ? args[1] : "/usr/share/datasets/fashion-mnist";
string repo = FindRepository();
string outDir = Path.Combine(repo, "samples", "Browser", "Data");
Directory.CreateDirectory(outDir);

byte[] images = ReadIdx(Path.Combine(dataDir, "t10k-images-idx3-ubyte.gz"), 0x803, 16);
byte[] labels = ReadIdx(Path.Combine(dataDir, "t10k-labels-idx1-ubyte.gz"), 0x801, 8);
if (count < 1 || count * 784 > images.Length || count > labels.Length) throw new ArgumentOutOfRangeException(nameof(count), $"1 to {labels.Length} images");
File.WriteAllBytes(Path.Combine(outDir, "test-images.bin"), images.AsSpan(0, count * 784).ToArray());
File.WriteAllBytes(Path.Combine(outDir, "test-labels.bin"), labels.AsSpan(0, count).ToArray());

const float Mean = 0.2860f, Std = 0.3530f; // samples/FashionMnist: (pixel / 255 - mean) / std, in float32
byte[] train = ReadIdx(Path.Combine(dataDir, "train-images-idx3-ubyte.gz"), 0x803, 16);
var calibrationImages = Enumerable.Range(0, 500)
    .Select(i => train.AsSpan(i * 784, 784).ToArray().Select(p => (p / 255f - Mean) / Std).ToArray())
    .ToList();
TensorSet floatWeights = Safetensors.Read(Path.Combine(repo, "samples", "FashionMnist", "fashion_shufflenet.safetensors"));
TensorSet calibrated = Int8Calibration.Calibrate(FashionNetInt8.Description, floatWeights, calibrationImages, CalibrationMethod.Percentile);
var calibration = calibrated.Where(t => t.Name.EndsWith(Int8Calibration.InputScaleSuffix, StringComparison.Ordinal)
    || t.Name.EndsWith(Int8Calibration.InputZeroPointSuffix, StringComparison.Ordinal)).ToList();
Safetensors.Write(Path.Combine(outDir, "fashion_int8_calibration.safetensors"), calibration);
Console.WriteLine($"{count} test images and labels, {calibration.Count} calibration tensors -> {outDir}");
return 0;

static byte[] ReadIdx(string path, int magic, int header)
{
    if (!File.Exists(path)) throw new FileNotFoundException($"{path} not found: apt-get install dataset-fashion-mnist, or pass its directory");
    using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
    using var buffer = new MemoryStream();
    gz.CopyTo(buffer);
    byte[] data = buffer.ToArray();
    int found = (data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3];
    if (found != magic) throw new InvalidDataException($"{path}: magic 0x{found:x}, expected 0x{magic:x}");
    return data.AsSpan(header).ToArray();
}

static string FindRepository()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "ShuffleNetGen.sln"))) return dir.FullName;
    throw new InvalidOperationException("run from the repository (ShuffleNetGen.sln not found above " + AppContext.BaseDirectory + ")");
}
