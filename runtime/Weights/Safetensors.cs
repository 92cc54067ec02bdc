using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace ShuffleNetGen;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a UTF-8 JSON header mapping tensor
/// names to dtype, shape and byte range, then the raw little-endian data. Tensors are F32, except in an int8 model's
/// weight file (<see cref="Quantization.Int8WeightFile"/>), whose metadata names its format and which holds I8 tensors too.
/// </summary>
/// <remarks>
/// Reading validates everything before trusting it: any malformed, truncated or inconsistent input raises a
/// <see cref="WeightFormatException"/> that names the tensor and says what was expected and what was found.
/// The JSON is parsed with <see cref="Utf8JsonReader"/>, so this code is trim and NativeAOT safe.
/// </remarks>
public static class Safetensors
{
    /// <summary>Headers beyond this size are rejected rather than allocated: real headers are kilobytes.</summary>
    public const long MaxHeaderLength = 100L * 1024 * 1024;

    private const string MetadataKey = "__metadata__";

    // Bounded chunks keep every byte span well under int.MaxValue, however large a tensor is.
    private const int ReadChunkFloats = 1 << 20;

    /// <summary>Reads every tensor of a safetensors file.</summary>
    /// <exception cref="WeightFormatException">The file is not a valid F32 safetensors file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static TensorSet Read(string path) => ReadFile(path, null);

    /// <summary>
    /// Reads the tensors <paramref name="model"/> needs from a safetensors file. Names and shapes are checked against
    /// the model's <see cref="ModelDescription.WeightLayout"/> from the header alone, before any tensor data is
    /// allocated, so a file that does not fit the model costs no more than its header to reject.
    /// <c>*.num_batches_tracked</c> entries are checked for consistency but not read.
    /// </summary>
    /// <exception cref="WeightFormatException">The file is not valid F32 safetensors, or a tensor is missing, unexpected or mis-shaped.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static TensorSet Read(string path, ModelDescription model)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        return ReadFile(path, model);
    }

    /// <summary>Reads the tensors <paramref name="model"/> needs from a stream; see <see cref="Read(string, ModelDescription)"/>.</summary>
    /// <exception cref="WeightFormatException">The data is not valid F32 safetensors, or a tensor is missing, unexpected or mis-shaped.</exception>
    public static TensorSet Read(Stream stream, ModelDescription model)
    {
        if (model is null) throw new ArgumentNullException(nameof(model));
        return ReadStream(stream, model);
    }

    private static TensorSet ReadFile(string path, ModelDescription? model)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            return ReadStream(stream, model);
        }
        catch (WeightFormatException e)
        {
            // The stream reader cannot know the file name, and a user with several weight files needs it.
            throw new WeightFormatException(e.TensorName, $"{path}: {e.Message}");
        }
    }

    /// <summary>
    /// Reads every tensor from a stream positioned at the start of safetensors data, which must run to the end of a
    /// seekable stream. Non-seekable streams are supported; only the bytes the header refers to are consumed.
    /// </summary>
    /// <exception cref="WeightFormatException">The data is not valid F32 safetensors.</exception>
    public static TensorSet Read(Stream stream) => ReadStream(stream, null);

    private static TensorSet ReadStream(Stream stream, ModelDescription? model)
    {
        if (stream is null) throw new ArgumentNullException(nameof(stream));
        if (!stream.CanRead) throw new ArgumentException("The stream is not readable.", nameof(stream));

        Span<byte> prefix = stackalloc byte[8];
        int got = ReadAtMost(stream, prefix);
        if (got < 8)
            throw new WeightFormatException(null,
                $"safetensors data starts with an 8-byte header length, but the input holds only {got} bytes");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);

        if (headerLength > MaxHeaderLength)
            throw new WeightFormatException(null,
                $"header length {headerLength} bytes exceeds the {MaxHeaderLength}-byte limit; this is not a safetensors file or it is corrupt");
        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            if ((long)headerLength > remaining)
                throw new WeightFormatException(null,
                    $"header length is {headerLength} bytes but the file holds only {Math.Max(remaining, 0)} bytes after the 8-byte length");
        }

        byte[] header = ReadUpTo(stream, (long)headerLength);
        if (header.Length < (long)headerLength)
            throw new WeightFormatException(null,
                $"header length is {headerLength} bytes but the input holds only {header.Length} bytes after the 8-byte length");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        List<Entry> entries = ParseHeader(header, metadata);
        Quantization.Int8WeightFile.CheckVersion(metadata);
        bool int8File = Quantization.Int8WeightFile.IsInFormat(metadata);
        foreach (var e in entries)
        {
            // An I8 tensor means something only in the format that defines it; elsewhere it would be bound as floats.
            if (e.DType == "I8" && !e.Ignored && !int8File)
                throw new WeightFormatException(e.Name,
                    $"tensor {Quote(e.Name)} has dtype \"I8\", which ShuffleNetGen reads only in an int8 weight file (__metadata__ {Quote(Quantization.Int8WeightFile.FormatKey)}: {Quote(Quantization.Int8WeightFile.FormatName)}, docs/int8.md)");
        }
        if (model is not null)
        {
            // Everything the model can reject is decided here, from the header, before a single tensor is allocated.
            if (int8File)
            {
                var found = new List<(string, int[], TensorDType)>(entries.Count);
                foreach (var e in entries) if (!e.Ignored) found.Add((e.Name, e.Shape, e.TensorDType));
                Quantization.Int8WeightFile.ValidateHeader(found, model);
            }
            else
            {
                var found = new List<(string, int[])>(entries.Count);
                foreach (var e in entries) if (!e.Ignored) found.Add((e.Name, e.Shape));
                Weights.WeightPacker.ValidateShapes(found, model.WeightLayout, model.Name);
            }
        }

        // Sorted by position: the overlap and hole checks and sequential stream reading need it.
        var byOffset = new List<Entry>(entries);
        byOffset.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckOverlaps(byOffset);

        ulong needed = 0;
        foreach (var e in entries) needed = Math.Max(needed, e.End);

        long dataStart;
        bool seekable = stream.CanSeek;
        if (seekable)
        {
            dataStart = stream.Position;
        }
        else
        {
            // Without Length we cannot check bounds up front, so buffer exactly the bytes the header refers to
            // (growing as they arrive, so a lying header cannot force a huge allocation) and read from memory.
            // A short buffer is then reported by the same bounds check as a short file.
            byte[] buffered = ReadUpTo(stream, (long)Math.Min(needed, (ulong)Array.MaxLength));
            if (needed > (ulong)buffered.Length && buffered.Length == Array.MaxLength && stream.ReadByte() >= 0)
                throw new WeightFormatException(null,
                    $"the header refers to {needed} bytes of data, more than can be buffered from a non-seekable stream; pass a file path or a seekable stream");
            stream = new MemoryStream(buffered, writable: false);
            dataStart = 0;
        }

        long available = Math.Max(stream.Length - dataStart, 0);
        foreach (var e in entries)
        {
            if (e.End > (ulong)available)
                throw new WeightFormatException(e.Name,
                    $"tensor {Quote(e.Name)} needs bytes [{e.Begin}, {e.End}) of the data section but the file holds only {available}");
        }
        CheckNoHoles(byOffset);
        // The format forbids unindexed bytes (they would make polyglot files possible), and trailing bytes are what a
        // corrupted header length leaves: the data would be read shifted. A non-seekable stream is only read as far as
        // the header refers to, so this is checked where the length is known.
        if (seekable && (ulong)available != needed)
            throw new WeightFormatException(null,
                $"the data section holds {available} bytes but the header accounts for {needed}; safetensors data has no unindexed bytes, so the header length or the file is corrupt");

        var tensors = new float[entries.Count][];
        for (int k = 0; k < byOffset.Count; k++)
        {
            var e = byOffset[k];
            // A model has no use for batch counters, so they are never allocated (the header check already ran).
            if (e.Ignored || (model is not null && Weights.WeightPacker.IsBatchCounter(e.Name))) continue;
            long target = dataStart + (long)e.Begin;
            if (stream.Position != target) stream.Position = target;
            var data = new float[e.ElementCount];
            try
            {
                if (e.TensorDType == TensorDType.I8) ReadI8(stream, data);
                else
                {
                    for (int i = 0; i < data.Length; i += ReadChunkFloats)
                    {
                        var chunk = data.AsSpan(i, Math.Min(ReadChunkFloats, data.Length - i));
                        stream.ReadExactly(MemoryMarshal.AsBytes(chunk));
                    }
                }
            }
            catch (EndOfStreamException)
            {
                // Only reachable if the stream shrank or misreported its length after the bounds check.
                throw new WeightFormatException(e.Name,
                    $"tensor {Quote(e.Name)} needs bytes [{e.Begin}, {e.End}) of the data section but the stream ended early");
            }
            if (!BitConverter.IsLittleEndian && e.TensorDType == TensorDType.F32)
            {
                var asInts = MemoryMarshal.Cast<float, int>(data.AsSpan());
                BinaryPrimitives.ReverseEndianness(asInts, asInts);
            }
            tensors[e.Index] = data;
        }

        // Header order, so a read-write round trip preserves the file's order.
        var set = new TensorSet();
        foreach (var pair in metadata) set.Metadata[pair.Key] = pair.Value;
        foreach (var e in entries)
        {
            if (tensors[e.Index] is { } data) set.Add(new NamedTensor(e.Name, e.Shape, data, e.TensorDType));
        }
        return set;
    }

    private static void ReadI8(Stream stream, float[] data)
    {
        var bytes = new byte[Math.Min(data.Length, ReadChunkFloats)];
        for (int i = 0; i < data.Length; i += bytes.Length)
        {
            int count = Math.Min(bytes.Length, data.Length - i);
            stream.ReadExactly(bytes, 0, count);
            for (int k = 0; k < count; k++) data[i + k] = (sbyte)bytes[k];
        }
    }

    /// <summary>
    /// Writes tensors to a safetensors file, in the given order, each as its <see cref="NamedTensor.DType"/> (F32 unless
    /// built as I8), with a <see cref="TensorSet"/>'s <see cref="TensorSet.Metadata"/> as <c>__metadata__</c>. The tensors are enumerated once and checked
    /// before anything is written; the data goes to a temporary file in the same directory that then replaces
    /// <paramref name="path"/>, so a failure never leaves a partly written or emptied file behind.
    /// </summary>
    /// <exception cref="ArgumentException">The list holds null, two tensors share a name, a name is not valid UTF-16
    /// or is the reserved <c>__metadata__</c>, or the header would exceed <see cref="MaxHeaderLength"/>.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Write(string path, IEnumerable<NamedTensor> tensors)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        var (list, header) = Prepare(tensors);

        string target = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(target) ?? ".", $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                WriteData(stream, header, list);
                // On disk before the rename, so a crash cannot leave the new name pointing at unwritten data.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Writes weights in <paramref name="model"/>'s form at rest: for an int8 model, calibrated float weights become its
    /// int8 weight file (<see cref="Quantization.Int8WeightFile.Fold"/>: quantized weights as I8, batch norm folded,
    /// about a quarter of the float file), which <c>FromSafetensors</c> loads to the same packed weights; a float
    /// model's weights are checked and written as F32. Atomic, as <see cref="Write(string, IEnumerable{NamedTensor})"/>.
    /// </summary>
    /// <exception cref="WeightFormatException">The tensors do not fit the model; the message names the tensor.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Write(string path, TensorSet tensors, ModelDescription model) => Write(path, AtRest(tensors, model));

    /// <summary>Writes weights in <paramref name="model"/>'s form at rest to a stream; see <see cref="Write(string, TensorSet, ModelDescription)"/>.</summary>
    /// <exception cref="WeightFormatException">The tensors do not fit the model; the message names the tensor.</exception>
    public static void Write(Stream stream, TensorSet tensors, ModelDescription model) => Write(stream, AtRest(tensors, model));

    private static TensorSet AtRest(TensorSet tensors, ModelDescription model)
    {
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        if (model is null) throw new ArgumentNullException(nameof(model));
        if (model.Precision == Precision.Int8) return Quantization.Int8WeightFile.Fold(model, tensors);
        Weights.WeightPacker.Validate(tensors, model);
        return tensors;
    }

    /// <summary>
    /// Writes tensors as safetensors to a stream, contiguous and in the given order, with the header padded with
    /// spaces to a multiple of 8 bytes so the data section stays aligned. Nothing is written unless every tensor is valid.
    /// </summary>
    /// <exception cref="ArgumentException">As for <see cref="Write(string, IEnumerable{NamedTensor})"/>.</exception>
    public static void Write(Stream stream, IEnumerable<NamedTensor> tensors)
    {
        if (stream is null) throw new ArgumentNullException(nameof(stream));
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        var (list, header) = Prepare(tensors);
        WriteData(stream, header, list);
        stream.Flush();
    }

    /// <summary>Enumerates the tensors once, checks them and builds the padded header: everything that can fail on the input.</summary>
    private static (List<NamedTensor> List, byte[] Header) Prepare(IEnumerable<NamedTensor> tensors)
    {
        var list = new List<NamedTensor>(tensors);
        var metadata = tensors is TensorSet set ? set.Metadata : null;
        // Whatever Write produces, Read accepts: so no format version Read refuses, and no I8 outside the format.
        bool int8File = false;
        if (metadata is not null)
        {
            try
            {
                Quantization.Int8WeightFile.CheckVersion(metadata);
            }
            catch (WeightFormatException e)
            {
                throw new ArgumentException($"The tensor set's Metadata would be refused on reading: {e.Message}", nameof(tensors));
            }
            int8File = Quantization.Int8WeightFile.IsInFormat(metadata);
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (t is { DType: TensorDType.I8 } && !int8File)
                throw new ArgumentException(
                    $"Tensor {Quote(t.Name)} is I8, which is read only in an int8 weight file: the set's Metadata must name the format ({Quote(Quantization.Int8WeightFile.FormatKey)}: {Quote(Quantization.Int8WeightFile.FormatName)}); Int8WeightFile.Fold gives such a set.",
                    nameof(tensors));
            if (t is null) throw new ArgumentException("The tensor list contains null.", nameof(tensors));
            // The reader takes this key for the metadata block, so the tensor would vanish on the way back.
            if (t.Name == MetadataKey) throw new ArgumentException($"Tensor name {Quote(t.Name)} is reserved for metadata.", nameof(tensors));
            if (!seen.Add(t.Name)) throw new ArgumentException($"Tensor {Quote(t.Name)} appears twice.", nameof(tensors));
            // The JSON encoder would quietly write U+FFFD for a lone surrogate, and the name would not survive a round trip.
            if (!IsValidText(t.Name)) throw new ArgumentException($"Tensor name {Quote(t.Name)} is not valid UTF-16 text (a lone surrogate).", nameof(tensors));
        }

        var json = new MemoryStream();
        // Relaxed escaping keeps names readable; the header is never embedded in HTML.
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var pair in metadata)
                {
                    if (pair.Key is null || pair.Value is null || !IsValidText(pair.Key) || !IsValidText(pair.Value))
                        throw new ArgumentException($"Metadata entry {Quote(pair.Key)} is not valid UTF-16 text.", nameof(tensors));
                    w.WriteString(pair.Key, pair.Value);
                }
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                long bytes = (long)t.Data.Length * (t.DType == TensorDType.I8 ? 1 : sizeof(float));
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType == TensorDType.I8 ? "I8" : "F32");
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

        long padded = (json.Length + 7) & ~7L;
        if (padded > MaxHeaderLength)
            throw new ArgumentException($"The header would be {padded} bytes, more than the {MaxHeaderLength} bytes a reader accepts.", nameof(tensors));
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + (int)json.Length).Fill((byte)' ');
        return (list, header);
    }

    private static void WriteData(Stream stream, byte[] header, List<NamedTensor> list)
    {
        stream.Write(header);
        float[]? swapped = BitConverter.IsLittleEndian ? null : new float[ReadChunkFloats];
        byte[]? bytes = null;
        foreach (var t in list)
        {
            if (t.DType == TensorDType.I8)
            {
                // The constructor checked every value is a whole number in -128..127.
                bytes ??= new byte[ReadChunkFloats];
                for (int i = 0; i < t.Data.Length; i += bytes.Length)
                {
                    int count = Math.Min(bytes.Length, t.Data.Length - i);
                    for (int k = 0; k < count; k++) bytes[k] = (byte)(sbyte)t.Data[i + k];
                    stream.Write(bytes, 0, count);
                }
                continue;
            }
            for (int i = 0; i < t.Data.Length; i += ReadChunkFloats)
            {
                var chunk = new ReadOnlySpan<float>(t.Data, i, Math.Min(ReadChunkFloats, t.Data.Length - i));
                if (swapped is not null)
                {
                    var target = MemoryMarshal.Cast<float, int>(swapped.AsSpan(0, chunk.Length));
                    BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<float, int>(chunk), target);
                    chunk = swapped.AsSpan(0, chunk.Length);
                }
                stream.Write(MemoryMarshal.AsBytes(chunk));
            }
        }
    }

    private static bool IsValidText(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return false;
        }
        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private sealed class Entry
    {
        public Entry(int index, string name) { Index = index; Name = name; }
        public int Index { get; }
        public string Name { get; }
        public string? DType { get; set; }
        public TensorDType TensorDType => DType == "I8" ? TensorDType.I8 : TensorDType.F32;
        public int[] Shape { get; set; } = Array.Empty<int>();
        public bool HasShape { get; set; }
        public bool HasOffsets { get; set; }
        public ulong Begin { get; set; }
        public ulong End { get; set; }
        public int ElementCount { get; set; }
        /// <summary>A PyTorch batch counter stored as an integer: its bytes are accounted for, its value never read.</summary>
        public bool Ignored { get; set; }
        public string ShapeText => NamedTensor.FormatShape(Shape);
    }

    private static List<Entry> ParseHeader(byte[] header, Dictionary<string, string> metadata)
    {
        if (!Utf8.IsValid(header))
            throw new WeightFormatException(null, "the header is not valid UTF-8 JSON");
        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new WeightFormatException(null,
                    $"the header must be a JSON object, found {(header.Length == 0 ? "an empty header" : Describe(reader.TokenType))}");
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string name = GetString(ref reader);
                Next(ref reader);
                if (name == MetadataKey)
                {
                    ReadMetadata(ref reader, metadata);
                    continue;
                }
                if (!names.Add(name))
                    throw new WeightFormatException(name, $"tensor {Quote(name)} appears twice in the header");
                var entry = new Entry(entries.Count, name);
                ParseEntry(ref reader, entry);
                // PyTorch's state_dict carries batch counters as I64; they are training bookkeeping, not weights.
                // Not read, but their bytes still count for the overlap and no-holes checks.
                if (entry.DType != "F32" && Weights.WeightPacker.IsBatchCounter(name))
                {
                    if (!entry.HasOffsets || entry.End < entry.Begin)
                        throw new WeightFormatException(name, $"tensor {Quote(name)} has missing or reversed data_offsets");
                    entry.Ignored = true;
                }
                else
                {
                    Validate(entry);
                }
                entries.Add(entry);
            }
            // Anything but whitespace after the object makes the reader throw.
            if (reader.Read())
                throw new WeightFormatException(null, $"the header has {Describe(reader.TokenType)} after its JSON object");
        }
        catch (JsonException e)
        {
            throw new WeightFormatException(null, $"the header is not valid JSON: {TensorNameText.Bounded(WithoutPosition(e.Message))} (at byte {e.BytePositionInLine} of line {e.LineNumber + 1})");
        }
        return entries;
    }

    /// <summary>
    /// The format makes metadata a map of strings. A value of another kind is skipped, unless its key is one of
    /// ShuffleNetGen's own: a version written as a number must not make a file look like float weights.
    /// </summary>
    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string key = GetString(ref reader);
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.String) metadata[key] = GetString(ref reader);
            else if (key == Quantization.Int8WeightFile.FormatKey || key == Quantization.Int8WeightFile.VersionKey)
                throw new WeightFormatException(null, $"__metadata__ {Quote(key)} is {Describe(ref reader)}; safetensors metadata values are strings");
            else reader.Skip();
        }
    }

    private static void ParseEntry(ref Utf8JsonReader reader, Entry entry)
    {
        string name = entry.Name;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new WeightFormatException(name,
                $"tensor {Quote(name)} must be described by an object with dtype, shape and data_offsets, found {Describe(reader.TokenType)}");
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string key = GetString(ref reader);
            Next(ref reader);
            switch (key)
            {
                case "dtype":
                    if (entry.DType is not null) throw new WeightFormatException(name, $"tensor {Quote(name)} has two dtype fields");
                    if (reader.TokenType != JsonTokenType.String)
                        throw new WeightFormatException(name, $"tensor {Quote(name)} has a dtype that is {Describe(reader.TokenType)}; expected a string such as \"F32\"");
                    entry.DType = GetString(ref reader);
                    break;
                case "shape":
                    if (entry.HasShape) throw new WeightFormatException(name, $"tensor {Quote(name)} has two shape fields");
                    entry.Shape = ReadShape(ref reader, name);
                    entry.HasShape = true;
                    break;
                case "data_offsets":
                    if (entry.HasOffsets) throw new WeightFormatException(name, $"tensor {Quote(name)} has two data_offsets fields");
                    ReadOffsets(ref reader, entry);
                    entry.HasOffsets = true;
                    break;
                default:
                    // Unknown fields are tolerated: the format may grow, and they change nothing we read.
                    reader.Skip();
                    break;
            }
        }
    }

    private static int[] ReadShape(ref Utf8JsonReader reader, string name)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new WeightFormatException(name, $"tensor {Quote(name)} has a shape that is {Describe(reader.TokenType)}; expected an array of integers");
        var dims = new List<int>();
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndArray) break;
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long d))
                throw new WeightFormatException(name,
                    $"tensor {Quote(name)} has shape entry {dims.Count} that is {Describe(ref reader)}; expected a non-negative integer");
            if (d < 0)
                throw new WeightFormatException(name, $"tensor {Quote(name)} has negative dimension {d} at index {dims.Count} of its shape");
            if (d > int.MaxValue)
                throw new WeightFormatException(name,
                    $"tensor {Quote(name)} has dimension {d} at index {dims.Count} of its shape; at most {int.MaxValue} is supported");
            dims.Add((int)d);
        }
        return dims.ToArray();
    }

    private static void ReadOffsets(ref Utf8JsonReader reader, Entry entry)
    {
        string name = entry.Name;
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new WeightFormatException(name,
                $"tensor {Quote(name)} has data_offsets that is {Describe(reader.TokenType)}; expected an array [begin, end]");
        var values = new List<ulong>(2);
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndArray) break;
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out ulong v))
                throw new WeightFormatException(name,
                    $"tensor {Quote(name)} has data_offsets entry {values.Count} that is {Describe(ref reader)}; expected a non-negative integer");
            values.Add(v);
        }
        if (values.Count != 2)
            throw new WeightFormatException(name, $"tensor {Quote(name)} has {values.Count} data_offsets; expected 2 ([begin, end])");
        entry.Begin = values[0];
        entry.End = values[1];
    }

    private static void Validate(Entry e)
    {
        string name = e.Name;
        if (e.DType is null) throw new WeightFormatException(name, $"tensor {Quote(name)} has no dtype; expected \"dtype\": \"F32\"");
        if (!e.HasShape) throw new WeightFormatException(name, $"tensor {Quote(name)} has no shape");
        if (!e.HasOffsets) throw new WeightFormatException(name, $"tensor {Quote(name)} has no data_offsets");
        if (e.DType != "F32" && e.DType != "I8")
            throw new WeightFormatException(name, $"tensor {Quote(name)} has dtype {Quote(e.DType)}; ShuffleNetGen reads F32 only, and I8 in an int8 weight file");

        // The largest array .NET allocates: beyond it the allocation itself would fail with OutOfMemoryException.
        long count = NamedTensor.ElementCountWithinArrayLimit(e.Shape);
        if (count < 0)
            throw new WeightFormatException(name,
                $"tensor {Quote(name)} has shape {e.ShapeText}, more than {Array.MaxLength} elements; ShuffleNetGen reads at most {Array.MaxLength} per tensor");
        e.ElementCount = (int)count;

        if (e.End < e.Begin)
            throw new WeightFormatException(name,
                $"tensor {Quote(name)} has data_offsets [{e.Begin}, {e.End}): the end is before the begin");
        ulong span = e.End - e.Begin;
        ulong expected = (ulong)count * (e.DType == "I8" ? 1u : sizeof(float));
        if (span != expected)
            throw new WeightFormatException(name,
                $"tensor {Quote(name)} has shape {e.ShapeText}, {count} {e.DType} values needing {expected} bytes, but data_offsets [{e.Begin}, {e.End}) span {span} bytes");
    }

    private static void CheckOverlaps(List<Entry> byOffset)
    {
        Entry? furthest = null;
        foreach (var e in byOffset)
        {
            if (e.End == e.Begin) continue; // empty tensors occupy no bytes
            if (furthest is not null && e.Begin < furthest.End)
                throw new WeightFormatException(e.Name,
                    $"tensor {Quote(e.Name)} occupies bytes [{e.Begin}, {e.End}) of the data section, overlapping tensor {Quote(furthest.Name)} at [{furthest.Begin}, {furthest.End})");
            if (furthest is null || e.End > furthest.End) furthest = e;
        }
    }

    /// <summary>
    /// Non-empty tensors must tile the data section from byte 0 without gaps, as the format requires. Called after the overlap check, on entries sorted by offset.
    /// </summary>
    private static void CheckNoHoles(List<Entry> byOffset)
    {
        ulong end = 0;
        foreach (var e in byOffset)
        {
            if (e.End == e.Begin) continue;
            if (e.Begin != end)
                throw new WeightFormatException(e.Name,
                    $"tensor {Quote(e.Name)} starts at byte {e.Begin} of the data section, leaving bytes [{end}, {e.Begin}) that no tensor accounts for");
            end = e.End;
        }
    }

    private static string Quote(string? name) => TensorNameText.Quote(name);

    /// <summary>System.Text.Json appends the position as " LineNumber: … | BytePositionInLine: …."; it is reported separately.</summary>
    private static string WithoutPosition(string message)
    {
        int at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return at >= 0 ? message.Substring(0, at) : message;
    }

    /// <summary>Advances, treating the end of the header as malformed JSON (a truncated or unbalanced object).</summary>
    private static void Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new WeightFormatException(null, "the header JSON ends before its object is closed");
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    // A number token is only digits, signs, '.' and exponents, but it can be megabytes long.
    private static string Describe(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number
            ? (reader.ValueSpan.Length <= 40 ? Encoding.UTF8.GetString(reader.ValueSpan) : Encoding.UTF8.GetString(reader.ValueSpan.Slice(0, 40)) + $"… ({reader.ValueSpan.Length} characters)")
            : Describe(reader.TokenType);

    private static string GetString(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString() ?? "";
        }
        catch (InvalidOperationException e)
        {
            // Escapes that decode to invalid UTF-16 (a lone surrogate) pass the tokenizer but fail here.
            throw new WeightFormatException(null, $"the header holds a string that is not valid text: {TensorNameText.Bounded(e.Message)}");
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the count read.</summary>
    private static int ReadAtMost(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer.Slice(total));
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> bytes, growing the buffer as data arrives so a bogus length costs only
    /// what the stream really holds. Returns fewer bytes if the stream ends first.
    /// </summary>
    private static byte[] ReadUpTo(Stream stream, long count)
    {
        var buffer = new byte[(int)Math.Min(count, 1 << 16)];
        int filled = 0;
        while (filled < count)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(count, Math.Min((long)buffer.Length * 2, Array.MaxLength)));
            int n = stream.Read(buffer, filled, buffer.Length - filled);
            if (n == 0) break;
            filled += n;
        }
        if (filled < buffer.Length) Array.Resize(ref buffer, filled);
        return buffer;
    }
}
