using System;
using ShuffleNetGen;

var model = TinyNet.CreateRandom(seed: 3);
var logits = new float[TinyNet.Classes];
model.Forward(new float[TinyNet.InputLength], logits);
Console.WriteLine(FormattableString.Invariant($"classes={TinyNet.Classes} macs={TinyNet.MultiplyAdds} logit0={logits[0]:R}"));

[ShuffleNet(Groups = 3, Scale = 0.5, InputChannels = 1, InputHeight = 32, InputWidth = 32, Classes = 10)]
public partial class TinyNet;

// Deliberately too small for five stride-2 steps: the generator warns (SNG0014), and with TreatWarningsAsErrors this
// project only builds if that warning honours #pragma like any compiler warning.
#pragma warning disable SNG0014
[ShuffleNet(Scale = 0.25, InputHeight = 8, InputWidth = 32, Classes = 10)]
public partial class TooSmallNet;
#pragma warning restore SNG0014
