using System.Buffers.Binary;
using System.Text;
using Xunit;
using static ShuffleNetGen.Tests.Infrastructure.SafetensorsFiles;

namespace ShuffleNetGen.Tests;

public class SafetensorsTests
{
    // Bit patterns a float-to-text or float-to-double detour would lose or canonicalize.
    private static readonly float[] AwkwardValues =
    {
        0f, -0f, 1f, -1.5f, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity,
        BitConverter.Int32BitsToSingle(0x00000001), // smallest denormal
        BitConverter.Int32BitsToSingle(0x007FFFFF), // largest denormal
        BitConverter.Int32BitsToSingle(unchecked((int)0x80000001)), // negative denormal
        BitConverter.Int32BitsToSingle(0x7FC00000), // quiet NaN
        BitConverter.Int32BitsToSingle(0x7FA12345), // signalling NaN with payload
        BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0BEEF)), // negative NaN with payload
        float.Epsilon, 3.14159274f,
    };

    private static List<NamedTensor> SampleTensors() => new()
    {
        new NamedTensor("units.0.conv1.weight", new[] { 4, 2, 1, 2 }, AwkwardValues),
        new NamedTensor("bn1.running_var", new[] { 3 }, new[] { 0.5f, 1f, 2f }),
        new NamedTensor("empty", new[] { 0, 5 }, Array.Empty<float>()),
        new NamedTensor("scalar", Array.Empty<int>(), new[] { 42f }),
        new NamedTensor("ünïcode \"quoted\" <name>", new[] { 1, 1 }, new[] { -7f }),
    };

    private static void AssertSameTensors(IReadOnlyList<NamedTensor> expected, TensorSet actual)
    {
        Assert.Equal(expected.Select(t => t.Name), actual.Select(t => t.Name));
        foreach (var e in expected)
        {
            var a = actual[e.Name];
            Assert.Equal(e.Shape, a.Shape);
            Assert.Equal(e.Data.Select(BitConverter.SingleToInt32Bits), a.Data.Select(BitConverter.SingleToInt32Bits));
        }
    }

    private static WeightFormatException Fails(byte[] file)
    {
        var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new MemoryStream(file)));
        // The same input through a non-seekable stream takes a different path and must fail the same way.
        var e2 = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new NonSeekableStream(file)));
        Assert.Equal(e.TensorName, e2.TensorName);
        return e;
    }

    private static WeightFormatException Fails(string header, byte[]? data = null) => Fails(Join(header, data));

    private static void AssertMentions(Exception e, params string[] parts)
    {
        foreach (var part in parts) Assert.Contains(part, e.Message);
    }

    // ---- round trips ----

    [Fact]
    public void StreamRoundTripPreservesNamesShapesOrderAndExactBits()
    {
        var tensors = SampleTensors();
        var read = Safetensors.Read(new MemoryStream(WriteToBytes(tensors)));
        AssertSameTensors(tensors, read);
    }

    [Fact]
    public void FileRoundTrip()
    {
        var tensors = SampleTensors();
        string path = Path.Combine(Path.GetTempPath(), $"shufflenetgen-{Guid.NewGuid():N}.safetensors");
        try
        {
            Safetensors.Write(path, tensors);
            AssertSameTensors(tensors, Safetensors.Read(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void NonSeekableStreamRoundTripConsumesOnlyTheTensorBytes()
    {
        var tensors = SampleTensors();
        var file = WriteToBytes(tensors).Concat(new byte[] { 1, 2, 3 }).ToArray();
        var stream = new NonSeekableStream(file);
        AssertSameTensors(tensors, Safetensors.Read(stream));
        Assert.Equal(file.Length - 3, stream.Consumed);
    }

    [Fact]
    public void ReaderCopesWithStreamsThatReturnOneByteAtATime()
    {
        var tensors = SampleTensors();
        AssertSameTensors(tensors, Safetensors.Read(new NonSeekableStream(WriteToBytes(tensors), maxChunk: 1)));
    }

    [Fact]
    public void WriterLaysOutPaddedHeaderAndContiguousLittleEndianData()
    {
        var tensors = new[]
        {
            new NamedTensor("a", new[] { 2 }, new[] { 1f, -2f }),
            new NamedTensor("b", new[] { 1 }, new[] { 0.5f }),
        };
        var file = WriteToBytes(tensors);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, n % 8);
        string header = Encoding.UTF8.GetString(file, 8, (int)n);
        Assert.StartsWith("{", header);
        Assert.EndsWith("}", header.TrimEnd(' '));
        Assert.Contains("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", header);
        Assert.Contains("\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}", header);
        Assert.True(header.IndexOf("\"a\"", StringComparison.Ordinal) < header.IndexOf("\"b\"", StringComparison.Ordinal));
        Assert.Equal(8 + (int)n + 12, file.Length);
        var data = file.AsSpan(8 + (int)n);
        Assert.Equal(1f, BinaryPrimitives.ReadSingleLittleEndian(data));
        Assert.Equal(-2f, BinaryPrimitives.ReadSingleLittleEndian(data[4..]));
        Assert.Equal(0.5f, BinaryPrimitives.ReadSingleLittleEndian(data[8..]));
    }

    [Fact]
    public void ReadsHeadersInAnyKeyOrderWithMetadataUnknownFieldsAndUnsortedOffsets()
    {
        var data = new byte[12];
        BinaryPrimitives.WriteSingleLittleEndian(data, 5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), 6f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(8), 7f);
        var file = Join("""
            {"__metadata__": {"format": "pt", "nested": {"x": [1, 2]}},
             "late": {"data_offsets": [4, 12], "extra": {"ignored": true}, "shape": [2], "dtype": "F32"},
             "early": {"shape": [1], "dtype": "F32", "data_offsets": [0, 4]}}
            """ + "    ", data);
        var set = Safetensors.Read(new MemoryStream(file));
        Assert.Equal(new[] { "late", "early" }, set.Select(t => t.Name));
        Assert.Equal(new[] { 6f, 7f }, set["late"].Data);
        Assert.Equal(new[] { 5f }, set["early"].Data);
    }

    [Fact]
    public void EmptyHeaderObjectIsAnEmptySet()
    {
        Assert.Equal(0, Safetensors.Read(new MemoryStream(Join("{}"))).Count);
    }

    [Fact]
    public void WriterRejectsDuplicateNames()
    {
        var t = new NamedTensor("x", new[] { 1 }, new[] { 1f });
        Assert.Throws<ArgumentException>(() => Safetensors.Write(new MemoryStream(), new[] { t, t }));
    }

    [Fact]
    public void MissingFileIsAFileSystemError()
    {
        Assert.Throws<FileNotFoundException>(() => Safetensors.Read(Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.safetensors")));
    }

    [Fact]
    public void FileErrorsNameTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"shufflenetgen-{Guid.NewGuid():N}.safetensors");
        try
        {
            File.WriteAllBytes(path, Join("""{"x": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}""", new byte[2]));
            var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(path));
            Assert.Equal("x", e.TensorName);
            AssertMentions(e, path, "tensor 'x' has dtype 'F16'; ShuffleNetGen reads F32 only");
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- framing failures ----

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void InputShorterThanTheLengthPrefix(int length)
    {
        var e = Fails(new byte[length]);
        Assert.Null(e.TensorName);
        AssertMentions(e, "8-byte", $"only {length} bytes");
    }

    [Fact]
    public void HeaderLengthLargerThanTheFile()
    {
        var file = Join("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""", new byte[4], declaredLength: 1000);
        var e = Fails(file);
        AssertMentions(e, "1000", $"only {file.Length - 8} bytes");
    }

    [Fact]
    public void AbsurdHeaderLength()
    {
        var e = Fails(Join("{}", declaredLength: 200_000_000));
        AssertMentions(e, "200000000", Safetensors.MaxHeaderLength.ToString());
        e = Fails(Join("{}", declaredLength: ulong.MaxValue));
        AssertMentions(e, ulong.MaxValue.ToString());
    }

    // ---- JSON failures ----

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}""")]
    [InlineData("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}} trailing""")]
    [InlineData("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},}""")]
    [InlineData("""{"x" {"dtype": "F32"}}""")]
    [InlineData("""{"x": {"dtype": F32}}""")]
    [InlineData("""{'x': 1}""")]
    [InlineData("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}{}""")]
    [InlineData("""{"\uD800": 1}""")]
    [InlineData("[]")]
    [InlineData("42")]
    [InlineData("\"text\"")]
    public void MalformedJson(string header)
    {
        var e = Fails(header, new byte[4]);
        AssertMentions(e, "header");
    }

    [Fact]
    public void HeaderThatIsNotUtf8()
    {
        var json = Encoding.UTF8.GetBytes("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""");
        json[3] = 0xFF; // inside the name
        AssertMentions(Fails(Join(json, new byte[4])), "UTF-8");
    }

    [Theory]
    [InlineData("""{"shape": [1], "data_offsets": [0, 4]}""", "dtype")]
    [InlineData("""{"dtype": "F32", "data_offsets": [0, 4]}""", "shape")]
    [InlineData("""{"dtype": "F32", "shape": [1]}""", "data_offsets")]
    [InlineData("""{}""", "dtype")]
    public void EntryMissingAField(string entry, string field)
    {
        var e = Fails($$"""{"conv1.weight": {{entry}}}""", new byte[4]);
        Assert.Equal("conv1.weight", e.TensorName);
        AssertMentions(e, "tensor 'conv1.weight' has no " + field);
    }

    [Theory]
    [InlineData("42", "an object", "a number")]
    [InlineData("[1]", "an object", "an array")]
    [InlineData("null", "an object", "null")]
    [InlineData("""{"dtype": 32, "shape": [1], "data_offsets": [0, 4]}""", "dtype", "a number")]
    [InlineData("""{"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}""", "dtype", "an array")]
    [InlineData("""{"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}""", "shape", "a string")]
    [InlineData("""{"dtype": "F32", "shape": {"0": 1}, "data_offsets": [0, 4]}""", "shape", "an object")]
    [InlineData("""{"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}""", "shape entry 0", "1.5")]
    [InlineData("""{"dtype": "F32", "shape": [1, "2"], "data_offsets": [0, 4]}""", "shape entry 1", "a string")]
    [InlineData("""{"dtype": "F32", "shape": [1, [2]], "data_offsets": [0, 4]}""", "shape entry 1", "an array")]
    [InlineData("""{"dtype": "F32", "shape": [1e30], "data_offsets": [0, 4]}""", "shape entry 0", "1e30")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": "0-4"}""", "data_offsets", "a string")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": [0, true]}""", "data_offsets entry 1", "a boolean")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}""", "data_offsets entry 0", "-4")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0e0]}""", "data_offsets entry 1", "4.0e0")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": [0, 99999999999999999999999]}""", "data_offsets entry 1", "99999999999999999999999")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": [4]}""", "1 data_offsets", "expected 2")]
    [InlineData("""{"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}""", "3 data_offsets", "expected 2")]
    [InlineData("""{"dtype": "F32", "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}""", "two dtype", "")]
    public void EntryWithWrongJsonTypes(string entry, string expected, string found)
    {
        var e = Fails($$"""{"x": {{entry}}}""", new byte[4]);
        Assert.Equal("x", e.TensorName);
        AssertMentions(e, "tensor 'x'", expected, found);
    }

    // ---- semantic failures ----

    [Theory]
    [InlineData("F16")]
    [InlineData("BF16")]
    [InlineData("F64")]
    [InlineData("I32")]
    [InlineData("f32")]
    public void DtypeOtherThanF32(string dtype)
    {
        var e = Fails($$$"""{"x": {"dtype": "{{{dtype}}}", "shape": [1], "data_offsets": [0, 4]}}""", new byte[4]);
        Assert.Equal("x", e.TensorName);
        AssertMentions(e, $"tensor 'x' has dtype '{dtype}'; ShuffleNetGen reads F32 only");
    }

    [Fact]
    public void NegativeDimension()
    {
        var e = Fails("""{"fc.weight": {"dtype": "F32", "shape": [2, -3], "data_offsets": [0, 24]}}""", new byte[24]);
        Assert.Equal("fc.weight", e.TensorName);
        AssertMentions(e, "tensor 'fc.weight'", "negative dimension -3", "index 1");
    }

    [Fact]
    public void DimensionBeyondInt32()
    {
        var e = Fails("""{"x": {"dtype": "F32", "shape": [0, 3000000000], "data_offsets": [0, 0]}}""");
        AssertMentions(e, "tensor 'x'", "3000000000", int.MaxValue.ToString());
    }

    [Theory]
    [InlineData("[65536, 65536]")]
    [InlineData("[2147483647, 2147483647, 2147483647]")]
    [InlineData("[2, 1073741824]")]
    public void ElementCountOverflow(string shape)
    {
        var e = Fails($$$"""{"big": {"dtype": "F32", "shape": {{{shape}}}, "data_offsets": [0, 4]}}""", new byte[4]);
        Assert.Equal("big", e.TensorName);
        AssertMentions(e, "tensor 'big'", Array.MaxLength.ToString(), "elements");
    }

    [Fact]
    public void LargestElementCountIsNotAnOverflowError()
    {
        // Array.MaxLength elements is allowed; it then fails on its byte range, not on the count.
        var e = Fails("""{"big": {"dtype": "F32", "shape": [2147483591], "data_offsets": [0, 4]}}""", new byte[4]);
        AssertMentions(e, "2147483591 F32 values needing 8589934364 bytes", "span 4 bytes");
    }

    [Fact]
    public void ElementCountsAboveTheLargestArrayAreFormatErrorsNotOutOfMemory()
    {
        // Found by fuzzing: a stream that over-reports its length let [int.MaxValue] through the bounds check, and
        // allocating it threw OutOfMemoryException (int.MaxValue is above Array.MaxLength).
        string header = """{"big": {"dtype": "F32", "shape": [2147483647], "data_offsets": [0, 8589934588]}}""";
        var e = Assert.Throws<WeightFormatException>(() => Safetensors.Read(new LengthLyingStream(Join(header), 8L + header.Length + 8589934588L)));
        Assert.Equal("big", e.TensorName);
        AssertMentions(e, "tensor 'big'", "[2147483647]", Array.MaxLength.ToString());
    }

    [Fact]
    public void OffsetsEndBeforeBegin()
    {
        var e = Fails("""{"x": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}""", new byte[8]);
        Assert.Equal("x", e.TensorName);
        AssertMentions(e, "tensor 'x'", "[8, 4)", "end is before the begin");
    }

    [Fact]
    public void OffsetsBeyondTheDataSection()
    {
        var e = Fails("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "x": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}""", new byte[20]);
        Assert.Equal("x", e.TensorName);
        AssertMentions(e, "tensor 'x' needs bytes [8, 24) of the data section but the file holds only 20");
    }

    [Fact]
    public void HugeOffsetsBeyondTheDataSection()
    {
        var e = Fails("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551608, 18446744073709551612]}}""", new byte[4]);
        AssertMentions(e, "tensor 'x' needs bytes [18446744073709551608, 18446744073709551612) of the data section but the file holds only 4");
    }

    [Theory]
    [InlineData("[2, 2]", "[0, 12]", "16 bytes", "span 12 bytes")]
    [InlineData("[3]", "[0, 16]", "12 bytes", "span 16 bytes")]
    [InlineData("[]", "[0, 0]", "4 bytes", "span 0 bytes")]
    [InlineData("[0]", "[0, 4]", "0 bytes", "span 4 bytes")]
    public void ByteLengthDisagreesWithShape(string shape, string offsets, string expected, string found)
    {
        var e = Fails($$$"""{"x": {"dtype": "F32", "shape": {{{shape}}}, "data_offsets": {{{offsets}}}}}""", new byte[16]);
        Assert.Equal("x", e.TensorName);
        AssertMentions(e, "tensor 'x'", shape.Replace(",", ", ").Replace(",  ", ", "), expected, found);
    }

    [Fact]
    public void OverlappingTensors()
    {
        var e = Fails("""{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}""", new byte[24]);
        Assert.Equal("b", e.TensorName);
        AssertMentions(e, "tensor 'b'", "[8, 24)", "overlapping tensor 'a'", "[0, 16)");
    }

    [Fact]
    public void OverlapIsFoundWhateverTheHeaderOrder()
    {
        // a comes last in the header but first in the file: overlaps are a property of byte ranges, not header order.
        var e = Fails("""{"c": {"dtype": "F32", "shape": [1], "data_offsets": [20, 24]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}""", new byte[32]);
        AssertMentions(e, "overlapping tensor 'a'");
    }

    [Fact]
    public void EmptyTensorsOverlapNothing()
    {
        var set = Safetensors.Read(new MemoryStream(Join("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]}}""", new byte[8])));
        Assert.Empty(set["e"].Data);
    }

    [Fact]
    public void DuplicateNames()
    {
        var e = Fails("""{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}""", new byte[8]);
        Assert.Equal("x", e.TensorName);
        AssertMentions(e, "tensor 'x' appears twice");
    }

    // ---- properties over many inputs ----

    [Fact]
    public void EveryTruncationIsAFormatError()
    {
        var file = WriteToBytes(SampleTensors());
        for (int length = 0; length < file.Length; length++)
        {
            var prefix = file.AsSpan(0, length).ToArray();
            try
            {
                Fails(prefix);
            }
            catch (Exception e) when (e is not WeightFormatException)
            {
                throw new Xunit.Sdk.XunitException($"truncation to {length} of {file.Length} bytes: {e.Message}");
            }
        }
    }

    [Fact]
    public void EverySingleByteCorruptionReadsOrFailsCleanly()
    {
        // Not every corruption is detectable (a flipped data byte is still a float), but none may escape as
        // anything other than a WeightFormatException or read out of bounds.
        var file = WriteToBytes(SampleTensors());
        byte[] replacements = { 0x00, 0xFF, (byte)'"', (byte)'9', (byte)'-', (byte)'{', (byte)']', (byte)'e', 0x80 };
        int failures = 0;
        for (int i = 0; i < file.Length; i++)
        {
            foreach (byte b in replacements)
            {
                var corrupt = (byte[])file.Clone();
                corrupt[i] = b;
                foreach (var stream in new Stream[] { new MemoryStream(corrupt), new NonSeekableStream(corrupt) })
                {
                    try
                    {
                        Safetensors.Read(stream);
                    }
                    catch (WeightFormatException)
                    {
                        failures++;
                    }
                    catch (Exception e)
                    {
                        throw new Xunit.Sdk.XunitException($"byte {i} set to 0x{b:X2}: {e.GetType().Name}: {e.Message}");
                    }
                }
            }
        }
        Assert.True(failures > 0);
    }

    /// <summary>A seekable stream whose Length claims more bytes than it holds.</summary>
    private sealed class LengthLyingStream(byte[] data, long claimedLength) : MemoryStream(data, writable: false)
    {
        public override long Length => claimedLength;
    }

    /// <summary>A read-only stream that cannot seek or report its length, like a network or pipe stream.</summary>
    internal sealed class NonSeekableStream : Stream
    {
        private readonly byte[] _data;
        private readonly int _maxChunk;
        private int _position;

        public NonSeekableStream(byte[] data, int maxChunk = int.MaxValue)
        {
            _data = data;
            _maxChunk = maxChunk;
        }

        public int Consumed => _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(Math.Min(buffer.Length, _maxChunk), _data.Length - _position);
            _data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

public class SafetensorsPyTorchCompatibilityTests
{
    [Fact]
    public void BatchCountersStoredAsInt64AreSkipped()
    {
        // What safetensors.torch.save_file writes for a BatchNorm2d: F32 statistics plus an I64 counter.
        string header = "{\"bn1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},\"bn1.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        var data = BitConverter.GetBytes(7L).Concat(BitConverter.GetBytes(1.5f)).Concat(BitConverter.GetBytes(-2f)).ToArray();
        var set = Safetensors.Read(new MemoryStream(Join(header, data)));
        Assert.Equal(1, set.Count);
        Assert.Equal(new[] { 1.5f, -2f }, set["bn1.weight"].Data);
    }
}
