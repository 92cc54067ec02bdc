using System.Diagnostics;
using CsCheck;
using Google.Protobuf;
using ShuffleNetGen.Onnx;
using ShuffleNetGen.Onnx.Protos;
using ShuffleNetGen.Tests.Fixtures;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Mutated ONNX files never crash, hang or over-allocate the importer: every case ends in
/// <see cref="OnnxFormatException"/> with a short, escaped message, or in a load whose tensors have the declared shapes
/// (and equal the unmutated file's when the mutation preserves meaning). Plus regression tests for what fuzzing found:
/// quadratic Identity chains, wrapped-around shape products, unbounded names in messages.
/// </summary>
public class OnnxFuzzTests
{
    private readonly ITestOutputHelper _output;

    public OnnxFuzzTests(ITestOutputHelper output) => _output = output;

    private const int MaxMessageLength = 3000;

    // Per-call cost that does not grow with the file: protobuf's message objects for every node and attribute, the
    // exceptions and their stack traces. A multiplicative blowup (a float[] for absurd dims, a message listing every
    // node) is megabytes on these 20-140 KB files, far above it.
    private const long FixedOverhead = 256 * 1024;

    private sealed record Fixture(string File, byte[] Bytes, ModelDescription Description, TensorSet Baseline, long WeightBytes);

    private static readonly Lazy<Fixture[]> Fixtures = new(() => new[]
    {
        LoadFixture("g8_gray_48x40.onnx", G8Gray48x40.Description),
        LoadFixture("g8_gray_48x40_bn.onnx", G8Gray48x40.Description),
        LoadFixture("g3_small_64_handbuilt.onnx", G3Small64.Description),
    });

    private static Fixture LoadFixture(string file, ModelDescription description)
    {
        var bytes = File.ReadAllBytes(OnnxFixture.Path(file));
        var baseline = OnnxWeights.Read(new MemoryStream(bytes), description);
        long weights = description.WeightLayout.Sum(t => t.Dimensions.Aggregate(4L, (a, d) => a * d));
        return new Fixture(file, bytes, description, baseline, weights);
    }

    private static Fixture FixtureOf(string file) => Fixtures.Value.Single(f => f.File == file);

    /// <summary>One fuzz case: a fixture, a mutation kind, and the seed that drives the mutation (replayable alone).</summary>
    public sealed record Case(int Fixture, int Kind, ulong Seed)
    {
        public override string ToString() => $"mutation {Kinds[Kind]} of fixture {Fixture}, case seed {Seed}";
    }

    internal static readonly string[] Kinds =
    {
        "truncate", "byte-flips", "bit-flips", "varint-edit", "splice", "initializer-dims", "initializer-data-type",
        "attribute-edit", "rewire", "reshape-target", "identity-chain", "hostile-names",
    };

    private sealed class Tally
    {
        public int Cases, Loaded, Rejected, Preserved;
        public long MaxAllocated;
        public double MaxRatio;
        public int LongestMessage;
        public readonly int[] ByKind = new int[Kinds.Length];
    }

    [Fact]
    [Trait("Category", "Slow")] // 10 s or more in CI (measured run, 2-core machine)
    public void MutatedFilesAreRejectedOrLoadCorrectlyWithinTheMemoryCap()
    {
        var tally = new Tally();
        var gen = from f in Gen.Int[0, Fixtures.Value.Length - 1]
                  from k in Gen.Int[0, Kinds.Length - 1]
                  from s in Gen.ULong
                  select new Case(f, k, s);
        var stopwatch = Stopwatch.StartNew();
        // One thread: allocation is measured per thread, and the machine is shared.
        gen.Sample(c => Run(c, tally), seed: FuzzSettings.Seed, iter: FuzzSettings.Iterations, threads: 1, print: c => c.ToString(),
            writeLine: _output.WriteLine);
        _output.WriteLine($"ONNX fuzz: {tally.Cases} cases in {stopwatch.Elapsed.TotalSeconds:F1} s ({tally.Loaded} loaded, {tally.Preserved} of them checked equal to the original; {tally.Rejected} rejected with OnnxFormatException); longest message {tally.LongestMessage} chars; most allocated by one case {tally.MaxAllocated / 1024} KB; largest (allocated - weights) / file size {tally.MaxRatio:F2}");
        _output.WriteLine("cases by mutation: " + string.Join(", ", Kinds.Select((k, i) => $"{k} {tally.ByKind[i]}")));
        Assert.True(tally.Rejected > tally.Cases / 4, $"only {tally.Rejected} of {tally.Cases} cases were rejected: the mutations are too tame");
        Assert.True(tally.Loaded > tally.Cases / 20, $"only {tally.Loaded} of {tally.Cases} cases loaded: the mutations are too hostile to reach the graph walk");
    }

    private static void Run(Case c, Tally tally)
    {
        var fixture = Fixtures.Value[c.Fixture];
        var random = new Random(unchecked((int)c.Seed ^ (int)(c.Seed >> 32)));
        var (bytes, preserving) = Mutate(fixture.Bytes, c.Kind, random);
        var stream = new MemoryStream(bytes, writable: false);

        TensorSet? tensors = null;
        OnnxFormatException? error = null;
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            tensors = OnnxWeights.Read(stream, fixture.Description);
        }
        catch (OnnxFormatException e)
        {
            error = e;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{c}: {e.GetType().Name} escaped the importer: {e}");
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // 16x, not 4x, the file: protobuf's objects outgrow their encoding. A packed varint holding a small integer is
        // one byte in the file and an 8-byte long in a RepeatedField<long>; a node of a few dozen bytes becomes a
        // NodeProto with its strings and lists. Seen: thousands of added ints, 518 KB for a 51 KB file; a spliced Identity
        // chain, 817 KB for a 64 KB file. The bound is still linear in the file, which is what the cap guards.
        long cap = 16L * bytes.Length + fixture.WeightBytes + FixedOverhead;
        Assert.True(allocated <= cap, $"{c}: the import allocated {allocated} bytes for a {bytes.Length}-byte file (cap {cap}: 16x the file plus {fixture.WeightBytes} bytes of weights plus {FixedOverhead})");
        tally.Cases++;
        tally.ByKind[c.Kind]++;
        tally.MaxAllocated = Math.Max(tally.MaxAllocated, allocated);
        tally.MaxRatio = Math.Max(tally.MaxRatio, (double)(allocated - fixture.WeightBytes) / Math.Max(bytes.Length, 1));

        if (error is not null)
        {
            string message = error.Message;
            // Checked with if: an interpolated failure text is built even when the assertion holds.
            if (message.Length > MaxMessageLength) Assert.Fail($"{c}: message of {message.Length} chars: {message[..200]}…");
            if (message.Any(char.IsControl)) Assert.Fail($"{c}: control character in message: {message}");
            tally.Rejected++;
            tally.LongestMessage = Math.Max(tally.LongestMessage, message.Length);
            return;
        }

        // A load: every declared tensor, with its declared shape and as many values.
        foreach (var t in tensors!) Assert.Equal(t.Shape.Aggregate(1L, (a, d) => a * d), t.Data.LongLength);
        try
        {
            WeightPacker.Validate(tensors!, fixture.Description.WeightLayout, fixture.Description.Name);
        }
        catch (WeightFormatException e) when (tensors!.Any(t => !t.Data.All(float.IsFinite)))
        {
            // A flip that makes a weight NaN or infinite imports (the importer does not judge values) and is refused
            // where every loader's weights are bound, naming the tensor.
            Assert.Contains("must be finite", e.Message);
            tally.Rejected++;
            return;
        }
        tally.Loaded++;
        if (preserving)
        {
            foreach (var t in fixture.Baseline)
                Assert.True(t.Data.AsSpan().SequenceEqual(tensors![t.Name].Data), $"{c}: a meaning-preserving mutation changed '{t.Name}'");
            tally.Preserved++;
        }
    }

    // ------------------------------------------------------------------ mutations

    private static readonly long[] Interesting =
    {
        0, 1, 2, 3, -1, -2, 7, 8, 16, 255, 256, int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue, 1L << 40,
        (1L << 61) + 2, long.MaxValue, long.MinValue, Array.MaxLength, Array.MaxLength + 1L,
    };

    private static long Pick(Random r) => r.Next(3) == 0 ? r.NextInt64(long.MinValue, long.MaxValue) : Interesting[r.Next(Interesting.Length)];

    /// <summary>The mutated file, and whether the mutation keeps the graph's meaning (so a load must equal the original).</summary>
    internal static (byte[] Bytes, bool Preserving) Mutate(byte[] original, int kind, Random r)
    {
        switch (kind)
        {
            case 0: // truncate
                return (original.AsSpan(0, r.Next(original.Length)).ToArray(), false);
            case 1: // byte flips, half of them in the first 4 KB where the nodes and attributes are
            {
                var copy = (byte[])original.Clone();
                int range = r.Next(2) == 0 ? copy.Length : Math.Min(4096, copy.Length);
                for (int k = r.Next(1, 9); k > 0; k--) copy[r.Next(range)] = (byte)r.Next(256);
                return (copy, false);
            }
            case 2: // bit flips
            {
                var copy = (byte[])original.Clone();
                for (int k = r.Next(1, 5); k > 0; k--) copy[r.Next(copy.Length)] ^= (byte)(1 << r.Next(8));
                return (copy, false);
            }
            case 3: // a varint (tag, length or value) replaced by another, possibly of another length
            {
                int at = r.Next(original.Length);
                while (at > 0 && (original[at - 1] & 0x80) != 0) at--;
                int end = at;
                while (end < original.Length && (original[end] & 0x80) != 0) end++;
                end = Math.Min(end + 1, original.Length);
                var varint = new List<byte>();
                ulong v = unchecked((ulong)Pick(r));
                do { byte b = (byte)(v & 0x7F); v >>= 7; varint.Add(v != 0 ? (byte)(b | 0x80) : b); } while (v != 0);
                return (original[..at].Concat(varint).Concat(original[end..]).ToArray(), false);
            }
            case 4: // splice: delete a range, or duplicate one
            {
                int at = r.Next(original.Length), length = Math.Min(r.Next(1, 64), original.Length - at);
                return r.Next(2) == 0
                    ? (original[..at].Concat(original[(at + length)..]).ToArray(), false)
                    : (original[..(at + length)].Concat(original[at..]).ToArray(), false);
            }
        }

        var model = ModelProto.Parser.ParseFrom(original);
        var graph = model.Graph;
        bool preserving = false;
        switch (kind)
        {
            case 5: // initializer dims
            {
                var init = RandomTensor(model, r);
                if (init is null) break;
                switch (r.Next(4))
                {
                    case 0 when init.Dims.Count > 0: init.Dims[r.Next(init.Dims.Count)] = Pick(r); break;
                    case 1 when init.Dims.Count > 1:
                    {
                        int a = r.Next(init.Dims.Count), b = r.Next(init.Dims.Count);
                        (init.Dims[a], init.Dims[b]) = (init.Dims[b], init.Dims[a]);
                        break;
                    }
                    case 2: init.Dims.Add(Pick(r)); break;
                    default:
                        if (init.Dims.Count > 0) init.Dims.RemoveAt(r.Next(init.Dims.Count));
                        else for (int k = r.Next(1, 2000); k > 0; k--) init.Dims.Add(r.Next(3));
                        break;
                }
                break;
            }
            case 6: // data type, or where the values are stored
            {
                var init = RandomTensor(model, r);
                if (init is null) break;
                switch (r.Next(3))
                {
                    case 0: init.DataType = r.Next(0, 18); break;
                    case 1: init.DataType = (int)Pick(r); break;
                    default:
                        if (init.RawData.Length > 0)
                        {
                            // The same values as float_data instead of raw_data: preserves meaning.
                            if (init.DataType == (int)TensorProto.Types.DataType.Float && init.RawData.Length % 4 == 0)
                            {
                                var span = init.RawData.Span;
                                for (int i = 0; i < span.Length; i += 4) init.FloatData.Add(BitConverter.ToSingle(span.Slice(i, 4)));
                                init.RawData = ByteString.Empty;
                                preserving = true;
                            }
                        }
                        else init.FloatData.Add(1f);
                        break;
                }
                break;
            }
            case 7: // attribute edits
            {
                var nodes = graph.Node.Where(x => x.Attribute.Count > 0).ToList();
                if (nodes.Count == 0) break;
                var node = nodes[r.Next(nodes.Count)];
                var a = node.Attribute[r.Next(node.Attribute.Count)];
                switch (r.Next(6))
                {
                    case 0: a.I = Pick(r); break;
                    case 1 when a.Ints.Count > 0: a.Ints[r.Next(a.Ints.Count)] = Pick(r); break;
                    case 2: a.Type = (AttributeProto.Types.AttributeType)r.Next(0, 16); break;
                    case 3: node.Attribute.Remove(a); break;
                    case 4: a.S = ByteString.CopyFromUtf8(HostileName(r)); break;
                    default: for (int k = r.Next(1, 5000); k > 0; k--) a.Ints.Add(Pick(r)); break;
                }
                break;
            }
            case 8: // rewires
            {
                var values = graph.Node.SelectMany(x => x.Output).Concat(graph.Initializer.Select(i => i.Name)).Concat(graph.Input.Select(i => i.Name)).ToList();
                var node = graph.Node[r.Next(graph.Node.Count)];
                switch (r.Next(5))
                {
                    case 0 when node.Input.Count > 0: node.Input[r.Next(node.Input.Count)] = values[r.Next(values.Count)]; break;
                    case 1: node.Output[0] = values[r.Next(values.Count)]; break;
                    case 2: graph.Node.Add(node.Clone()); break;
                    case 3: graph.Node.Remove(node); break;
                    default:
                    {
                        // Swap two nodes' outputs.
                        var other = graph.Node[r.Next(graph.Node.Count)];
                        (node.Output[0], other.Output[0]) = (other.Output[0], node.Output[0]);
                        break;
                    }
                }
                break;
            }
            case 9: // reshape targets
            {
                var reshapes = graph.Node.Where(x => x.OpType == "Reshape" && x.Input.Count > 1).ToList();
                if (reshapes.Count == 0) break;
                var target = ConstantOf(graph, reshapes[r.Next(reshapes.Count)].Input[1]);
                if (target is null) break;
                var shape = Int64s(target);
                if (shape.Length == 0) break;
                int at = r.Next(shape.Length);
                // Half the time a wrap-around multiple: 8 · (2^61 + k) = 8k (mod 2^64).
                shape[at] = r.Next(2) == 0 ? shape[at] + (1L << 61) : Pick(r);
                SetInt64s(target, shape);
                break;
            }
            case 10: // an Identity chain spliced in after a random node output: preserves meaning
            {
                var node = graph.Node[r.Next(graph.Node.Count)];
                if (node.OpType == "Constant") break;
                string value = node.Output[0];
                int length = r.Next(1, 400);
                string chainEnd = value + "/chain" + length;
                foreach (var consumer in graph.Node)
                    for (int i = 0; i < consumer.Input.Count; i++)
                        if (consumer.Input[i] == value) consumer.Input[i] = chainEnd;
                foreach (var output in graph.Output) if (output.Name == value) output.Name = chainEnd;
                for (int k = 1; k <= length; k++)
                    graph.Node.Add(new NodeProto { OpType = "Identity", Name = $"chain{k}", Input = { k == 1 ? value : value + "/chain" + (k - 1) }, Output = { value + "/chain" + k } });
                preserving = true;
                break;
            }
            default: // hostile names: a value renamed everywhere (preserves meaning), or a node renamed and broken
            {
                string name = HostileName(r);
                if (r.Next(2) == 0 && graph.Initializer.Count > 0)
                {
                    var init = graph.Initializer[r.Next(graph.Initializer.Count)];
                    string old = init.Name;
                    init.Name = name;
                    foreach (var node in graph.Node)
                        for (int i = 0; i < node.Input.Count; i++)
                            if (node.Input[i] == old) node.Input[i] = name;
                    foreach (var input in graph.Input) if (input.Name == old) input.Name = name;
                    preserving = true;
                }
                else
                {
                    var node = graph.Node[r.Next(graph.Node.Count)];
                    node.Name = name;
                    if (r.Next(2) == 0) node.OpType = HostileName(r);
                    else if (node.Attribute.Count > 0) node.Attribute[0].I += 1;
                }
                break;
            }
        }
        return (model.ToByteArray(), preserving);
    }

    private static TensorProto? RandomTensor(ModelProto model, Random r)
    {
        var tensors = model.Graph.Initializer
            .Concat(model.Graph.Node.SelectMany(n => n.Attribute).Where(a => a.T is not null).Select(a => a.T)).ToList();
        return tensors.Count == 0 ? null : tensors[r.Next(tensors.Count)];
    }

    private static TensorProto? ConstantOf(GraphProto graph, string value) =>
        graph.Initializer.FirstOrDefault(i => i.Name == value)
        ?? graph.Node.Where(n => n.OpType == "Constant" && n.Output[0] == value).SelectMany(n => n.Attribute).Select(a => a.T).FirstOrDefault(t => t is not null);

    private static long[] Int64s(TensorProto t) =>
        t.RawData.Length > 0
            ? Enumerable.Range(0, t.RawData.Length / 8).Select(i => BitConverter.ToInt64(t.RawData.Span.Slice(i * 8, 8))).ToArray()
            : t.Int64Data.ToArray();

    private static void SetInt64s(TensorProto t, long[] values)
    {
        if (t.RawData.Length > 0) t.RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray());
        else
        {
            t.Int64Data.Clear();
            t.Int64Data.Add(values);
        }
    }

    private static string HostileName(Random r) => r.Next(4) switch
    {
        0 => "evil\n\u001b[31mERROR: forged log line\u001b[0m\r\n",
        1 => new string('x', r.Next(1000, 200_000)),
        2 => "\u202Egnp.exe\u2028\u0000",
        _ => string.Concat(Enumerable.Range(0, r.Next(1, 50)).Select(_ => (char)r.Next(0, 0x3000))),
    };

    // ------------------------------------------------------------------ QDQ activation parameters

    private static readonly Lazy<byte[]> TorchAoQdqBytes = new(() =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "int8", "fashion_torchao_qdq.onnx")));

    private static readonly float[] InterestingScales =
    {
        0f, -0f, -1e-3f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, 1e-38f, 1e-30f, 1e-3f,
        1e30f, 1e36f, 2e36f, 1e37f, 3e38f, float.MaxValue,
    };

    /// <summary>
    /// The torch.ao QDQ fixture with its activation quantization mutated, 1 to 3 edits a case: a scale set to zero,
    /// a negative, NaN, an infinity, a subnormal, a huge value or random bits; a zero point set to a random byte or
    /// given another data type; one half of a pair given parameters of its own (equal or not). A hostile trial found 2
    /// of 200 such cases loading a range past float as scale 1. Oracle, from the file's own bytes: a load must come
    /// from a file whose every activation pair is meaningful (scales positive and finite, halves equal), and each 1x1
    /// input's scale and zero point must cover exactly the range its pair states; a file that is meaningful, 8-bit on
    /// the 1x1 inputs and within float range must load. Binding may refuse only an input scale.
    /// </summary>
    [Fact]
    public void MutatedActivationScalesAndZeroPointsAreRejectedOrLoadTheRangeTheyState()
    {
        int iterations = Math.Max(FuzzSettings.Iterations * 2 / 15, 1); // 200 by default
        int loaded = 0, rejected = 0, refusedAtBind = 0;
        var stopwatch = Stopwatch.StartNew();
        Gen.ULong.Sample(seed =>
        {
            var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
            var model = ModelProto.Parser.ParseFrom(TorchAoQdqBytes.Value);
            for (int k = random.Next(1, 4); k > 0; k--) MutateActivationQdq(model, random);
            var verdict = QdqVerdict(model);
            TensorSet tensors;
            try
            {
                tensors = OnnxWeights.Read(new MemoryStream(model.ToByteArray()), FashionNetInt8ForTests.Description);
            }
            catch (OnnxFormatException e)
            {
                if (e.Message.Length > MaxMessageLength || e.Message.Any(char.IsControl)) Assert.Fail($"case {seed}: message {e.Message[..Math.Min(200, e.Message.Length)]}");
                if (verdict.MustLoad) Assert.Fail($"case {seed}: a meaningful file within float range was rejected: {e.Message}");
                rejected++;
                return;
            }
            if (verdict.Problem is { } problem) Assert.Fail($"case {seed}: loaded although {problem}");
            foreach (var (conv, low, high) in verdict.InputRanges)
            {
                float scale = tensors[conv + ".input_scale"].Data[0], zero = tensors[conv + ".input_zero_point"].Data[0];
                double lo = Math.Min(low, 0), hi = Math.Max(high, 0), width = (hi - lo) / 127;
                // One rounding to float: relative, or one subnormal step for the tiniest scales.
                if (!(Math.Abs(scale - width) <= 1e-6 * width + float.Epsilon))
                    Assert.Fail($"case {seed}: {conv} states [{low:R}, {high:R}], so a scale near {width:R}; it loaded as {scale:R}");
                double z = Math.Clamp(-lo / scale, 0, 127);
                if (!(Math.Abs(zero - z) <= 0.5 + 1e-6)) Assert.Fail($"case {seed}: {conv} zero point {zero} for a range whose zero sits at {z:R}");
            }
            loaded++;
            try
            {
                FashionNetInt8ForTests.FromTensors(tensors);
            }
            catch (WeightFormatException e) when (e.TensorName?.EndsWith(".input_scale", StringComparison.Ordinal) == true)
            {
                refusedAtBind++; // a scale so large or small the int8 kernels have no multiplier or inverse for it
            }
        }, seed: FuzzSettings.Seed, iter: iterations, threads: 1, print: seed => $"case seed {seed}", writeLine: _output.WriteLine);
        _output.WriteLine($"QDQ activation fuzz: {iterations} cases in {stopwatch.Elapsed.TotalSeconds:F1} s; {rejected} rejected by the importer, {loaded} loaded ({refusedAtBind} of them refused at bind, naming an input scale)");
        Assert.True(rejected > iterations / 10 && loaded > iterations / 10, $"{rejected} rejected, {loaded} loaded: the mutations are too tame or too hostile");
    }

    private static void MutateActivationQdq(ModelProto model, Random r)
    {
        var graph = model.Graph;
        var pairs = graph.Node.Where(n => n.OpType == "QuantizeLinear").ToList();
        var quantize = pairs[r.Next(pairs.Count)];
        var dequantize = graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Input[0] == quantize.Output[0]);
        var node = r.Next(2) == 0 ? quantize : dequantize;
        switch (r.Next(5))
        {
            case 0: // a scale
                SetFloat(graph, node.Input[1], r.Next(4) == 0 ? BitConverter.Int32BitsToSingle(r.Next(int.MinValue, int.MaxValue)) : InterestingScales[r.Next(InterestingScales.Length)]);
                break;
            case 1: // a zero point
                Initializer(graph, node.Input[2]).RawData = ByteString.CopyFrom((byte)r.Next(256));
                break;
            case 2: // the zero point's type
            {
                var zero = Initializer(graph, node.Input[2]);
                byte b = zero.RawData[0];
                switch (r.Next(4))
                {
                    case 0: zero.DataType = (int)TensorProto.Types.DataType.Int8; break;
                    case 1: zero.DataType = (int)TensorProto.Types.DataType.Uint16; zero.RawData = ByteString.CopyFrom(b, (byte)0); break;
                    case 2: zero.DataType = (int)TensorProto.Types.DataType.Int32; zero.RawData = ByteString.CopyFrom(b, (byte)0, (byte)0, (byte)0); break;
                    default: zero.DataType = r.Next(0, 18); break;
                }
                break;
            }
            case 3: // one half with parameters of its own: the same values (harmless) or another scale
            {
                var scale = Initializer(graph, node.Input[1]).Clone();
                // Unique per application: the same node can draw this mutation twice, and two initializers of one
                // name would make the case about the duplicate, not about the parameters.
                scale.Name = node.Name + ".own_scale" + graph.Initializer.Count;
                graph.Initializer.Add(scale);
                string shared = node.Input[1];
                node.Input[1] = scale.Name;
                // Both halves of a pair may draw this: the scale they shared then feeds nothing, and a file with an
                // unread weight is refused for that alone, which is not what this case is about.
                if (!graph.Node.Any(n => n.Input.Contains(shared))) graph.Initializer.Remove(Initializer(graph, shared));
                if (r.Next(2) == 0) SetFloat(graph, scale.Name, ReadFloat(scale) * (r.Next(2) == 0 ? 2f : 1.0000001f));
                break;
            }
            default: // a bit of a scale
            {
                var scale = Initializer(graph, node.Input[1]);
                var bytes = scale.RawData.ToByteArray();
                bytes[r.Next(bytes.Length)] ^= (byte)(1 << r.Next(8));
                scale.RawData = ByteString.CopyFrom(bytes);
                break;
            }
        }
    }

    private static TensorProto Initializer(GraphProto graph, string name) => graph.Initializer.Single(i => i.Name == name);

    private static float ReadFloat(TensorProto t) => t.RawData.Length == 4 ? BitConverter.ToSingle(t.RawData.Span) : t.FloatData[0];

    private static void SetFloat(GraphProto graph, string name, float value)
    {
        var t = Initializer(graph, name);
        t.FloatData.Clear();
        t.RawData = ByteString.CopyFrom(BitConverter.GetBytes(value));
    }

    private sealed record Verdict(string? Problem, bool MustLoad, List<(string Conv, double Low, double High)> InputRanges);

    /// <summary>What the mutated file states, read from its bytes without the importer: every pair's meaning, and the 1x1 inputs' ranges.</summary>
    private static Verdict QdqVerdict(ModelProto model)
    {
        var graph = model.Graph;
        string? problem = null;
        bool mustLoad = true;
        var ranges = new List<(string, double, double)>();
        foreach (var q in graph.Node.Where(n => n.OpType == "QuantizeLinear"))
        {
            var dq = graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Input[0] == q.Output[0]);
            float qScale = ReadFloat(Initializer(graph, q.Input[1])), dqScale = ReadFloat(Initializer(graph, dq.Input[1]));
            var zero = Initializer(graph, q.Input[2]);
            if (!(qScale > 0) || !float.IsFinite(qScale) || !(dqScale > 0) || !float.IsFinite(dqScale)) problem ??= $"{q.Name} has scales {qScale:R} / {dqScale:R}";
            else if (qScale != dqScale) problem ??= $"{q.Name}'s halves have scales {qScale:R} and {dqScale:R}";
            var type = (TensorProto.Types.DataType)zero.DataType;
            int size = type switch
            {
                TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8 => 1,
                TensorProto.Types.DataType.Uint16 => 2,
                TensorProto.Types.DataType.Int32 => 4,
                _ => 0,
            };
            // Another type, or bytes that do not fit the type: not a zero point the importer can read.
            if (size == 0 || zero.RawData.Length != size) { mustLoad = false; continue; }
            long z = type == TensorProto.Types.DataType.Int8 ? (sbyte)zero.RawData[0] : zero.RawData[0]; // the others' upper bytes are 0
            if (!q.Name.EndsWith(".input.QuantizeLinear", StringComparison.Ordinal)) continue;
            if (type is not (TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8)) { mustLoad = false; continue; } // 16/32-bit: refused for an int8 model
            var (qmin, qmax) = type == TensorProto.Types.DataType.Uint8 ? (0, 255) : (-128, 127);
            double low = (qmin - z) * (double)qScale, high = (qmax - z) * (double)qScale;
            if (!float.IsFinite((float)low) || !float.IsFinite((float)high)) problem ??= $"{q.Name} states [{low:R}, {high:R}], beyond float range";
            ranges.Add((q.Name[..^".input.QuantizeLinear".Length], low, high));
        }
        return new Verdict(problem, mustLoad && problem is null, ranges);
    }

    // ------------------------------------------------------------------ regressions from fuzzing

    /// <summary>A graph with <paramref name="length"/> Identity nodes between the stem ReLU and the next node.</summary>
    private static byte[] WithIdentityChain(string file, int length, bool cycle = false)
    {
        var model = ModelProto.Parser.ParseFrom(FixtureOf(file).Bytes);
        var graph = model.Graph;
        var relu = graph.Node.First(n => n.OpType == "Relu");
        var readers = graph.Node.Where(n => n.Input.Contains(relu.Output[0])).ToList();
        string previous = cycle ? $"id{length - 1}" : relu.Output[0];
        for (int k = 0; k < length; k++)
        {
            graph.Node.Add(new NodeProto { Name = $"identity_{k}", OpType = "Identity", Input = { previous }, Output = { $"id{k}" } });
            previous = $"id{k}";
        }
        foreach (var reader in readers)
            for (int i = 0; i < reader.Input.Count; i++)
                if (reader.Input[i] == relu.Output[0]) reader.Input[i] = previous;
        return model.ToByteArray();
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(10_000)]
    [InlineData(30_000)]
    public void LongIdentityChainImportsInLinearTime(int length)
    {
        var bytes = WithIdentityChain("g8_gray_48x40.onnx", length);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var stopwatch = Stopwatch.StartNew();
        var tensors = OnnxWeights.Read(new MemoryStream(bytes), G8Gray48x40.Description);
        var elapsed = stopwatch.Elapsed;
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        _output.WriteLine($"Identity chain of {length} nodes ({bytes.Length} bytes): imported in {elapsed.TotalSeconds:F3} s wall, {cpu.TotalSeconds:F3} s process CPU (includes tests running in parallel)");
        foreach (var t in FixtureOf("g8_gray_48x40.onnx").Baseline) Assert.Equal(t.Data, tensors[t.Name].Data);
        // Not a benchmark: a generous bound that only the quadratic walk (118 s at 30k) would break.
        Assert.True(elapsed.TotalSeconds < 30, $"{length} Identity nodes took {elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void IdentityCycleFailsFastWithABoundedMessage()
    {
        var bytes = WithIdentityChain("g8_gray_48x40.onnx", 30_000, cycle: true);
        var stopwatch = Stopwatch.StartNew();
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(new MemoryStream(bytes), G8Gray48x40.Description));
        _output.WriteLine($"cycle of 30000 Identity nodes rejected in {stopwatch.Elapsed.TotalSeconds:F3} s; message ({e.Message.Length} chars): {e.Message}");
        Assert.Contains("cycle of 30000", e.Message);
        Assert.Contains("in all", e.Message);
        Assert.True(e.Message.Length < 1000, $"message of {e.Message.Length} chars");
        Assert.True(stopwatch.Elapsed.TotalSeconds < 30);
    }

    [Fact]
    public void DanglingIdentityChainIsRejectedWithABoundedMessage()
    {
        // 30k Identity nodes reading the image that nothing consumes: off the structure, named with a count, not listed.
        var model = OnnxFixture.Parse("g8_gray_48x40.onnx");
        string previous = model.Graph.Input[0].Name;
        for (int k = 0; k < 30_000; k++)
        {
            model.Graph.Node.Add(new NodeProto { Name = $"dangling_{k}", OpType = k % 2 == 0 ? "Identity" : "Neg", Input = { previous }, Output = { $"d{k}" } });
            previous = $"d{k}";
        }
        var stopwatch = Stopwatch.StartNew();
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, G8Gray48x40.Description));
        _output.WriteLine($"rejected in {stopwatch.Elapsed.TotalSeconds:F3} s; message ({e.Message.Length} chars): {e.Message}");
        Assert.True(e.Message.Length < 1500, $"message of {e.Message.Length} chars");
        Assert.True(stopwatch.Elapsed.TotalSeconds < 30);
    }

    [Fact]
    public void ReshapeTargetWhoseElementCountWrapsAroundIsRejected()
    {
        // [1, 8, 2^61 + k, H, W] has 8 · (2^61 + k) · H · W = 8k · H · W elements modulo 2^64: the right count, wrapped.
        var model = OnnxFixture.Parse("g8_gray_48x40.onnx");
        var reshape = model.Graph.Node.First(n => n.OpType == "Reshape");
        var target = ConstantOf(model.Graph, reshape.Input[1])!;
        var shape = Int64s(target);
        _output.WriteLine($"original target [{string.Join(", ", shape)}]");
        Assert.Equal(5, shape.Length);
        Assert.Equal(8, shape[1]);
        shape[2] += 1L << 61;
        SetInt64s(target, shape);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, G8Gray48x40.Description));
        _output.WriteLine(e.Message);
        Assert.Equal(reshape.Name, e.NodeName);
        Assert.Contains((shape[2]).ToString(), e.Message);
    }

    [Fact]
    public void InitializerDimsWithAnOverflowingProductAreRejectedWithoutAllocating()
    {
        var model = OnnxFixture.Parse("g8_gray_48x40.onnx");
        var conv = model.Graph.Node.First(n => n.OpType == "Conv");
        var init = model.Graph.Initializer.Single(i => i.Name == conv.Input[1]);
        init.Dims.Clear();
        init.Dims.Add(new long[] { 1L << 32, 1L << 32, 3, 3 });
        var bytes = model.ToByteArray();
        var stream = new MemoryStream(bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<OnnxFormatException>(() => OnnxWeights.Read(stream, G8Gray48x40.Description));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        _output.WriteLine($"{allocated} bytes allocated for a {bytes.Length}-byte file; {e.Message}");
        Assert.Equal(conv.Name, e.NodeName);
        Assert.Contains("4294967296", e.Message);
        Assert.True(allocated < 4L * bytes.Length + FixedOverhead, $"{allocated} bytes allocated");
    }

    [Fact]
    public void MisshapedWeightIsRejectedBeforeItsValuesAreDecoded()
    {
        // A conv weight whose dims are permuted (same element count, same bytes): rejected on its dims alone.
        var model = OnnxFixture.Parse("g3_small_64_handbuilt.onnx");
        var init = model.Graph.Initializer.OrderByDescending(i => i.RawData.Length).First();
        var dims = init.Dims.ToArray();
        init.Dims.Clear();
        init.Dims.Add(Enumerable.Reverse(dims));
        _output.WriteLine($"'{init.Name}': [{string.Join(", ", dims)}] -> [{string.Join(", ", init.Dims)}], {init.RawData.Length} bytes");
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Contains($"[{string.Join(", ", init.Dims)}]", e.Message);
    }

    [Fact]
    public void HostileNamesAreEscapedAndCappedInMessages()
    {
        var model = OnnxFixture.Parse("g3_small_64.onnx");
        var conv = model.Graph.Node.Single(n => n.Name == "/units.1/conv1/Conv");
        string hostile = "evil\n\u001b[31mFAKE LOG LINE\u001b[0m" + new string('x', 5_000_000);
        conv.Name = hostile;
        conv.Attribute.Single(a => a.Name == "group").I = 1;
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, G3Small64.Description));
        _output.WriteLine($"message ({e.Message.Length} chars): {e.Message}");
        Assert.Equal(hostile, e.NodeName);
        Assert.True(e.Message.Length < 1000, $"message of {e.Message.Length} chars");
        Assert.DoesNotContain("\n", e.Message);
        Assert.DoesNotContain("\u001b", e.Message);
        Assert.Contains(@"'evil\n\u001B[31mFAKE LOG LINE", e.Message);
        Assert.Contains("(5000027 characters)", e.Message);
        Assert.Contains("the graph has group = 1", e.Message);
    }

    [Fact]
    public void InitializerNoNodeReadsIsRejected()
    {
        var model = OnnxFixture.Parse("g3_small_64.onnx");
        model.Graph.Initializer.Add(new TensorProto { Name = "stray.weight", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2 }, FloatData = { 1f, 2f } });
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Equal("stray.weight", e.NodeName);
        Assert.Contains("'stray.weight'", e.Message);
        Assert.Contains("no node reads", e.Message);
    }

    [Fact]
    public void DuplicateInitializerIsRejected()
    {
        var model = OnnxFixture.Parse("g3_small_64.onnx");
        var copy = model.Graph.Initializer.First(i => i.Dims.Count == 4).Clone();
        model.Graph.Initializer.Add(copy);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxFixture.Read(model, G3Small64.Description));
        _output.WriteLine(e.Message);
        Assert.Contains("two initializers", e.Message);
    }
}
