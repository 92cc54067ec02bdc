using ShuffleNetGen;

namespace FashionMnist;

// Temporary: the same model as FashionNet.shufflenet.json, declared with the attribute until the generator reads JSON
// declarations. Delete this file then; the project file adds the JSON as an AdditionalFiles item once it is gone.
// Widths: g = 3 at 0.5x (stem 12, stages 120/240/480) for 1x28x28 Fashion-MNIST, trained by tools/train_fashion_mnist.py.
[ShuffleNet(Groups = 3, Scale = 0.5, Stages = new[] { 4, 8, 4 }, StageChannels = new[] { 120, 240, 480 }, StemChannels = 12,
    InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false)]
public partial class FashionNet;
