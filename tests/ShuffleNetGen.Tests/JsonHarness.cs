using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using ShuffleNetGen.Tests.Infrastructure;

namespace ShuffleNetGen.Tests;

/// <summary>An additional file held in memory, as the compiler hands <c>&lt;AdditionalFiles&gt;</c> to a generator.</summary>
public sealed class InMemoryAdditionalText : AdditionalText
{
    private readonly SourceText? _text;

    public InMemoryAdditionalText(string path, string? text)
    {
        Path = path;
        _text = text is null ? null : SourceText.From(text);
    }

    public override string Path { get; }

    public override SourceText? GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>Runs the generator on C# sources plus JSON additional files (GeneratorHarness covers C# only).</summary>
public static class JsonHarness
{
    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText> additionalTexts) => GeneratorHarness.CreateDriver(additionalTexts);

    public static (Compilation Output, ImmutableArray<Diagnostic> Diagnostics, GeneratorDriverRunResult Run) Run(
        IEnumerable<(string Path, string Json)> files, params string[] sources) =>
        GeneratorHarness.Run(files.Select(f => (AdditionalText)new InMemoryAdditionalText(f.Path, f.Json)), sources);

    public static (Compilation Output, ImmutableArray<Diagnostic> Diagnostics, GeneratorDriverRunResult Run) RunJson(string path, string json) =>
        Run(new[] { (path, json) });

    /// <summary>Errors of compiling the output, generated files included (empty: it compiles).</summary>
    public static List<Diagnostic> CompileErrors(Compilation output) =>
        output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

    /// <summary>The text a diagnostic underlines in <paramref name="text"/>.</summary>
    public static string Located(Diagnostic d, string text) => GeneratorHarness.Located(d, text);
}
