using System;
using System.Globalization;
using System.Text;

namespace ShuffleNetGen.Generator.Helpers;

/// <summary>A StringBuilder with an indentation level; checks that every block it opened was closed.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    public int Indent => _indent;

    public SourceWriter Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', _indent * 4).Append(line);
        _text.Append('\n');
        return this;
    }

    /// <summary>Writes <paramref name="header"/> and "{" and indents; dispose the result to write "}".</summary>
    public Block Open(string header, string closing = "}")
    {
        Line(header);
        Line("{");
        _indent++;
        return new Block(this, closing);
    }

    /// <summary>A bare block, to scope locals that repeat between siblings.</summary>
    public Block OpenScope()
    {
        Line("{");
        _indent++;
        return new Block(this, "}");
    }

    public void Close(string closing = "}")
    {
        _indent--;
        if (_indent < 0) throw new InvalidOperationException("Unbalanced block in generated source.");
        Line(closing);
    }

    public override string ToString()
    {
        if (_indent != 0) throw new InvalidOperationException("Generated source left " + _indent + " blocks open.");
        return _text.ToString();
    }

    /// <summary>Float literal that round-trips and never depends on the current culture.</summary>
    public static string Float(float value) => value.ToString("R", CultureInfo.InvariantCulture) + "f";

    public static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    internal readonly struct Block : IDisposable
    {
        private readonly SourceWriter _writer;
        private readonly string _closing;

        public Block(SourceWriter writer, string closing)
        {
            _writer = writer;
            _closing = closing;
        }

        public void Dispose() => _writer?.Close(_closing);
    }
}
