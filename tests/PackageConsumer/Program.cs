using System;
using System.Globalization;
using System.Linq;
using Acme.Vision;
using ShuffleNetGen;

// Built by PackageTests from the packed packages, in a directory outside the repository, with the project file taken
// from the README ("Use it in your project") and the README's JSON model, which reaches the generator with no
// AdditionalFiles line. Prints the logits of both models; the test compares them with references it computes itself.
//   args[0]: an ONNX export of the G8Gray48x40 fixture; args[1]: the fixture's input (safetensors, tensor "input")
//   args[2]: torchvision's ShuffleNetV2 of the v2 gray_2stages_40x36 fixture through torch.onnx.export; args[3]: its input

var tiny = TinyNet.CreateRandom(seed: 3);
var tinyLogits = new float[TinyNet.Classes];
tiny.Forward(new float[TinyNet.InputLength], tinyLogits);
Console.WriteLine($"json TinyNet macs={TinyNet.MultiplyAdds} logits={Format(tinyLogits)}");

var onnx = G8Gray48x40.FromOnnx(args[0]);
var onnxLogits = new float[G8Gray48x40.Classes];
onnx.Forward(Safetensors.Read(args[1])["input"].Data, onnxLogits);
Console.WriteLine($"onnx G8Gray48x40 logits={Format(onnxLogits)}");

var v2 = V2Gray2Stages40x36.FromOnnx(args[2]);
var v2Logits = new float[V2Gray2Stages40x36.Classes];
v2.Forward(Safetensors.Read(args[3])["input"].Data, v2Logits);
Console.WriteLine($"onnx V2Gray2Stages40x36 logits={Format(v2Logits)}");

// The same two passes on a 2-thread team (NativeAOT included): the logits must be the one-thread ones, bit for bit.
using (var team = new ShuffleNetTeam(2))
{
    var teamLogits = new float[G8Gray48x40.Classes];
    onnx.Forward(Safetensors.Read(args[1])["input"].Data, teamLogits, team);
    var v2TeamLogits = new float[V2Gray2Stages40x36.Classes];
    v2.Forward(Safetensors.Read(args[3])["input"].Data, v2TeamLogits, team);
    bool identical = teamLogits.AsSpan().SequenceEqual(onnxLogits) && v2TeamLogits.AsSpan().SequenceEqual(v2Logits);
    Console.WriteLine($"team threads={team.ThreadCount} identical={(identical ? "yes" : "no")}");
}

static string Format(float[] values) => string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

// The fixture's configuration (tools/make_fixtures.py), declared by attribute.
[ShuffleNet(Groups = 8, StemChannels = 16, StageChannels = new[] { 64, 128 }, Stages = new[] { 2, 2 }, InputChannels = 1, InputHeight = 48, InputWidth = 40, Classes = 7, StemStride = 1, StemMaxPool = false)]
public partial class G8Gray48x40;

// The v2 fixture's configuration (tools/make_v2_fixtures.py): ShuffleNet v2 through the same packages.
[ShuffleNetV2(StemChannels = 8, StageChannels = new[] { 24, 48 }, Stages = new[] { 2, 2 }, FinalChannels = 64, InputChannels = 1, InputHeight = 40, InputWidth = 36, Classes = 5)]
public partial class V2Gray2Stages40x36;

// Deliberately too small for five stride-2 steps: the generator warns (SNG0014), and with TreatWarningsAsErrors this
// project only builds if that warning honours #pragma like any compiler warning.
#pragma warning disable SNG0014
[ShuffleNet(Scale = 0.25, InputHeight = 8, InputWidth = 32, Classes = 10)]
public partial class TooSmallNet;
#pragma warning restore SNG0014
