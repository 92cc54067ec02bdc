using System.Diagnostics;
using System.Text;
using ShuffleNetGen.Tests.Models;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;
using static ShuffleNetGen.Tests.Infrastructure.SafetensorsFiles;

namespace ShuffleNetGen.Tests;

/// <summary>Reproductions of the defects the safetensors fuzz suite found, one per defect, kept as regression tests.</summary>
public class SafetensorsHardeningTests
{
    private readonly ITestOutputHelper _output;

    public SafetensorsHardeningTests(ITestOutputHelper output) => _output = output;

    private static string TempPath() => Path.Combine(Path.GetTempPath(), $"sng-hardening-{Guid.NewGuid():N}.safetensors");

    // ---- 1. Write never loses an existing file ----

    public static TheoryData<string> BadTensorLists => new() { "duplicate", "null", "throwing", "reserved name", "lone surrogate" };

    private static IEnumerable<NamedTensor> BadList(string kind)
    {
        var a = new NamedTensor("a", new[] { 2 }, new[] { 1f, 2f });
        switch (kind)
        {
            case "duplicate": return new[] { a, new NamedTensor("a", new[] { 1 }, new[] { 3f }) };
            case "null": return new[] { a, null! };
            case "reserved name": return new[] { a, new NamedTensor("__metadata__", new[] { 1 }, new[] { 3f }) };
            case "lone surrogate": return new[] { a, new NamedTensor("bad\ud800", new[] { 1 }, new[] { 3f }) };
            default: return Throwing(a);
        }

        static IEnumerable<NamedTensor> Throwing(NamedTensor first)
        {
            yield return first;
            throw new InvalidOperationException("the source failed half way");
        }
    }

    [Theory]
    [MemberData(nameof(BadTensorLists))]
    public void WriteOverAnExistingFileWithBadInputLeavesItByteIdentical(string kind)
    {
        string path = TempPath();
        try
        {
            Safetensors.Write(path, new[] { new NamedTensor("old", new[] { 3 }, new[] { 1f, 2f, 3f }) });
            var before = File.ReadAllBytes(path);
            var e = Assert.ThrowsAny<Exception>(() => Safetensors.Write(path, BadList(kind)));
            Assert.True(e is ArgumentException || (kind == "throwing" && e is InvalidOperationException), e.ToString());
            Assert.Equal(before, File.ReadAllBytes(path));
            // The temporary file is gone too.
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!, "*" + Path.GetFileName(path) + "*"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void WriteReplacesAnExistingFileAndLeavesNoTemporaryFile()
    {
        string path = TempPath();
        try
        {
            Safetensors.Write(path, new[] { new NamedTensor("old", new[] { 3 }, new[] { 1f, 2f, 3f }) });
            Safetensors.Write(path, new[] { new NamedTensor("new", new[] { 1 }, new[] { 9f }) });
            var set = Safetensors.Read(path);
            Assert.Equal(new[] { "new" }, set.Select(t => t.Name));
            Assert.Equal(new[] { 9f }, set["new"].Data);
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!, "*" + Path.GetFileName(path) + "*"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- 2. A model's loader rejects from the header, before allocating ----

    [Fact]
    public void SparseFileWithAHugeExtraTensorIsRejectedFastWithoutAllocatingIt()
    {
        // Found by fuzzing: 136 KB on disk, 2 GB by its length; FromSafetensors read the undeclared tensor (2 GB, 9 s)
        // before noticing it was not part of the model.
        var (header, data) = Split(Fixture("g3_small_64"));
        header = WithEntry(header, $$"""
            "extra":{"dtype":"F32","shape":[536870912],"data_offsets":[{{data.Length}},{{data.Length + 2147483648L}}]}
            """.Trim());
        var file = Join(header, data);
        string path = TempPath();
        try
        {
            using (var stream = new FileStream(path, FileMode.CreateNew))
            {
                stream.Write(file);
                stream.SetLength(file.Length + 2147483648L); // sparse: no blocks are written
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromSafetensors(path));
            clock.Stop();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            _output.WriteLine($"sparse file: {file.Length} bytes written, {new FileInfo(path).Length} bytes long; rejected in {clock.Elapsed.TotalMilliseconds:F1} ms, {allocated} bytes allocated; {e.Message}");
            Assert.Equal("extra", e.TensorName);
            Assert.Contains("not part of this model", e.Message);
            Assert.True(allocated < 4L * file.Length, $"{allocated} bytes allocated to reject a {file.Length}-byte header");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ModelReadRejectsAMisshapedTensorBeforeReadingData()
    {
        // Same element count, wrong shape, and no data at all: the shape error comes from the header alone.
        var (header, _) = Split(Fixture("g3_small_64"));
        string misshaped = header.Replace("\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[12,3,3,3]", "\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[4,9,3,3]");
        Assert.NotEqual(header, misshaped);
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromSafetensors(new MemoryStream(Join(misshaped))));
        Assert.Equal("conv1.weight", e.TensorName);
        Assert.Contains("has shape [4, 9, 3, 3]; expected [12, 3, 3, 3]", e.Message);
    }

    [Fact]
    public void ModelReadDoesNotAllocateBatchCounters()
    {
        var set = RandomWeights.Create(G8Gray48x40.WeightLayout, 3);
        set.Add("bn1.num_batches_tracked", new[] { 1 }, new[] { 5f });
        var read = Safetensors.Read(new MemoryStream(WriteToBytes(set)), G8Gray48x40.Description);
        Assert.False(read.TryGet("bn1.num_batches_tracked", out _));
        Assert.Equal(G8Gray48x40.WeightLayout.Count, read.Count);
    }

    // ---- 3/4. Element counts: capped at the largest array, never wrapped ----

    [Theory]
    [InlineData(new[] { 65536, 65536, 65536, 65536 })] // 2^64: wrapped to 0 in a long
    [InlineData(new[] { 2147483647, 2147483647, 2147483647 })]
    [InlineData(new[] { 2, 1073741824 })]
    public void NamedTensorRejectsShapesWhoseElementCountOverflows(int[] shape)
    {
        var e = Assert.Throws<ArgumentException>(() => new NamedTensor("big", shape, Array.Empty<float>()));
        Assert.Contains("more than", e.Message);
    }

    [Fact]
    public void AZeroDimensionMakesAnEmptyTensorWhateverTheOthers()
    {
        var t = new NamedTensor("e", new[] { 2147483647, 2147483647, 0 }, Array.Empty<float>());
        Assert.Empty(Safetensors.Read(new MemoryStream(WriteToBytes(new[] { t })))["e"].Data);
    }

    [Fact]
    public void TensorShapeElementCountIsChecked()
    {
        Assert.Throws<OverflowException>(() => new TensorShape("x", new[] { 65536, 65536 }).ElementCount);
    }

    // ---- 5. Messages stay short and inert whatever the file holds ----

    [Fact]
    public void AHugeHostileNameGivesAShortEscapedMessage()
    {
        string name = "x\n\u001b[31mFAKE LOG LINE\r\u202E" + new string('n', 10 * 1024 * 1024);
        string escaped = System.Text.Json.JsonSerializer.Serialize(name);
        string header = "{" + escaped + """:{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}""";
        var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new MemoryStream(Join(header, new byte[2]))));
        Assert.Equal(name, e.TensorName);
        AssertInert(e.Message);
        Assert.Contains("\\n\\u001B[31m", e.Message);

        // The same name as an unexpected tensor of a model, and through TensorSet.
        var (g8Header, g8Data) = Split(Fixture("g8_gray_48x40"));
        string modelHeader = WithEntry(g8Header, escaped + ":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        var e2 = Assert.Throws<WeightFormatException>(() => G8Gray48x40.FromSafetensors(new MemoryStream(Join(modelHeader, g8Data))));
        Assert.Equal(name, e2.TensorName);
        AssertInert(e2.Message);
        AssertInert(Assert.Throws<WeightFormatException>(() => new TensorSet()[name]).Message);
        AssertInert(Assert.Throws<ArgumentException>(() => new NamedTensor(name, new[] { 2 }, new float[1])).Message);
    }

    [Fact]
    public void EchoedNumbersAndJsonErrorsAreBounded()
    {
        string longNumber = "1" + new string('0', 1_000_000) + ".5";
        var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new MemoryStream(Join($$$"""{"x":{"dtype":"F32","shape":[{{{longNumber}}}],"data_offsets":[0,0]}}"""))));
        AssertInert(e.Message);
        var e2 = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new MemoryStream(Join("{\"x\u001b\n" + new string('y', 100_000)))));
        AssertInert(e2.Message);
    }

    private static void AssertInert(string message)
    {
        Assert.True(message.Length < 1024, $"message is {message.Length} characters");
        Assert.DoesNotContain(message, c => char.IsControl(c) || c == '\u202E');
    }

    // ---- 6. Non-finite weights are rejected at bind ----

    [Theory]
    [InlineData("units.1.conv1.weight", 5, float.NaN, "NaN")]
    [InlineData("fc.bias", 2, float.PositiveInfinity, "+Infinity")]
    [InlineData("bn1.running_mean", 0, float.NegativeInfinity, "-Infinity")]
    [InlineData("units.0.bn2.running_var", 1, float.NaN, "NaN")]
    public void NonFiniteWeightsAreRejectedNamingTensorIndexAndValue(string tensor, int index, float value, string shown)
    {
        var set = RandomWeights.Create(G3Small64.WeightLayout, 1);
        set[tensor].Data[index] = value;
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromTensors(set));
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains($"'{tensor}' holds {shown} at flat index {index}", e.Message);

        // A file goes through the same check when it is bound.
        var file = new MemoryStream(WriteToBytes(set));
        Assert.Equal(tensor, Assert.Throws<WeightFormatException>(() => G3Small64.FromSafetensors(file)).TensorName);
    }

    [Fact]
    public void FiniteWeightsThatFoldBeyondFloatRangeAreRejected()
    {
        var set = RandomWeights.Create(G3Small64.WeightLayout, 1);
        set["bn1.weight"].Data[2] = 3e38f;
        set["bn1.running_var"].Data[2] = 0f;
        var e = Assert.Throws<WeightFormatException>(() => G3Small64.FromTensors(set));
        Assert.Equal("bn1.weight", e.TensorName);
        Assert.Contains("output channel 2", e.Message);
    }

    // ---- the format's no-holes rule, which a corrupted header length breaks ----

    [Fact]
    public void AHeaderLengthShiftedIntoThePaddingIsRejected()
    {
        // The writer pads the header with spaces; a length that stops early still parses, and without the rule every
        // tensor would be read a few bytes off.
        var (header, data) = Split(WriteToBytes(new[] { new NamedTensor("a", new[] { 2 }, new[] { 1f, 2f }) }));
        Assert.EndsWith(" ", header);
        var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new MemoryStream(Join(header.TrimEnd(), Encoding.UTF8.GetBytes(header[header.TrimEnd().Length..]).Concat(data).ToArray()))));
        Assert.Contains("unindexed", e.Message);
    }

    [Fact]
    public void GapsBetweenTensorsAreRejected()
    {
        var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new MemoryStream(Join(
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", new byte[12]))));
        Assert.Equal("b", e.TensorName);
        Assert.Contains("[4, 8)", e.Message);
    }
}
