using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace ShuffleNetGen.Onnx;

/// <summary>
/// How text taken from an ONNX file appears in exception messages. Names, operator types and attribute strings are
/// untrusted (a file can hold megabytes of them, or terminal escapes), and lists such as dims or a node's consumers can
/// be as long as the file, so every piece is escaped and capped: a message stays a few hundred characters whatever the
/// file holds.
/// </summary>
internal static class OnnxText
{
    /// <summary>Items of a list shown before the rest is summarized as a count.</summary>
    public const int ShownItems = 6;

    /// <summary>A name from the file: quoted, escaped and capped (see <see cref="TensorNameText.Quote"/>).</summary>
    public static string Q(string? name) => TensorNameText.Quote(name);

    /// <summary>An operator type as written in messages: bare when it is a plain identifier, quoted otherwise.</summary>
    public static string Op(string opType)
    {
        if (opType.Length == 0 || opType.Length > 40) return Q(opType);
        foreach (char c in opType)
            if (!(c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '_')) return Q(opType);
        return opType;
    }

    /// <summary>A dimension list as <c>[a, b, c]</c>, cut after <see cref="ShownItems"/> entries with the total length.</summary>
    public static string Dims(IEnumerable<long> dims) => Bracketed(dims.Select(d => d.ToString(CultureInfo.InvariantCulture)));

    /// <inheritdoc cref="Dims(IEnumerable{long})"/>
    public static string Dims(IEnumerable<int> dims) => Bracketed(dims.Select(d => d.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Items joined by ", ", cut after <see cref="ShownItems"/> with how many there are in all.</summary>
    public static string List(IEnumerable<string> items)
    {
        var builder = new StringBuilder();
        int count = 0;
        foreach (var item in items)
        {
            if (count < ShownItems)
            {
                if (count > 0) builder.Append(", ");
                builder.Append(item);
            }
            count++;
        }
        if (count > ShownItems) builder.Append(", … (").Append(count.ToString(CultureInfo.InvariantCulture)).Append(" in all)");
        return builder.ToString();
    }

    private static string Bracketed(IEnumerable<string> items) => "[" + List(items) + "]";
}
