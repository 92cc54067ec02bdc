using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace ShuffleNetGen.Generator.Json;

// Why a JSON reader of our own rather than System.Text.Json: the generator runs inside whatever compiler loads it
// (Visual Studio's .NET Framework host, older SDKs, build servers). System.Text.Json is not part of netstandard2.0, so
// it would have to ship inside the analyzer package together with its own dependencies (System.Memory,
// System.Text.Encodings.Web, ...), and whichever version the host has already loaded wins: a mismatch fails at load
// time, silently, as CS8032/CS8784. A model declaration is a few hundred bytes, so a small strict reader costs nothing,
// and it gives what no off-the-shelf reader does: the exact span and line/column of every value, so each diagnostic
// can underline the value to fix.

internal enum JsonKind
{
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

/// <summary>A parsed JSON value with the span of its source text (for a string, including the quotes).</summary>
internal sealed class JsonNode
{
    private JsonNode(JsonKind kind, TextSpan span, LinePositionSpan lineSpan)
    {
        Kind = kind;
        Span = span;
        LineSpan = lineSpan;
    }

    public JsonKind Kind { get; }
    public TextSpan Span { get; }
    public LinePositionSpan LineSpan { get; }

    /// <summary>The unescaped value of a string.</summary>
    public string StringValue { get; private set; } = "";

    /// <summary>The value of a number; ±infinity when it is too large for a double.</summary>
    public double NumberValue { get; private set; }

    /// <summary>The number as written, so a message can quote it exactly.</summary>
    public string RawText { get; private set; } = "";

    public IReadOnlyList<JsonProperty> Properties { get; private set; } = System.Array.Empty<JsonProperty>();

    /// <summary>The first <see cref="JsonReader.MaxItems"/> entries of an array; <see cref="Count"/> says how many it has.</summary>
    public IReadOnlyList<JsonNode> Items { get; private set; } = System.Array.Empty<JsonNode>();

    /// <summary>How many entries an array has, including those past <see cref="JsonReader.MaxItems"/> that were not kept.</summary>
    public int Count { get; private set; }

    /// <summary>Whether an array has more entries than <see cref="Items"/> holds.</summary>
    public bool Truncated => Count > Items.Count;

    /// <summary>The span of the opening brace or bracket, for messages about a whole object that should not underline all of it.</summary>
    public TextSpan OpeningSpan => Kind is JsonKind.Object or JsonKind.Array ? new TextSpan(Span.Start, 1) : Span;

    public LinePositionSpan OpeningLineSpan =>
        Kind is JsonKind.Object or JsonKind.Array
            ? new LinePositionSpan(LineSpan.Start, new LinePosition(LineSpan.Start.Line, LineSpan.Start.Character + 1))
            : LineSpan;

    public string KindName => Kind switch
    {
        JsonKind.Object => "an object",
        JsonKind.Array => "an array",
        JsonKind.String => "a string",
        JsonKind.Number => "a number",
        JsonKind.True or JsonKind.False => "a boolean",
        _ => "null",
    };

    internal static JsonNode Scalar(JsonKind kind, TextSpan span, LinePositionSpan lineSpan) => new(kind, span, lineSpan);

    internal static JsonNode String(string value, TextSpan span, LinePositionSpan lineSpan) => new(JsonKind.String, span, lineSpan) { StringValue = value };

    internal static JsonNode Number(double value, string raw, TextSpan span, LinePositionSpan lineSpan) =>
        new(JsonKind.Number, span, lineSpan) { NumberValue = value, RawText = raw };

    internal static JsonNode Object(List<JsonProperty> properties, TextSpan span, LinePositionSpan lineSpan) =>
        new(JsonKind.Object, span, lineSpan) { Properties = properties };

    internal static JsonNode Array(List<JsonNode> items, int count, TextSpan span, LinePositionSpan lineSpan) =>
        new(JsonKind.Array, span, lineSpan) { Items = items, Count = count };

    /// <summary>Stands for every value inside an array entry past <see cref="JsonReader.MaxItems"/>: read, checked, never kept.</summary>
    internal static readonly JsonNode Discarded = new(JsonKind.Null, default, default);
}

/// <summary>One <c>"name": value</c> pair; <see cref="NameSpan"/> includes the quotes.</summary>
internal sealed class JsonProperty
{
    public JsonProperty(string name, TextSpan nameSpan, LinePositionSpan nameLineSpan, JsonNode value)
    {
        Name = name;
        NameSpan = nameSpan;
        NameLineSpan = nameLineSpan;
        Value = value;
    }

    public string Name { get; }
    public TextSpan NameSpan { get; }
    public LinePositionSpan NameLineSpan { get; }
    public JsonNode Value { get; }
}

/// <summary>Why a text is not JSON, and where.</summary>
internal sealed record JsonSyntaxError(string Message, TextSpan Span, LinePositionSpan LineSpan);

/// <summary>Either a document or the first syntax error in it.</summary>
internal sealed record JsonDocument(JsonNode? Root, JsonSyntaxError? Error);

/// <summary>
/// A strict RFC 8259 reader: no comments, no trailing commas, no single quotes, so whatever it accepts every editor and
/// JSON Schema validator accepts too. It stops at the first error, which it reports with the position of the offending
/// character and a message that says what was expected there.
/// </summary>
internal sealed class JsonReader
{
    /// <summary>
    /// Nesting beyond this is reported rather than followed: the reader recurses, and a stack overflow would take the
    /// compiler process down with it (it cannot be caught). A declaration needs a depth of 2.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Entries of an array kept; the rest are checked for syntax and counted, but not materialized, so a 30 MB array
    /// costs no memory beyond the text. No setting takes more than 4 entries, so 16 leaves room to report the count.
    /// </summary>
    public const int MaxItems = 16;

    /// <summary>
    /// Properties one object may have. A declaration has 12; past this the file is not a declaration gone slightly
    /// wrong, and reading on would cost memory and diagnostics in proportion to whatever it holds.
    /// </summary>
    public const int MaxProperties = 256;

    private readonly string _text;
    private readonly LineMap _lines;
    private int _pos;
    private int _depth;

    /// <summary>Above zero while reading an array entry that is not kept: values are checked but nothing is allocated.</summary>
    private int _discard;

    private JsonReader(string text)
    {
        _text = text;
        _lines = new LineMap(text);
    }

    public static JsonDocument Parse(string text)
    {
        var reader = new JsonReader(text);
        try
        {
            // A byte order mark survives some decoders; RFC 8259 lets a reader ignore it.
            if (reader._text.Length > 0 && reader._text[0] == '\uFEFF') reader._pos = 1;
            reader.SkipWhitespace();
            if (reader.AtEnd) throw reader.Error("the file is empty; write a JSON object such as { \"name\": \"MyNet\" }", reader._pos, 0);
            var root = reader.ReadValue();
            reader.SkipWhitespace();
            if (!reader.AtEnd) throw reader.Error($"unexpected {reader.Describe(reader._pos)} after the end of the top-level value; a file holds one JSON value", reader._pos, 1);
            return new JsonDocument(root, null);
        }
        catch (JsonReaderException e)
        {
            return new JsonDocument(null, e.Error);
        }
    }

    private bool AtEnd => _pos >= _text.Length;

    private char Current => _text[_pos];

    private LinePositionSpan LineSpan(int start, int end) => new(_lines.Position(start), _lines.Position(end));

    private JsonNode ReadValue()
    {
        SkipWhitespace();
        if (AtEnd) throw Error("the text ends where a value was expected", _pos, 0);
        char c = Current;
        switch (c)
        {
            case '{': return ReadObject();
            case '[': return ReadArray();
            case '"':
            {
                int start = _pos;
                string? value = ReadString();
                return value is null ? JsonNode.Discarded : JsonNode.String(value, TextSpan.FromBounds(start, _pos), LineSpan(start, _pos));
            }
            case 't': return ReadLiteral("true", JsonKind.True);
            case 'f': return ReadLiteral("false", JsonKind.False);
            case 'n': return ReadLiteral("null", JsonKind.Null);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                if (c == '\'') throw Error("strings take double quotes (\") in JSON, not single quotes", _pos, 1);
                if (IsNameStart(c)) throw UnexpectedWord(_pos, WordEnd(_pos));
                if (c == '}' || c == ']') throw Error($"expected a value before '{c}'; remove the trailing comma if there is one", _pos, 1);
                throw Error($"unexpected {Describe(_pos)} where a value was expected (an object, array, string, number, true, false or null)", _pos, 1);
        }
    }

    private JsonNode ReadObject()
    {
        int start = _pos;
        Enter(start);
        _pos++; // {
        var properties = _discard > 0 ? null : new List<JsonProperty>();
        int count = 0;
        SkipWhitespace();
        if (!AtEnd && Current == '}')
        {
            _pos++;
            return Leave(NewObject(properties, start));
        }
        while (true)
        {
            SkipWhitespace();
            if (AtEnd) throw Error($"the text ends inside the object that starts at line {_lines.Position(start).Line + 1}; close it with '}}'", _pos, 0);
            if (Current == '}') throw Error("expected a property name after ','; remove the trailing comma", _pos, 1);
            if (Current != '"')
            {
                string hint = Current == '\'' ? "property names take double quotes (\"), not single quotes" :
                    IsNameStart(Current) ? "property names must be quoted, e.g. \"groups\"" :
                    $"expected a property name in double quotes, found {Describe(_pos)}";
                throw Error(hint, _pos, 1);
            }
            int nameStart = _pos;
            if (++count > MaxProperties)
                throw Error($"the object that starts at line {_lines.Position(start).Line + 1} has more than {MaxProperties} properties; a model declaration has at most {JsonDeclarationParser.RootProperties.Length}", nameStart, 1);
            string name = ReadString() ?? "";
            var nameSpan = TextSpan.FromBounds(nameStart, _pos);
            var nameLines = LineSpan(nameStart, _pos);
            SkipWhitespace();
            if (AtEnd) throw Error($"the text ends after property name \"{name}\"; expected ':'", _pos, 0);
            if (Current != ':') throw Error($"expected ':' after property name \"{name}\", found {Describe(_pos)}", _pos, 1);
            _pos++;
            var value = ReadValue();
            properties?.Add(new JsonProperty(name, nameSpan, nameLines, value));
            SkipWhitespace();
            if (AtEnd) throw Error($"the text ends inside the object that starts at line {_lines.Position(start).Line + 1}; expected ',' or '}}'", _pos, 0);
            if (Current == ',')
            {
                _pos++;
                continue;
            }
            if (Current == '}')
            {
                _pos++;
                return Leave(NewObject(properties, start));
            }
            throw Error(Current == '"'
                ? "expected ',' between properties"
                : $"expected ',' or '}}' after the value of \"{name}\", found {Describe(_pos)}", _pos, 1);
        }
    }

    private JsonNode ReadArray()
    {
        int start = _pos;
        Enter(start);
        _pos++; // [
        var items = _discard > 0 ? null : new List<JsonNode>();
        int count = 0;
        SkipWhitespace();
        if (!AtEnd && Current == ']')
        {
            _pos++;
            return Leave(NewArray(items, count, start));
        }
        while (true)
        {
            SkipWhitespace();
            if (!AtEnd && Current == ']') throw Error("expected a value after ','; remove the trailing comma", _pos, 1);
            // Counted past int.MaxValue only by a text longer than a string can be, so the count cannot overflow.
            count++;
            if (items is not null && items.Count < MaxItems)
            {
                items.Add(ReadValue());
            }
            else
            {
                _discard++;
                ReadValue();
                _discard--;
            }
            SkipWhitespace();
            if (AtEnd) throw Error($"the text ends inside the array that starts at line {_lines.Position(start).Line + 1}; expected ',' or ']'", _pos, 0);
            if (Current == ',')
            {
                _pos++;
                continue;
            }
            if (Current == ']')
            {
                _pos++;
                return Leave(NewArray(items, count, start));
            }
            throw Error($"expected ',' or ']' in the array, found {Describe(_pos)}", _pos, 1);
        }
    }

    private JsonNode NewObject(List<JsonProperty>? properties, int start) =>
        properties is null ? JsonNode.Discarded : JsonNode.Object(properties, TextSpan.FromBounds(start, _pos), LineSpan(start, _pos));

    private JsonNode NewArray(List<JsonNode>? items, int count, int start) =>
        items is null ? JsonNode.Discarded : JsonNode.Array(items, count, TextSpan.FromBounds(start, _pos), LineSpan(start, _pos));

    private void Enter(int start)
    {
        if (++_depth > MaxDepth) throw Error($"values are nested more than {MaxDepth} deep", start, 1);
    }

    private JsonNode Leave(JsonNode node)
    {
        _depth--;
        return node;
    }

    /// <summary>The unescaped string; null (nothing allocated) while discarding.</summary>
    private string? ReadString()
    {
        int start = _pos;
        _pos++; // opening quote
        StringBuilder? builder = null;
        int runStart = _pos;
        while (true)
        {
            if (AtEnd) throw Error("the string is not closed; add the closing '\"'", start, 1);
            char c = Current;
            if (c == '"')
            {
                if (_discard > 0)
                {
                    _pos++;
                    return null;
                }
                string value = builder is null ? _text.Substring(runStart, _pos - runStart) : builder.Append(_text, runStart, _pos - runStart).ToString();
                _pos++;
                return value;
            }
            if (c == '\\')
            {
                int escapeStart = _pos;
                char escaped = ReadEscape();
                if (_discard > 0) continue;
                builder ??= new StringBuilder();
                builder.Append(_text, runStart, escapeStart - runStart);
                builder.Append(escaped);
                runStart = _pos;
                continue;
            }
            if (c < 0x20)
            {
                throw c is '\n' or '\r'
                    ? Error("the string is not closed before the end of the line; add the closing '\"'", start, 1)
                    : Error($"control character U+{(int)c:X4} must be escaped in a string", _pos, 1);
            }
            _pos++;
        }
    }

    private char ReadEscape()
    {
        int start = _pos;
        _pos++; // backslash
        if (AtEnd) throw Error("the text ends inside an escape sequence", start, 1);
        char c = Current;
        _pos++;
        switch (c)
        {
            case '"': return '"';
            case '\\': return '\\';
            case '/': return '/';
            case 'b': return '\b';
            case 'f': return '\f';
            case 'n': return '\n';
            case 'r': return '\r';
            case 't': return '\t';
            case 'u':
                int value = 0;
                for (int i = 0; i < 4; i++)
                {
                    if (AtEnd) throw Error("the text ends inside a \\u escape; it takes four hex digits", start, _pos - start);
                    int digit = HexValue(Current);
                    if (digit < 0) throw Error("a \\u escape takes four hex digits, e.g. \\u00e9", start, _pos - start + 1);
                    value = value * 16 + digit;
                    _pos++;
                }
                return (char)value;
            default:
                throw Error($"'\\{Printable(c)}' is not a JSON escape; use \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX", start, 2);
        }
    }

    private JsonNode ReadNumber()
    {
        int start = _pos;
        if (Current == '-') _pos++;
        if (AtEnd || !IsDigit(Current)) throw Error("expected a digit after '-'", start, Math.Max(1, _pos - start));
        if (Current == '0')
        {
            _pos++;
            if (!AtEnd && IsDigit(Current)) throw Error("numbers cannot have leading zeros", start, _pos - start + 1);
        }
        else
        {
            while (!AtEnd && IsDigit(Current)) _pos++;
        }
        if (!AtEnd && Current == '.')
        {
            _pos++;
            if (AtEnd || !IsDigit(Current)) throw Error("expected a digit after the decimal point", start, _pos - start);
            while (!AtEnd && IsDigit(Current)) _pos++;
        }
        if (!AtEnd && Current is 'e' or 'E')
        {
            _pos++;
            if (!AtEnd && Current is '+' or '-') _pos++;
            if (AtEnd || !IsDigit(Current)) throw Error("expected a digit in the exponent", start, _pos - start);
            while (!AtEnd && IsDigit(Current)) _pos++;
        }
        if (!AtEnd && (IsNameStart(Current) || Current == '.'))
            throw Error($"unexpected {Describe(_pos)} in a number", _pos, 1);
        if (_discard > 0) return JsonNode.Discarded;
        string raw = _text.Substring(start, _pos - start);
        // .NET Framework's double.Parse throws OverflowException beyond ±1.8e308 where .NET Core returns infinity; the
        // grammar is already checked, so a failed TryParse can only mean overflow.
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            value = raw[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
        return JsonNode.Number(value, raw, TextSpan.FromBounds(start, _pos), LineSpan(start, _pos));
    }

    private JsonNode ReadLiteral(string literal, JsonKind kind)
    {
        int start = _pos;
        int end = WordEnd(start);
        if (end - start != literal.Length || string.CompareOrdinal(_text, start, literal, 0, literal.Length) != 0) throw UnexpectedWord(start, end);
        _pos = end;
        if (_discard > 0) return JsonNode.Discarded;
        return JsonNode.Scalar(kind, TextSpan.FromBounds(start, end), LineSpan(start, end));
    }

    private int WordEnd(int start)
    {
        int end = start;
        while (end < _text.Length && (IsNameStart(_text[end]) || IsDigit(_text[end]))) end++;
        return end;
    }

    private JsonReaderException UnexpectedWord(int start, int end)
    {
        string word = _text.Substring(start, end - start);
        string? literal = new[] { "true", "false", "null" }.FirstOrDefault(l => string.Equals(word, l, StringComparison.OrdinalIgnoreCase));
        return Error(literal is not null
            ? $"'{word}' must be written '{literal}' (JSON literals are lower case)"
            : $"unexpected '{Truncate(word)}' where a value was expected; strings take double quotes", start, end - start);
    }

    private void SkipWhitespace()
    {
        while (!AtEnd && Current is ' ' or '\t' or '\n' or '\r') _pos++;
        // '/' is never JSON outside a string, so this is the one place to recognise a comment wherever it stands.
        if (!AtEnd && Current == '/' && _pos + 1 < _text.Length && _text[_pos + 1] is '/' or '*')
            throw Error("comments are not allowed in JSON", _pos, 2);
    }

    private string Describe(int pos)
    {
        if (pos >= _text.Length) return "the end of the text";
        char c = _text[pos];
        if (IsNameStart(c)) return $"'{Truncate(_text.Substring(pos, WordEnd(pos) - pos))}'";
        return $"'{Printable(c)}'";
    }

    private static string Printable(char c) => c < 0x20 || c == 0x7F || char.IsSurrogate(c) || char.IsWhiteSpace(c) ? $"U+{(int)c:X4}" : c.ToString();

    private static string Truncate(string word) => word.Length <= 24 ? word : word.Substring(0, 24) + "…";

    private static bool IsDigit(char c) => c >= '0' && c <= '9';

    private static bool IsNameStart(char c) => char.IsLetter(c) || c == '_' || c == '$';

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private JsonReaderException Error(string message, int start, int length)
    {
        start = Math.Min(start, _text.Length);
        int end = Math.Min(_text.Length, start + Math.Max(0, length));
        return new JsonReaderException(new JsonSyntaxError(message, TextSpan.FromBounds(start, end), LineSpan(start, end)));
    }

    /// <summary>Unwinds the recursive descent to <see cref="Parse"/>, which turns it into a result; it never escapes.</summary>
    private sealed class JsonReaderException : Exception
    {
        public JsonReaderException(JsonSyntaxError error) : base(error.Message) => Error = error;

        public JsonSyntaxError Error { get; }
    }
}

/// <summary>
/// Offsets to line/column. Breaks lines exactly where Roslyn's <see cref="SourceText"/> does (CR, LF, CRLF, NEL, LS,
/// PS), so a position we report is the position the IDE shows for the same file even when a string holds U+2028.
/// </summary>
internal sealed class LineMap
{
    private readonly List<int> _starts = new() { 0 };

    public LineMap(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\r')
            {
                if (i + 1 < text.Length && text[i + 1] == '\n') i++;
                _starts.Add(i + 1);
            }
            else if (c is '\n' or '\u0085' or '\u2028' or '\u2029')
            {
                _starts.Add(i + 1);
            }
        }
    }

    public LinePosition Position(int offset)
    {
        int line = _starts.BinarySearch(offset);
        if (line < 0) line = ~line - 1;
        return new LinePosition(line, offset - _starts[line]);
    }
}
