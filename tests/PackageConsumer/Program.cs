using System;
using ShuffleNetGen;

var model = TinyNet.CreateRandom(seed: 3);
var logits = new float[TinyNet.Classes];
model.Forward(new float[TinyNet.InputLength], logits);
Console.WriteLine(FormattableString.Invariant($"classes={TinyNet.Classes} macs={TinyNet.MultiplyAdds} logit0={logits[0]:R}"));

[ShuffleNet(Groups = 3, Scale = 0.5, InputChannels = 1, InputHeight = 32, InputWidth = 32, Classes = 10)]
public partial class TinyNet;
