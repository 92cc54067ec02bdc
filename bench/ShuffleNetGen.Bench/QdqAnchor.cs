using Microsoft.ML.OnnxRuntime;
using ShuffleNetGen.Onnx;
using ShuffleNetGen.Weights;

namespace ShuffleNetGen.Bench;

/// <summary>The trained Fashion-MNIST model, int8: the model tools/quantize.py's QDQ fixture was made for.</summary>
[ShuffleNet(Groups = 3, Scale = 0.5, Stages = new[] { 4, 8, 4 }, StageChannels = new[] { 120, 240, 480 }, StemChannels = 12,
    InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false, Precision = Precision.Int8)]
public partial class FashionInt8;

/// <summary>
/// The like-for-like anchor of the torch.ao route: the QDQ model tools/quantize.py wrote for the trained Fashion-MNIST
/// model (tests/ShuffleNetGen.Tests/Fixtures/int8), run by ONNX Runtime and, through OnnxWeights.Read, by
/// ShuffleNetGen's int8 model, on the fixture's 64 test images; both compared with torch's own quantized model and
/// with float. ORT runs the pairs at 8 bits, ShuffleNetGen at 7 over the same ranges, so they agree closely, not exactly.
/// </summary>
internal static class QdqAnchor
{
    public static void Run(string repo)
    {
        string folder = Path.Combine(repo, "tests", "ShuffleNetGen.Tests", "Fixtures", "int8");
        string onnx = Path.Combine(folder, "fashion_torchao_qdq.onnx");
        var io = Safetensors.Read(Path.Combine(folder, "fashion_torchao.io.safetensors"));
        var input = io["input"].Data;
        var torchInt8 = io["torch_int8_logits"].Data;
        var torchFloat = io["float_logits"].Data;
        int count = io["input"].Shape[0], length = FashionInt8.InputLength, classes = FashionInt8.Classes;

        var sng = FashionInt8.FromTensors(OnnxWeights.Read(onnx, FashionInt8.Description));
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED };
        using var session = new InferenceSession(onnx, options);
        using var runOptions = new RunOptions();
        string inputName = session.InputMetadata.Keys.Single();

        var rows = new Dictionary<string, float[][]> { ["ort_int8"] = new float[count][], ["sng_int8"] = new float[count][], ["torch_int8"] = new float[count][], ["float"] = new float[count][] };
        for (int k = 0; k < count; k++)
        {
            var image = input.AsSpan(k * length, length).ToArray();
            using var ortInput = OrtValue.CreateTensorValueFromMemory(image, new long[] { 1, 1, 28, 28 });
            using var outputs = session.Run(runOptions, new[] { inputName }, new[] { ortInput }, session.OutputNames);
            rows["ort_int8"][k] = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            rows["sng_int8"][k] = new float[classes];
            sng.Forward(image, rows["sng_int8"][k]);
            rows["torch_int8"][k] = torchInt8.AsSpan(k * classes, classes).ToArray();
            rows["float"][k] = torchFloat.AsSpan(k * classes, classes).ToArray();
        }

        Console.WriteLine($"{Path.GetFileName(onnx)}, {count} Fashion-MNIST test images: ONNX Runtime {OrtEnv.Instance().GetVersionString()} (CPU, ORT_ENABLE_EXTENDED) and ShuffleNetGen (OnnxWeights.Read, Precision.Int8) on the same file");
        Console.WriteLine($"{"pair",-24} {"top1",7} {"cos_min",9} {"max|dlogit|",12}");
        foreach (var (a, b) in new[] { ("sng_int8", "ort_int8"), ("sng_int8", "torch_int8"), ("ort_int8", "torch_int8"), ("sng_int8", "float"), ("ort_int8", "float") })
        {
            int agree = 0;
            double worstCosine = 1, worstDifference = 0;
            for (int k = 0; k < count; k++)
            {
                var x = rows[a][k];
                var y = rows[b][k];
                if (Int8Accuracy.ArgMax(x) == Int8Accuracy.ArgMax(y)) agree++;
                worstCosine = Math.Min(worstCosine, Int8Accuracy.Cosine(x, y, centre: false));
                for (int i = 0; i < classes; i++) worstDifference = Math.Max(worstDifference, Math.Abs((double)x[i] - y[i]));
            }
            Console.WriteLine($"{a + " vs " + b,-24} {agree,3}/{count,-3} {worstCosine,9:F5} {worstDifference,12:F4}");
        }
    }
}
