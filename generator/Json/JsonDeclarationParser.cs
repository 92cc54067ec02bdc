using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Json;

/// <summary>
/// A <c>*.shufflenet.json</c> file as the pipeline caches it: path and content, compared by value, so an edit that
/// leaves the text as it was (a save without change, a touched timestamp) re-runs nothing after this stage.
/// </summary>
internal sealed record JsonFile(string Path, string? Text);

/// <summary>
/// Reads a JSON declaration into the same <see cref="DeclaredSettings"/> the attribute produces, with where in the file
/// each setting was written, and hands both to the same <see cref="DeclarationBuilder"/>.
/// </summary>
internal static class JsonDeclarationParser
{
    public const string FileSuffix = ".shufflenet.json";

    public static bool IsDeclaration(string path) => path.EndsWith(FileSuffix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Top-level properties, in the order the schema documents them.</summary>
    public static readonly string[] RootProperties =
    {
        "$schema", "name", "namespace", "version", "groups", "scale", "stages", "stageChannels", "stemChannels", "stemStride",
        "stemMaxPool", "finalChannels", "input", "classes", "shuffleOrder", "precision",
    };

    /// <summary>Settings of one family only, with what the other family has instead (for SNG0026).</summary>
    private static readonly (string Setting, int Version, string Instead)[] s_familySettings =
    {
        (Settings.Groups, 1, "has no group convolutions"),
        (Settings.ShuffleOrder, 1, "shuffles its two halves in one fixed order"),
        (Settings.StemStride, 1, "has torchvision's fixed stem (a stride-2 convolution and a max pool)"),
        (Settings.StemMaxPool, 1, "has torchvision's fixed stem (a stride-2 convolution and a max pool)"),
        (Settings.FinalChannels, 2, "has no conv5; remove it or declare \"version\": 2"),
    };

    /// <summary>The values of <c>"shuffleOrder"</c>, by the attribute's enum value.</summary>
    public static readonly string[] ShuffleOrders = { "paper", "official" };

    /// <summary>The values of <c>"precision"</c>, by the attribute's enum value.</summary>
    public static readonly string[] Precisions = { "float32", "int8" };

    public static readonly string[] InputProperties = { "channels", "height", "width" };

    /// <summary>
    /// Findings reported per file; the rest are counted in one SNG0023. A declaration has a dozen settings, so more
    /// than this means the file is not a slightly wrong declaration, and a build that lists 100,000 errors helps no one.
    /// </summary>
    public const int MaxDiagnostics = 20;

    public static ParseResult Parse(JsonFile file, CancellationToken cancellationToken)
    {
        try
        {
            return new Reader(file).Read(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ParseResult.InternalError(LocationInfo.FileName(file.Path), e, new LocationInfo(file.Path, default, default));
        }
    }

    private sealed class Reader
    {
        private readonly JsonFile _file;
        private readonly DiagnosticSink _sink = new(MaxDiagnostics);

        /// <summary>Where each setting was written, to report a finding about it there.</summary>
        private readonly Dictionary<string, JsonNode> _written = new();

        private JsonNode _root = null!;

        public Reader(JsonFile file) => _file = file;

        private LocationInfo At(TextSpan span, LinePositionSpan lineSpan) => new(_file.Path, span, lineSpan);

        private LocationInfo At(JsonNode node) => At(node.Span, node.LineSpan);

        /// <summary>The top-level brace: where a finding about the whole file goes.</summary>
        private LocationInfo RootBrace => At(_root.OpeningSpan, _root.OpeningLineSpan);

        private void Report(DiagnosticDescriptor descriptor, TextSpan span, LinePositionSpan lineSpan, params object[] args) =>
            Report(descriptor, span, lineSpan, () => args);

        /// <summary>
        /// Reports, or only counts once <see cref="MaxDiagnostics"/> are listed; <paramref name="args"/> is not evaluated
        /// then, so a finding with costly arguments (the nearest-name suggestion) costs nothing past the cap.
        /// </summary>
        private void Report(DiagnosticDescriptor descriptor, TextSpan span, LinePositionSpan lineSpan, Func<object[]> args) =>
            _sink.Add(descriptor, At(span, lineSpan), args);

        private void Report(DiagnosticDescriptor descriptor, JsonNode node, params object[] args) => Report(descriptor, node.Span, node.LineSpan, args);

        /// <summary>A file that declares no model: its one finding, before any setting is read.</summary>
        private ParseResult Unreadable() => ParseResult.From(null, _sink.Complete(), null);

        public ParseResult Read(CancellationToken cancellationToken)
        {
            if (_file.Text is null)
            {
                Report(DiagnosticDescriptors.JsonSyntax, default, default, "the file could not be read");
                return Unreadable();
            }
            var document = JsonReader.Parse(_file.Text);
            if (document.Error is { } error)
            {
                Report(DiagnosticDescriptors.JsonSyntax, error.Span, error.LineSpan, error.Message);
                return Unreadable();
            }
            _root = document.Root!;
            if (_root.Kind != JsonKind.Object)
            {
                Report(DiagnosticDescriptors.JsonWrongType, _root, "A model declaration", "a JSON object such as { \"name\": \"MyNet\" }", _root.KindName);
                return Unreadable();
            }
            cancellationToken.ThrowIfCancellationRequested();

            var settings = NetworkSettings.Default;
            string? name = null, ns = null;
            JsonNode? nameNode = null, nsNode = null;
            bool nameGiven = false;
            foreach (var property in Distinct(_root, RootProperties, "the model declaration"))
            {
                var value = property.Value;
                switch (property.Name)
                {
                    case "$schema":
                        break;
                    case "name":
                        nameGiven = true;
                        name = ReadString(property);
                        nameNode = value;
                        break;
                    case "namespace":
                        ns = ReadString(property);
                        nsNode = value;
                        break;
                    case "version":
                        if (ReadInt(property, "version") is int version) settings = settings with { Version = Written(Settings.Version, value, version) };
                        break;
                    case "finalChannels":
                        if (ReadInt(property, "finalChannels") is int final) settings = settings with { FinalChannels = Written(Settings.FinalChannels, value, final) };
                        break;
                    case "groups":
                        if (ReadInt(property, "groups") is int groups) settings = settings with { Groups = Written(Settings.Groups, value, groups) };
                        break;
                    case "scale":
                        if (ReadNumber(property) is double scale) settings = settings with { Scale = Written(Settings.Scale, value, scale) };
                        break;
                    case "stages":
                        if (ReadIntList(property) is { } stages) settings = settings with { Stages = Written(Settings.Stages, value, stages) };
                        break;
                    case "stageChannels":
                        if (ReadIntList(property) is { } widths) settings = settings with { StageChannels = Written(Settings.StageChannels, value, widths) };
                        break;
                    case "stemChannels":
                        if (ReadInt(property, "stemChannels") is int stem) settings = settings with { StemChannels = Written(Settings.StemChannels, value, stem) };
                        break;
                    case "stemStride":
                        if (ReadInt(property, "stemStride") is int stride) settings = settings with { StemStride = Written(Settings.StemStride, value, stride) };
                        break;
                    case "stemMaxPool":
                        if (ReadBool(property) is bool pool) settings = settings with { StemMaxPool = Written(Settings.StemMaxPool, value, pool) };
                        break;
                    case "classes":
                        if (ReadInt(property, "classes") is int classes) settings = settings with { Classes = Written(Settings.Classes, value, classes) };
                        break;
                    case "input":
                        settings = ReadInput(property, settings);
                        break;
                    case "shuffleOrder":
                        if (ReadNamed(property, ShuffleOrders, Settings.ShuffleOrder, DiagnosticDescriptors.UnsupportedShuffleOrder, SettingSyntax.Json.ShuffleOrders) is int order) settings = settings with { ShuffleOrder = Written(Settings.ShuffleOrder, value, order) };
                        break;
                    case "precision":
                        if (ReadNamed(property, Precisions, Settings.Precision, DiagnosticDescriptors.UnsupportedPrecision, SettingSyntax.Json.Precisions) is int precision) settings = settings with { Precision = Written(Settings.Precision, value, precision) };
                        break;
                }
            }

            if (!nameGiven)
                Report(DiagnosticDescriptors.JsonMissingName, _root.OpeningSpan, _root.OpeningLineSpan, SuggestedName(_file.Path));

            // A setting of the other family is a mistake of its own, reported where it is written; the family then
            // resolves without it, so it adds no second finding.
            if (settings.Version is 1 or 2)
            {
                foreach (var (setting, version, instead) in s_familySettings)
                {
                    if (version == settings.Version || !_written.TryGetValue(setting, out var node)) continue;
                    Report(DiagnosticDescriptors.SettingOfOtherVersion, node, "\"" + SettingSyntax.Json.Name(setting) + "\"", version, settings.Version, instead);
                    settings = WithoutOtherFamily(settings, setting);
                }
            }

            // A namespace of the wrong type leaves ns null, which must not quietly mean the global namespace.
            bool namesReadable = !(nsNode is not null && ns is null);
            var form = new DeclarationForm(SettingSyntax.Json, "public", IsSealed: false, IsStatic: false,
                CanHost: namesReadable, CanClaim: namesReadable, FromAttribute: false);
            // At the top-level brace, the count of findings past the cap: it is about the whole file, and the first
            // findings are listed already.
            return DeclarationBuilder.Build(new DeclaredSettings(name, ns, settings), Locations(nameNode, nsNode), form, _sink, countAt: RootBrace);
        }

        private static NetworkSettings WithoutOtherFamily(NetworkSettings s, string setting) => setting switch
        {
            Settings.Groups => s with { Groups = NetworkSettings.Default.Groups },
            Settings.ShuffleOrder => s with { ShuffleOrder = NetworkSettings.Default.ShuffleOrder },
            Settings.StemStride => s with { StemStride = NetworkSettings.Default.StemStride },
            Settings.StemMaxPool => s with { StemMaxPool = NetworkSettings.Default.StemMaxPool },
            _ => s with { FinalChannels = 0 },
        };

        /// <summary>Each setting's value, each list's entries, and the <c>"input"</c> object for a finding about the whole input.</summary>
        private SettingLocations Locations(JsonNode? nameNode, JsonNode? nsNode)
        {
            var locations = new SettingLocations(RootBrace);
            foreach (var pair in _written)
                locations.Add(pair.Key, At(pair.Value), pair.Value.Kind == JsonKind.Array ? pair.Value.Items.Select(At).ToList() : null);
            if (nameNode is not null) locations.Add(Settings.ClassName, At(nameNode));
            if (nsNode is not null) locations.Add(Settings.Namespace, At(nsNode));
            return locations;
        }

        private NetworkSettings ReadInput(JsonProperty property, NetworkSettings settings)
        {
            var input = property.Value;
            if (input.Kind != JsonKind.Object)
            {
                Report(DiagnosticDescriptors.JsonWrongType, input, "\"input\"", "an object such as { \"channels\": 3, \"height\": 224, \"width\": 224 }", input.KindName);
                return settings;
            }
            _written[Settings.Declaration] = input;
            foreach (var p in Distinct(input, InputProperties, "\"input\""))
            {
                switch (p.Name)
                {
                    case "channels":
                        if (ReadInt(p, "input.channels") is int c) settings = settings with { InputChannels = Written(Settings.InputChannels, p.Value, c) };
                        break;
                    case "height":
                        if (ReadInt(p, "input.height") is int h) settings = settings with { InputHeight = Written(Settings.InputHeight, p.Value, h) };
                        break;
                    case "width":
                        if (ReadInt(p, "input.width") is int w) settings = settings with { InputWidth = Written(Settings.InputWidth, p.Value, w) };
                        break;
                }
            }
            return settings;
        }

        /// <summary>
        /// The attribute's enum value for a string setting with named values (<c>"shuffleOrder"</c>, <c>"precision"</c>):
        /// its index in <paramref name="names"/>. Case matters, as for every JSON name here.
        /// </summary>
        private int? ReadNamed(JsonProperty property, string[] names, string setting, DiagnosticDescriptor unsupported, string supported)
        {
            if (ReadString(property) is not { } text) return null;
            int index = Array.IndexOf(names, text);
            if (index >= 0) return index;
            Report(unsupported, property.Value, SettingSyntax.Json.Assignment(setting, "\"" + Escape(text) + "\""), supported);
            return null;
        }

        private T Written<T>(string setting, JsonNode node, T value)
        {
            _written[setting] = node;
            return value;
        }

        /// <summary>The known properties of <paramref name="obj"/>, first occurrence only; reports unknown and repeated ones.</summary>
        private IEnumerable<JsonProperty> Distinct(JsonNode obj, string[] known, string where)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in obj.Properties)
            {
                if (!known.Contains(property.Name, StringComparer.Ordinal))
                {
                    Report(DiagnosticDescriptors.JsonUnknownProperty, property.NameSpan, property.NameLineSpan,
                        () => new object[] { Escape(property.Name), where, Suggestion(property.Name, known) });
                    continue;
                }
                if (!seen.Add(property.Name))
                {
                    Report(DiagnosticDescriptors.JsonDuplicateProperty, property.NameSpan, property.NameLineSpan, Escape(property.Name));
                    continue;
                }
                yield return property;
            }
        }

        private string? ReadString(JsonProperty property)
        {
            if (property.Value.Kind == JsonKind.String) return property.Value.StringValue;
            WrongType(property.Value, Quote(property.Name), "a string");
            return null;
        }

        private double? ReadNumber(JsonProperty property)
        {
            if (property.Value.Kind == JsonKind.Number) return property.Value.NumberValue;
            WrongType(property.Value, Quote(property.Name), "a number");
            return null;
        }

        private bool? ReadBool(JsonProperty property)
        {
            if (property.Value.Kind is JsonKind.True or JsonKind.False) return property.Value.Kind == JsonKind.True;
            WrongType(property.Value, Quote(property.Name), "true or false");
            return null;
        }

        private int? ReadInt(JsonProperty property, string name) => ReadInt(property.Value, Quote(name));

        private int? ReadInt(JsonNode value, string what)
        {
            if (value.Kind != JsonKind.Number)
            {
                WrongType(value, what, "an integer");
                return null;
            }
            double d = value.NumberValue;
            // JSON Schema counts 4.0 as an integer too; anything else with a fraction, or past int, is not one.
            if (Math.Floor(d) != d || double.IsInfinity(d))
            {
                Report(DiagnosticDescriptors.JsonWrongType, value, what, "an integer", value.RawText);
                return null;
            }
            if (d < int.MinValue || d > int.MaxValue)
            {
                Report(DiagnosticDescriptors.JsonWrongType, value, what, $"an integer from {int.MinValue} to {int.MaxValue}", value.RawText);
                return null;
            }
            return (int)d;
        }

        /// <summary>A list of integers; any bad entry drops the whole list so the default is used instead of half of it.</summary>
        private EquatableArray<int>? ReadIntList(JsonProperty property)
        {
            var value = property.Value;
            if (value.Kind != JsonKind.Array)
            {
                WrongType(value, Quote(property.Name), "an array of integers such as [4, 8, 4]");
                return null;
            }
            if (value.Truncated)
            {
                // Only the first entries were kept (JsonReader.MaxItems); no setting takes more than 4, so the count is the finding.
                Report(DiagnosticDescriptors.InvalidStageCount, value, property.Name, value.Count, SettingSyntax.Json.List(NetworkSettings.DefaultStages));
                return null;
            }
            var items = new int[value.Items.Count];
            bool ok = true;
            for (int i = 0; i < items.Length; i++)
            {
                if (ReadInt(value.Items[i], $"Entry {i + 1} of \"{property.Name}\"") is int item) items[i] = item;
                else ok = false;
            }
            return ok ? new EquatableArray<int>(items) : null;
        }

        private void WrongType(JsonNode value, string what, string expected) =>
            Report(DiagnosticDescriptors.JsonWrongType, value, what, expected, value.KindName);

        private static string Quote(string name) => "\"" + name + "\"";
    }

    /// <summary>Property names as a message shows them: control and invisible characters escaped, long names cut.</summary>
    private static string Escape(string name)
    {
        var text = new System.Text.StringBuilder();
        foreach (char c in name.Length > 40 ? name.Substring(0, 40) : name)
        {
            if (c < 0x20 || char.IsSurrogate(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.Control)
                text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else
                text.Append(c);
        }
        if (name.Length > 40) text.Append('…');
        return text.ToString();
    }

    /// <summary>"did you mean …" for the nearest known name, or the list of known names.</summary>
    internal static string Suggestion(string unknown, string[] known)
    {
        string key = Normalize(unknown);
        // Attribute names and flattened input names are the likeliest mistakes from someone who knows the attribute.
        switch (key)
        {
            case "inputchannels" or "channels" when known == RootProperties: return "write it inside \"input\": { \"channels\": ... }";
            case "inputheight" or "height" when known == RootProperties: return "write it inside \"input\": { \"height\": ... }";
            case "inputwidth" or "width" when known == RootProperties: return "write it inside \"input\": { \"width\": ... }";
            case "class" or "classname" or "model" or "modelname" when known == RootProperties: return "did you mean \"name\"?";
        }
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in known)
        {
            int distance = EditDistance(key, Normalize(candidate));
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        if (best is not null && bestDistance <= Math.Max(1, Math.Min(key.Length, best.Length) / 3))
            return $"did you mean \"{best}\"?";
        return "the known properties are " + string.Join(", ", known.Select(k => "\"" + k + "\""));
    }

    /// <summary>Case and separators do not count: stem_stride, StemStride and stemstride all mean stemStride.</summary>
    private static string Normalize(string name)
    {
        var text = new System.Text.StringBuilder(name.Length);
        foreach (char c in name)
        {
            if (c is '_' or '-' or ' ' or '.') continue;
            text.Append(char.ToLowerInvariant(c));
        }
        return text.ToString();
    }

    /// <summary>Optimal string alignment distance: Levenshtein plus adjacent transpositions ("gorups").</summary>
    internal static int EditDistance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64) return int.MaxValue;
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int best = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) best = Math.Min(best, d[i - 2, j - 2] + 1);
                d[i, j] = best;
            }
        }
        return d[a.Length, b.Length];
    }

    /// <summary>The class name the file's name suggests (TinyNet.shufflenet.json → TinyNet), if it is usable.</summary>
    private static string SuggestedName(string path)
    {
        string file = LocationInfo.FileName(path);
        string stem = file.Length > FileSuffix.Length ? file.Substring(0, file.Length - FileSuffix.Length) : "";
        return stem.Length > 0 && (ModelNames.ClassNameProblem(stem) ?? ModelNames.PlacementProblem(stem, ns: null)) is null ? stem : "MyShuffleNet";
    }
}
