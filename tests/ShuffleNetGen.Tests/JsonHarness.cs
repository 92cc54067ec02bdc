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

/// <summary>GeneratorHarness with JSON declarations given as (path, text) pairs instead of AdditionalText objects.</summary>
public static class JsonHarness
{
    public static (Compilation Output, ImmutableArray<Diagnostic> Diagnostics, GeneratorDriverRunResult Run) Run(
        IEnumerable<(string Path, string Json)> files, params string[] sources) =>
        GeneratorHarness.Run(files.Select(f => (AdditionalText)new InMemoryAdditionalText(f.Path, f.Json)), sources);

    public static (Compilation Output, ImmutableArray<Diagnostic> Diagnostics, GeneratorDriverRunResult Run) RunJson(string path, string json) =>
        Run(new[] { (path, json) });

    /// <summary>Errors of compiling the output, generated files included (empty: it compiles).</summary>
    public static List<Diagnostic> CompileErrors(Compilation output) =>
        output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
}
