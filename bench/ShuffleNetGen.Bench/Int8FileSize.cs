using ShuffleNetGen.Quantization;
using ShuffleNetGen.Weights;

namespace ShuffleNetGen.Bench;

/// <summary>
/// <c>--int8-file-size</c>: the bench's int8 model (1x g = 3, 224x224) as weights at rest, the calibrated F32 file
/// against its int8 weight file, with what each holds. File sizes follow from the shapes alone, so random weights
/// (seed 2024, calibrated as <c>CreateRandom</c> does) give the sizes a trained model would.
/// </summary>
internal static class Int8FileSize
{
    public static void Run(int seed)
    {
        var description = G3One224Int8.Description;
        var calibrated = RandomWeights.ForModel(description, seed);
        var floatFile = new MemoryStream();
        Safetensors.Write(floatFile, calibrated);
        var int8File = new MemoryStream();
        Safetensors.Write(int8File, calibrated, description);

        var folded = Int8WeightFile.Fold(description, calibrated);
        long i8 = folded.Where(t => t.DType == TensorDType.I8).Sum(t => (long)t.Data.Length);
        long f32 = folded.Where(t => t.DType == TensorDType.F32).Sum(t => (long)t.Data.Length);
        long floats = calibrated.Sum(t => (long)t.Data.Length);
        Console.WriteLine($"g3_1x_224_int8 weights at rest (random weights, seed {seed}, calibrated on 4 images)");
        Console.WriteLine($"calibrated F32 file  {floatFile.Length,12:N0} bytes  ({floats:N0} F32 values)");
        Console.WriteLine($"int8 weight file     {int8File.Length,12:N0} bytes  ({i8:N0} I8 + {f32:N0} F32 values)");
        Console.WriteLine($"packed in memory     {G3One224Int8.PackedWeightBytes,12:N0} bytes");
        Console.WriteLine($"ratio_int8_file_vs_f32_file {(double)int8File.Length / floatFile.Length:F3}");

        // The file must bind to the model the calibrated tensors give; the first logits of one image say it did.
        int8File.Position = 0;
        var fromFile = G3One224Int8.FromSafetensors(int8File);
        var fromTensors = G3One224Int8.FromTensors(calibrated);
        var image = RandomWeights.Images(G3One224Int8.InputLength, 1, seed + 1)[0];
        var a = new float[G3One224Int8.Classes];
        var b = new float[G3One224Int8.Classes];
        fromFile.Forward(image, a);
        fromTensors.Forward(image, b);
        Console.WriteLine($"logits from the file and from the calibrated tensors bit-identical: {System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()))}");
    }
}
