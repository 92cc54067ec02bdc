using System;
using System.Text;

namespace ShuffleNetGen;

/// <summary>
/// How a name read from an untrusted file appears inside an exception message: quoted, with control characters
/// escaped and the length capped, so a hostile file can neither inject terminal escapes or fake log lines nor make a
/// message megabytes long.
/// </summary>
internal static class TensorNameText
{
    /// <summary>Names longer than this many characters are cut, keeping the start and saying how long they were.</summary>
    public const int MaxShownLength = 120;

    /// <summary>The name in single quotes, escaped and capped; <c>(null)</c> for null.</summary>
    public static string Quote(string? name)
    {
        if (name is null) return "(null)";
        var builder = new StringBuilder(Math.Min(name.Length, MaxShownLength) + 16);
        builder.Append('\'');
        int shown = Math.Min(name.Length, MaxShownLength);
        for (int i = 0; i < shown; i++)
        {
            char c = name[i];
            switch (c)
            {
                case '\'': builder.Append("\\'"); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    AppendEscaped(builder, c);
                    break;
            }
        }
        builder.Append('\'');
        if (name.Length > shown) builder.Append("… (").Append(name.Length).Append(" characters)");
        return builder.ToString();
    }

    /// <summary>
    /// Text echoed from the input, or from a parser about it, without quotes: unsafe characters escaped as in
    /// <see cref="Quote"/>, cut after <paramref name="max"/> characters with an ellipsis.
    /// </summary>
    public static string Bounded(string text, int max = 160)
    {
        var builder = new StringBuilder(Math.Min(text.Length, max) + 8);
        foreach (char c in text)
        {
            if (builder.Length >= max)
            {
                builder.Append('…');
                break;
            }
            AppendEscaped(builder, c);
        }
        return builder.ToString();
    }

    // C0/C1 controls (ESC starts ANSI sequences), and the bidi and line separators that reorder or split lines.
    private static void AppendEscaped(StringBuilder builder, char c)
    {
        if (char.IsControl(c) || c is '\u2028' or '\u2029' || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069'))
            builder.Append("\\u").Append(((int)c).ToString("X4"));
        else
            builder.Append(c);
    }
}
