using System.Text.Json;
using ShuffleNetGen.Tests.Reference;
using Xunit;

namespace ShuffleNetGen.Tests.Fixtures;

/// <summary>
/// One PyTorch fixture written by <c>tools/make_fixtures.py</c>: the config, the weights, an input image and the
/// logits PyTorch computed for it in float64. The <c>megvii_*</c> fixtures come from <c>tools/make_megvii_fixtures.py</c>:
/// weights converted by <c>tools/megvii_convert.py</c> from a network in the official megvii layout, whose forward pass
/// gave the logits; their config says <c>"shuffle_order": "official"</c>.
/// </summary>
public sealed record PyTorchFixture(string Name, ReferenceConfig Config, TensorSet Weights, float[] Input, float[] Logits)
{
    /// <summary>The fixtures the Python tools generate.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "g3_small_64", "g8_gray_48x40", "g2_odd_33", "megvii_g8_official_48", "megvii_g4_official_48" };

    /// <summary><see cref="Names"/> for <c>[MemberData]</c>.</summary>
    public static TheoryData<string> NameData
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var name in Names) data.Add(name);
            return data;
        }
    }

    /// <summary>Fixtures are copied next to the test assembly by the csproj.</summary>
    public static string FixtureDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch");

    /// <summary>Loads fixture <paramref name="name"/> (one of <see cref="Names"/>), checking its parts agree.</summary>
    public static PyTorchFixture Load(string name)
    {
        string PathOf(string suffix) => Path.Combine(FixtureDirectory, name + suffix);

        using var json = JsonDocument.Parse(File.ReadAllBytes(PathOf(".json")));
        var root = json.RootElement;
        int[] IntArray(string key) => root.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var config = new ReferenceConfig(
            Groups: root.GetProperty("groups").GetInt32(),
            StemChannels: root.GetProperty("stem_channels").GetInt32(),
            StageChannels: IntArray("stage_channels"),
            StageRepeats: IntArray("stage_repeats"),
            InputChannels: root.GetProperty("input_channels").GetInt32(),
            InputHeight: root.GetProperty("input_height").GetInt32(),
            InputWidth: root.GetProperty("input_width").GetInt32(),
            Classes: root.GetProperty("classes").GetInt32(),
            StemStride: root.GetProperty("stem_stride").GetInt32(),
            StemMaxPool: root.GetProperty("stem_max_pool").GetBoolean(),
            OfficialShuffle: root.TryGetProperty("shuffle_order", out var order) && order.GetString() switch
            {
                "official" => true,
                "paper" => false,
                var other => throw new InvalidDataException($"{name}: shuffle_order '{other}' is neither 'paper' nor 'official'"),
            });

        var weights = Safetensors.Read(PathOf(".safetensors"));
        var (input, logits) = ReadInputAndLogits(PathOf(".io.safetensors"), name, config.InputChannels, config.InputHeight, config.InputWidth, config.Classes);
        return new PyTorchFixture(name, config, weights, input, logits);
    }

    /// <summary>
    /// A fixture's <c>NAME.io.safetensors</c> (this one's, and <see cref="V2Fixture"/>'s): the <c>input</c> image and the
    /// <c>logits</c> the framework computed, checked against the shapes the fixture's json gives.
    /// </summary>
    internal static (float[] Input, float[] Logits) ReadInputAndLogits(string path, string name, int channels, int height, int width, int classes)
    {
        var io = Safetensors.Read(path);
        var input = io["input"];
        var logits = io["logits"];

        // A fixture that disagrees with its own json would make every downstream failure misleading.
        var expectedInput = new[] { channels, height, width };
        if (!input.Shape.SequenceEqual(expectedInput))
            throw new InvalidDataException($"{name}: input has shape {input.ShapeText}, json says [{string.Join(", ", expectedInput)}]");
        if (!logits.Shape.SequenceEqual(new[] { classes }))
            throw new InvalidDataException($"{name}: logits have shape {logits.ShapeText}, json says [{classes}]");
        return (input.Data, logits.Data);
    }
}
