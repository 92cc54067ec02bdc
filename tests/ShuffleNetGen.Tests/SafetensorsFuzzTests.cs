using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CsCheck;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;
using static ShuffleNetGen.Tests.Infrastructure.SafetensorsFiles;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Mutates valid weight files (a PyTorch-written fixture and one written by <see cref="Safetensors.Write(Stream, IEnumerable{NamedTensor})"/>)
/// and requires every case to end in a <see cref="WeightFormatException"/> or in a load that matches an independent
/// reading of the mutated bytes, within a memory budget. Runs <c>SNG_FUZZ_ITERATIONS</c> cases (default
/// <see cref="FuzzSettings.DefaultIterations"/>); <c>SNG_FUZZ_SEED</c> replays a seed CsCheck printed.
/// </summary>
public class SafetensorsFuzzTests
{
    private readonly ITestOutputHelper _output;

    public SafetensorsFuzzTests(ITestOutputHelper output) => _output = output;

    private static readonly byte[][] Bases =
    {
        Fixture("g8_gray_48x40"),
        WriteToBytes(RandomWeights.Create(G8Gray48x40.WeightLayout, 11)),
    };

    // What binding costs beyond the file: packed weights (at most the parameters), the activation arena, and the
    // batch-norm folding in double.
    private static readonly long ModelBytes = 4 * G8Gray48x40.ParameterCount + 4L * G8Gray48x40.ArenaLength + 16 * G8Gray48x40.ParameterCount;
    private const long Slack = 256 * 1024; // stream and reader buffers, exception objects

    /// <summary>One case: which base file, which mutation, and the random numbers that parameterize it.</summary>
    public sealed record Case(int Base, int Kind, ulong[] R)
    {
        public override string ToString() => $"base {Base}, mutation {Kinds[Kind]}, r = [{string.Join(", ", R)}]";
    }

    private static readonly string[] Kinds =
    {
        "none", "truncate", "header length", "data offset", "dtype", "shape swap", "shape edit", "header byte",
        "header insert/delete", "data bit flips", "non-finite value", "extra tensor", "header byte + data flip",
    };

    private sealed class Tally
    {
        public int Cases, PlainLoads, ModelLoads, Rejected, BindRejected;
        public double WorstPlainRatio, WorstModelRatio;
    }

    [Fact]
    public void MutatedFilesLoadCorrectlyOrFailWithWeightFormatException()
    {
        var gen = Gen.Select(Gen.Int[0, Bases.Length - 1], Gen.Int[0, Kinds.Length - 1], Gen.ULong.Array[6], (b, k, r) => new Case(b, k, r));
        var tally = new Tally();
        var clock = Stopwatch.StartNew();
        gen.Sample(c => CheckCase(c, tally), writeLine: _output.WriteLine, seed: FuzzSettings.Seed, iter: FuzzSettings.Iterations, threads: 1, print: c => c.ToString());
        _output.WriteLine($"Safetensors fuzz: {tally.Cases} cases in {clock.Elapsed.TotalSeconds:F1} s; {tally.PlainLoads} loaded as tensor sets, {tally.ModelLoads} bound to the model, " +
            $"{tally.Rejected} rejected by the reader, {tally.BindRejected} read but rejected when binding; worst allocation {tally.WorstPlainRatio:F2}x the file (reader), " +
            $"{tally.WorstModelRatio:F2}x the file plus the model's weights (model)");
        Assert.True(tally.Rejected > tally.Cases / 10, "the mutations are too tame");
        Assert.True(tally.ModelLoads > tally.Cases / 20, "the mutations are too hostile");
    }

    private static void CheckCase(Case c, Tally tally)
    {
        tally.Cases++;
        var (bytes, dataOnly) = Mutate(Bases[c.Base], c.Kind, c.R);

        var plain = Attempt(() => Safetensors.Read(new MemoryStream(bytes)), out long plainBytes);
        Assert.True(plainBytes <= 4L * bytes.Length + Slack, $"reader allocated {plainBytes} bytes for a {bytes.Length}-byte file");
        tally.WorstPlainRatio = Math.Max(tally.WorstPlainRatio, plainBytes / (double)Math.Max(bytes.Length, 1));

        // The generated factory, as a user calls it.
        var model = Attempt(() => G8Gray48x40.FromSafetensors(new MemoryStream(bytes)), out long modelBytes, out var modelError);
        Assert.True(modelBytes <= 4L * bytes.Length + ModelBytes + Slack, $"FromSafetensors allocated {modelBytes} bytes for a {bytes.Length}-byte file");
        tally.WorstModelRatio = Math.Max(tally.WorstModelRatio, modelBytes / (double)(bytes.Length + ModelBytes));

        var unseekable = Attempt(() => Safetensors.Read(new SafetensorsTests.NonSeekableStream(bytes)), out _);

        if (dataOnly) Assert.True(plain is not null, "flipping data bytes cannot make a file unreadable");
        if (plain is null)
        {
            tally.Rejected++;
            Assert.Null(model);
            // A non-seekable stream is read only as far as the header refers to, so trailing bytes go unnoticed there.
            if (unseekable is not null) AssertSame(Reference(bytes), unseekable);
            return;
        }
        tally.PlainLoads++;
        var reference = Reference(bytes);
        AssertSame(reference, plain);
        Assert.NotNull(unseekable);
        AssertSame(reference, unseekable!);

        var modelSet = Attempt(() => Safetensors.Read(new MemoryStream(bytes), G8Gray48x40.Description), out _);
        var layout = G8Gray48x40.WeightLayout;
        bool fits = reference.Count(t => !t.Name.EndsWith(".num_batches_tracked")) == layout.Count
            && layout.All(l => reference.Any(t => t.Name == l.Name && t.Shape.SequenceEqual(l.Dimensions)));
        if (!fits)
        {
            Assert.Null(modelSet);
            Assert.Null(model);
            tally.Rejected++;
            return;
        }
        Assert.NotNull(modelSet);
        AssertSame(reference.Where(t => layout.Any(l => l.Name == t.Name)).ToList(), modelSet!);
        bool finite = layout.All(l => reference.First(t => t.Name == l.Name).Data.All(float.IsFinite));
        if (model is not null)
        {
            Assert.True(finite, "a non-finite weight was bound");
            tally.ModelLoads++;
            return;
        }
        // Binding may only refuse for a value: non-finite, a negative variance, or a fold beyond float range.
        tally.BindRejected++;
        string name = modelError!.TensorName!;
        var bad = reference.First(t => t.Name == name).Data;
        Assert.True(!finite || (name.EndsWith(".running_var") && bad.Any(v => v < 0)) || name.EndsWith(".weight"), $"binding refused {name}: {modelError.Message}");
        if (finite && name.EndsWith(".weight")) Assert.Contains("beyond float range", modelError.Message);
    }

    private static T? Attempt<T>(Func<T> load, out long allocated) where T : class => Attempt(load, out allocated, out _);

    private static T? Attempt<T>(Func<T> load, out long allocated, out WeightFormatException? error) where T : class
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            var result = load();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            error = null;
            return result;
        }
        catch (WeightFormatException e)
        {
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(e.Message.Length < 2048, $"message of {e.Message.Length} characters");
            Assert.DoesNotContain(e.Message, ch => char.IsControl(ch));
            error = e;
            return null;
        }
    }

    private sealed record Tensor(string Name, int[] Shape, float[] Data);

    /// <summary>
    /// An independent reading of a file the loader accepted, with System.Text.Json's DOM: header order, metadata and
    /// integer batch counters skipped, data sliced straight from the bytes.
    /// </summary>
    private static List<Tensor> Reference(byte[] file)
    {
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var doc = JsonDocument.Parse(file.AsMemory(8, headerLength));
        var result = new List<Tensor>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            string dtype = p.Value.GetProperty("dtype").GetString()!;
            if (dtype != "F32" && p.Name.EndsWith(".num_batches_tracked")) continue;
            Assert.Equal("F32", dtype);
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var data = new float[(offsets[1] - offsets[0]) / 4];
            for (int i = 0; i < data.Length; i++)
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(checked((int)(8 + headerLength + offsets[0] + 4 * i))));
            result.Add(new Tensor(p.Name, shape, data));
        }
        return result;
    }

    private static void AssertSame(List<Tensor> expected, TensorSet actual)
    {
        Assert.Equal(expected.Select(t => t.Name), actual.Select(t => t.Name));
        foreach (var e in expected)
        {
            var a = actual[e.Name];
            Assert.Equal(e.Shape, a.Shape);
            Assert.True(e.Data.AsSpan().SequenceEqual(a.Data), $"tensor '{e.Name}' differs from the bytes of the file");
        }
    }

    // ---------------- mutations ----------------

    private static readonly Regex Offsets = new("\"data_offsets\":\\s*\\[\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\]", RegexOptions.CultureInvariant);
    private static readonly Regex Shapes = new("\"shape\":\\s*\\[[^\\]]*\\]", RegexOptions.CultureInvariant);
    private static readonly Regex DTypes = new("\"dtype\":\\s*\"[^\"]*\"", RegexOptions.CultureInvariant);

    private static (byte[] Bytes, bool DataOnly) Mutate(byte[] file, int kind, ulong[] r)
    {
        var (header, data) = Split(file);
        int headerLength = file.Length - 8 - data.Length;
        int Pick(ulong x, int count) => (int)(x % (ulong)count);

        switch (Kinds[kind])
        {
            case "none":
                return (file, true);
            case "truncate":
                return (file.AsSpan(0, Pick(r[0], file.Length)).ToArray(), false);
            case "header length":
            {
                ulong[] lengths = { (ulong)(headerLength + Pick(r[1], 17) - 8), r[1], 0, (ulong)Safetensors.MaxHeaderLength + 1, (ulong)headerLength * 2, (ulong)file.Length };
                var copy = (byte[])file.Clone();
                BinaryPrimitives.WriteUInt64LittleEndian(copy, lengths[Pick(r[0], lengths.Length)]);
                return (copy, false);
            }
            case "data offset":
            {
                var matches = Offsets.Matches(header);
                var m = matches[Pick(r[0], matches.Count)];
                var g = m.Groups[1 + Pick(r[1], 2)];
                ulong old = ulong.Parse(g.Value);
                ulong[] values = { old + (ulong)Pick(r[3], 9) - 4, 0, ulong.MaxValue, old + (1UL << 31), r[3], old + 4, old - 4, (ulong)data.Length + 4 };
                return (Join(header[..g.Index] + values[Pick(r[2], values.Length)] + header[(g.Index + g.Length)..], data), false);
            }
            case "dtype":
            {
                var matches = DTypes.Matches(header);
                var m = matches[Pick(r[0], matches.Count)];
                string[] dtypes = { "F16", "I64", "F64", "BF16", "f32", "", "F32 ", "U8", "F32" };
                return (Join(header[..m.Index] + $"\"dtype\":\"{dtypes[Pick(r[1], dtypes.Length)]}\"" + header[(m.Index + m.Length)..], data), false);
            }
            case "shape swap":
            {
                var matches = Shapes.Matches(header);
                var a = matches[Pick(r[0], matches.Count)];
                var b = matches[Pick(r[1], matches.Count)];
                if (a.Index > b.Index) (a, b) = (b, a);
                if (a.Index == b.Index) return (file, false);
                return (Join(header[..a.Index] + b.Value + header[(a.Index + a.Length)..b.Index] + a.Value + header[(b.Index + b.Length)..], data), false);
            }
            case "shape edit":
            {
                var matches = Shapes.Matches(header);
                var m = matches[Pick(r[0], matches.Count)];
                string[] shapes = { "[536870912]", "[2147483647]", "[2147483591]", "[0]", "[]", $"[{r[2] % 100}]", "[65536,65536,65536,65536]", "[-1]", "[1.5]", "[\"7\"]", $"[{r[2]}]" };
                return (Join(header[..m.Index] + "\"shape\":" + shapes[Pick(r[1], shapes.Length)] + header[(m.Index + m.Length)..], data), false);
            }
            case "header byte":
                return (HeaderByte(file, headerLength, r[0], r[1]), false);
            case "header insert/delete":
            {
                var bytes = Encoding.UTF8.GetBytes(header).ToList();
                int at = Pick(r[0], bytes.Count);
                if ((r[1] & 1) == 0) bytes.RemoveAt(at);
                else bytes.Insert(at, SpecialBytes[Pick(r[2], SpecialBytes.Length)]);
                return (Join(bytes.ToArray(), data), false);
            }
            case "data bit flips":
            {
                if (data.Length == 0) return (file, true);
                var copy = (byte[])file.Clone();
                int flips = 1 + Pick(r[0], 4);
                for (int i = 0; i < flips; i++) copy[8 + headerLength + Pick(r[1 + i], data.Length)] ^= (byte)(1 << Pick(r[5] >> (8 * i), 8));
                return (copy, true);
            }
            case "non-finite value":
            {
                if (data.Length < 4) return (file, true);
                var copy = (byte[])file.Clone();
                float[] values = { float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7FA00001), -1f, 3e38f, 0f };
                int at = 8 + headerLength + 4 * Pick(r[0], data.Length / 4);
                BinaryPrimitives.WriteSingleLittleEndian(copy.AsSpan(at), values[Pick(r[1], values.Length)]);
                return (copy, true);
            }
            case "extra tensor":
            {
                long begin = data.Length;
                bool fitting = (r[0] & 1) == 0;
                string shape = fitting ? "[2]" : "[536870912]";
                long end = begin + (fitting ? 8 : 2147483648L);
                string entry = $"\"extra.{r[1] % 1000}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";
                var extraData = fitting ? data.Concat(new byte[8]).ToArray() : data;
                return (Join(WithEntry(header, entry), extraData), false);
            }
            default: // header byte + data flip
            {
                var copy = HeaderByte(file, headerLength, r[0], r[1]);
                if (data.Length > 0) copy[8 + headerLength + Pick(r[2], data.Length)] ^= 0x40;
                return (copy, false);
            }
        }
    }

    private static readonly byte[] SpecialBytes = { 0x00, 0xFF, (byte)'"', (byte)'9', (byte)'0', (byte)'-', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)' ', (byte)'e', 0x80, 0x1B, (byte)'\n', (byte)'\\' };

    private static byte[] HeaderByte(byte[] file, int headerLength, ulong position, ulong value)
    {
        var copy = (byte[])file.Clone();
        int at = 8 + (int)(position % (ulong)headerLength);
        copy[at] = (value & 1) == 0 ? SpecialBytes[(int)((value >> 1) % (ulong)SpecialBytes.Length)] : (byte)(value >> 8);
        return copy;
    }
}
