using System.Buffers.Binary;
using System.Text;
using ShuffleNetGen.Tests.Fixtures;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// Safetensors files taken apart and put together byte by byte, so the reader's tests can hand it what the writer
/// never produces: a header changed by hand, a length prefix that lies, data that does not fit.
/// </summary>
internal static class SafetensorsFiles
{
    /// <summary>The bytes of a PyTorch fixture's weights (<paramref name="name"/> is one of <see cref="PyTorchFixture.Names"/>).</summary>
    public static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(PyTorchFixture.FixtureDirectory, name + ".safetensors"));

    /// <summary>What <see cref="Safetensors.Write(Stream, IEnumerable{NamedTensor})"/> writes for <paramref name="tensors"/>.</summary>
    public static byte[] WriteToBytes(IEnumerable<NamedTensor> tensors)
    {
        var ms = new MemoryStream();
        Safetensors.Write(ms, tensors);
        return ms.ToArray();
    }

    /// <summary>The header text and the data section of a well-formed file.</summary>
    public static (string Header, byte[] Data) Split(byte[] file)
    {
        int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        return (Encoding.UTF8.GetString(file, 8, length), file.AsSpan(8 + length).ToArray());
    }

    /// <summary>A file of the given header text and data, its length prefix the header's byte count unless <paramref name="declaredLength"/> says otherwise.</summary>
    public static byte[] Join(string header, byte[]? data = null, ulong? declaredLength = null) =>
        Join(Encoding.UTF8.GetBytes(header), data ?? Array.Empty<byte>(), declaredLength);

    /// <summary>A file of the given header bytes (which need not be UTF-8) and data.</summary>
    public static byte[] Join(byte[] header, byte[] data, ulong? declaredLength = null)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    /// <summary>The header with one more entry before its closing brace.</summary>
    public static string WithEntry(string header, string entry)
    {
        header = header.TrimEnd();
        return header[..^1] + "," + entry + "}";
    }
}
