using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using Xunit;

namespace ShuffleNetGen.Tests.Fixtures;

/// <summary>
/// One ShuffleNet v2 fixture written by <c>tools/make_v2_fixtures.py</c> from torchvision's own <c>ShuffleNetV2</c>:
/// the architecture, an input image and the logits torchvision computed for it in float64, and the weights with
/// torchvision's state_dict names. Stored cases keep the weights (all of the state_dict, <c>num_batches_tracked</c>
/// as int64) in <c>NAME.safetensors</c> beside ONNX exports; the <c>tv_*</c> cases are torchvision's
/// shufflenet_v2_x0_5 .. x2_0 exactly, too large to commit (5.5 to 29.6 MB), so <see cref="Weights"/> rebuilds them
/// from the json's seed with the generator both sides share (<see cref="Generate"/>) and checks the SHA-256 sums the
/// script recorded, and <see cref="WeightsFile"/> writes them out as the file the script would have written.
/// </summary>
public sealed record V2Fixture(
    string Name,
    ReferenceV2Config Config,
    double? Scale,
    string Covers,
    int Seed,
    bool Stored,
    string LayoutSha256,
    string DataSha256,
    IReadOnlyList<string> OnnxFiles,
    float[] Input,
    float[] Logits)
{
    /// <summary>Every v2 fixture, the torchvision width multipliers first.</summary>
    public static IReadOnlyList<string> Names { get; } = new[]
    {
        "tv_x0_5_64x64", "tv_x1_0_56x40", "tv_x1_5_32x32", "tv_x2_0_48x64",
        "custom_57x41", "custom_odd_halves_17x13", "gray_2stages_40x36", "one_stage_21x30", "four_stages_80x72",
    };

    /// <summary>The fixtures whose weights file and ONNX exports are committed.</summary>
    public static IReadOnlyList<string> StoredNames { get; } = Names.Where(n => !n.StartsWith("tv_", StringComparison.Ordinal)).ToArray();

    public static TheoryData<string> NameData => ToData(Names);

    public static TheoryData<string> StoredNameData => ToData(StoredNames);

    private static TheoryData<string> ToData(IEnumerable<string> names)
    {
        var data = new TheoryData<string>();
        foreach (var name in names) data.Add(name);
        return data;
    }

    /// <summary>Fixtures are copied next to the test assembly by the csproj.</summary>
    public static string FixtureDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "v2");

    /// <summary>A file of the fixture folder, e.g. <c>custom_57x41_bn.onnx</c>.</summary>
    public static string PathOf(string file) => Path.Combine(FixtureDirectory, file);

    /// <summary>Loads fixture <paramref name="name"/> (one of <see cref="Names"/>), checking its parts agree.</summary>
    public static V2Fixture Load(string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(PathOf(name + ".json")));
        var root = json.RootElement;
        int Int(string key) => root.GetProperty(key).GetInt32();
        int[] IntArray(string key) => root.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        if (root.GetProperty("architecture").GetString() != "shufflenet_v2")
            throw new InvalidDataException($"{name}: not a shufflenet_v2 fixture");
        var config = new ReferenceV2Config(Int("stem_channels"), IntArray("stage_channels"), IntArray("stage_repeats"), Int("final_channels"),
            Int("input_channels"), Int("input_height"), Int("input_width"), Int("classes"));
        var scaleElement = root.GetProperty("scale");
        double? scale = scaleElement.ValueKind == JsonValueKind.Null ? null : scaleElement.GetDouble();
        var weights = root.GetProperty("weights");
        var onnx = root.GetProperty("onnx").EnumerateObject().Select(p => p.Name).ToArray();

        var (input, logits) = PyTorchFixture.ReadInputAndLogits(PathOf(name + ".io.safetensors"), name,
            config.InputChannels, config.InputHeight, config.InputWidth, config.Classes);

        return new V2Fixture(name, config, scale, root.GetProperty("covers").GetString() ?? "", weights.GetProperty("seed").GetInt32(),
            weights.GetProperty("stored").GetBoolean(), weights.GetProperty("layout_sha256").GetString()!, weights.GetProperty("data_sha256").GetString()!,
            onnx, input, logits);
    }

    /// <summary>
    /// The float weights by torchvision name (no <c>num_batches_tracked</c>): the committed file through the runtime's
    /// reader for a stored case, else rebuilt from the seed and checked against the recorded SHA-256 sums.
    /// </summary>
    public TensorSet Weights()
    {
        if (Stored) return Safetensors.Read(PathOf(Name + ".safetensors"));
        var tensors = Generate(Config, Seed);
        CheckHashes(tensors);
        var set = new TensorSet();
        foreach (var t in tensors)
            if (t.Float is { } data) set.Add(t.Name, t.Shape, data);
        return set;
    }

    /// <summary>
    /// A safetensors file holding the whole state_dict as torch has it (int64 <c>num_batches_tracked</c> included):
    /// the committed file, or for a seeded case one written once into the temp directory, byte for byte what
    /// <c>make_v2_fixtures.py --materialize</c> writes.
    /// </summary>
    public string WeightsFile()
    {
        if (Stored) return PathOf(Name + ".safetensors");
        string dir = Path.Combine(Path.GetTempPath(), "ShuffleNetGen-v2-fixtures");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{Name}-{DataSha256[..16]}.safetensors");
        if (File.Exists(path) && DataSectionSha256(path) == DataSha256) return path;
        var tensors = Generate(Config, Seed);
        CheckHashes(tensors);
        string temp = path + $".{Guid.NewGuid():N}.tmp";
        using (var stream = File.Create(temp)) WriteStateDict(stream, tensors);
        File.Move(temp, path, overwrite: true);
        return path;
    }

    private void CheckHashes(IReadOnlyList<StateTensor> tensors)
    {
        if (LayoutSha256Of(tensors) != LayoutSha256)
            throw new InvalidDataException($"{Name}: the rebuilt tensor names, shapes or dtypes differ from the ones the script recorded");
        if (DataSha256Of(tensors) != DataSha256)
            throw new InvalidDataException($"{Name}: the weights rebuilt from seed {Seed} differ from the ones the script used");
    }

    /// <summary>One state_dict entry: float32 data, or the int64 value of a <c>num_batches_tracked</c> scalar.</summary>
    public sealed record StateTensor(string Name, int[] Shape, float[]? Float, long Int64 = 0)
    {
        public string DType => Float is null ? "I64" : "F32";

        public byte[] Bytes()
        {
            if (Float is null)
            {
                var b = new byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(b, Int64);
                return b;
            }
            var bytes = new byte[Float.Length * 4];
            for (int i = 0; i < Float.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), Float[i]);
            return bytes;
        }
    }

    /// <summary>
    /// The seeded state_dict of tools/torchvision_v2.py <c>seeded_state_dict</c>: a SplitMix64 stream, one double per
    /// value in state_dict order, mapped to float32(lo + (hi - lo) u) with the bounds of its tensor; num_batches_tracked
    /// is int64 0 and draws nothing.
    /// </summary>
    public static IReadOnlyList<StateTensor> Generate(ReferenceV2Config config, int seed)
    {
        ulong state = 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed;
        double Next()
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }

        var list = new List<StateTensor>();
        foreach (var (name, shape) in ReferenceShuffleNetV2.WeightShapes(config, includeBatchCounters: true))
        {
            if (name.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
            {
                list.Add(new StateTensor(name, shape, null));
                continue;
            }
            int count = shape.Aggregate(1, (a, d) => a * d);
            var (lo, hi) = Bounds(name, shape, count);
            var data = new float[count];
            for (int i = 0; i < count; i++) data[i] = (float)(lo + (hi - lo) * Next());
            list.Add(new StateTensor(name, shape, data));
        }
        return list;
    }

    private static (double Lo, double Hi) Bounds(string name, int[] shape, int count)
    {
        if (name == "fc.weight")
        {
            double b = 1.0 / Math.Sqrt(shape[1]);
            return (-b, b);
        }
        if (name == "fc.bias") return (-0.1, 0.1);
        if (shape.Length == 4)
        {
            double b = Math.Sqrt(6.0 / (count / shape[0]));
            return (-b, b);
        }
        return name[(name.LastIndexOf('.') + 1)..] switch
        {
            "weight" => (0.5, 1.5),
            "bias" => (-0.2, 0.2),
            "running_mean" => (-0.2, 0.2),
            "running_var" => (0.5, 1.5),
            var other => throw new InvalidOperationException($"no bounds for '{name}' ({other})"),
        };
    }

    /// <summary>SHA-256 of one line per tensor, "name DTYPE d0,d1,...\n" (tools/torchvision_v2.py layout_sha256).</summary>
    public static string LayoutSha256Of(IEnumerable<StateTensor> tensors)
    {
        var text = new StringBuilder();
        foreach (var t in tensors) text.Append(t.Name).Append(' ').Append(t.DType).Append(' ').Append(string.Join(",", t.Shape)).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>SHA-256 of the tensors' little-endian bytes in order (tools/torchvision_v2.py data_sha256).</summary>
    public static string DataSha256Of(IEnumerable<StateTensor> tensors)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var t in tensors) sha.AppendData(t.Bytes());
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The header of a safetensors file as (name, dtype, shape) in header order, read with System.Text.Json.</summary>
    public static IReadOnlyList<(string Name, string DType, int[] Shape)> ReadHeader(string path)
    {
        var (header, _) = SafetensorsFiles.Split(File.ReadAllBytes(path));
        using var doc = JsonDocument.Parse(header);
        return doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
            .Select(p => (p.Name, p.Value.GetProperty("dtype").GetString()!, p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToArray();
    }

    /// <summary>SHA-256 of a safetensors file's data section: equals the data hash when the tensors lie in order.</summary>
    public static string DataSectionSha256(string path)
    {
        var (_, data) = SafetensorsFiles.Split(File.ReadAllBytes(path));
        return Convert.ToHexStringLower(SHA256.HashData(data));
    }

    /// <summary>Writes F32 and I64 tensors as safetensors, in order, header padded with spaces to 8 bytes (as tools/safetensors_io.py).</summary>
    public static void WriteStateDict(Stream stream, IReadOnlyList<StateTensor> tensors)
    {
        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            long offset = 0;
            foreach (var t in tensors)
            {
                long bytes = t.Float is null ? 8 : 4L * t.Float.Length;
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType);
                w.WriteStartArray("shape");
                foreach (int d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int padded = (int)((json.Length + 7) & ~7L);
        var prefix = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(prefix.AsSpan(8));
        prefix.AsSpan(8 + (int)json.Length).Fill((byte)' ');
        stream.Write(prefix);
        foreach (var t in tensors) stream.Write(t.Bytes());
    }
}
