using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Every <c>```csharp</c> and <c>```json</c> block in README.md and docs/*.md goes through the generator, so the docs
/// cannot drift from the code. One test case per block, named <c>file:line</c> (the line of the opening fence).
/// <list type="bullet">
/// <item>C#: compiled as the reader would compile it (C# 12, the net8.0 default; nullable on; no implicit usings, so
/// the block states its own), with zero errors and zero warnings, generated code included. A block with top-level
/// statements or a <c>Main</c> is a program and is also run: its entry point is invoked and must return within
/// <see cref="RunTimeout"/> without throwing.</item>
/// <item>JSON: a <c>*.shufflenet.json</c> declaration, run through the generator's JSON path; it must declare a model,
/// with no diagnostics, and the generated code must compile without warnings.</item>
/// </list>
/// A block can be marked by an HTML comment on the line before its fence (blank lines between are allowed):
/// <list type="bullet">
/// <item><c>&lt;!-- snippet: compile-only (why) --&gt;</c>: compiled but not run, for a program that needs something
/// the reader has and the test does not, such as a real weights file.</item>
/// <item><c>&lt;!-- snippet: expect SNG0003 --&gt;</c>: the block exists to show diagnostics; it must report exactly
/// these ids (space-separated, repeated if reported more than once; warnings and errors alike) and nothing else, and
/// is not run.</item>
/// </list>
/// Any other <c>snippet:</c> comment fails the test, so a misspelt marker cannot silently exempt a block.
/// In an <c>expect</c> block, a comment <c>// error SNG0003: message</c> (or <c>warning</c>) must be what the compiler
/// says on that line, word for word, so quoted messages cannot drift either.
/// </summary>
[Collection(nameof(DocSnippetTests))]
public class DocSnippetTests
{
    /// <summary>Generous: the machine is shared, and a 1x 224x224 model builds its random weights in a second or two.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);

    private static readonly CSharpParseOptions ReaderParseOptions = new(LanguageVersion.CSharp12);

    public sealed record Snippet(string File, int Line, string Language, string Code, string? Marker)
    {
        public string Id => File + ":" + Line;
    }

    /// <summary>Read once: discovery and every test case look blocks up in the same list.</summary>
    private static readonly Lazy<IReadOnlyList<Snippet>> s_all = new(ReadAll);

    public static TheoryData<string> Snippets()
    {
        var data = new TheoryData<string>();
        foreach (var s in s_all.Value) data.Add(s.Id);
        return data;
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Compiles(string id)
    {
        var snippet = s_all.Value.Single(s => s.Id == id);
        var (compileOnly, expected) = ParseMarker(snippet);
        if (snippet.Language == "json") CheckJson(snippet, expected);
        else CheckCSharp(snippet, compileOnly, expected);
    }

    /// <summary>Guards the extraction itself: the README's first example is a block it must find.</summary>
    [Fact]
    public void FindsTheReadmeExample()
    {
        var all = s_all.Value;
        Assert.Contains(all, s => s.File == "README.md" && s.Language == "csharp" && s.Code.Contains("[ShuffleNet(", StringComparison.Ordinal));
        Assert.Contains(all, s => s.File == "README.md" && s.Language == "json");
    }

    private static void CheckCSharp(Snippet snippet, bool compileOnly, string[]? expected)
    {
        var tree = CSharpSyntaxTree.ParseText(snippet.Code, ReaderParseOptions, path: snippet.Id);
        var root = tree.GetRoot();
        bool program = root.DescendantNodes().OfType<GlobalStatementSyntax>().Any()
            || root.DescendantNodes().OfType<MethodDeclarationSyntax>().Any(m => m.Identifier.Text == "Main" && m.Modifiers.Any(SyntaxKind.StaticKeyword));
        var empty = GeneratorHarness.CreateCompilation();
        var compilation = empty.AddSyntaxTrees(tree)
            .WithOptions(empty.Options.WithOutputKind(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary));
        var driver = CSharpGeneratorDriver.Create(new[] { new ShuffleNetGenerator().AsSourceGenerator() }, parseOptions: ReaderParseOptions);
        driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);

        using var stream = new MemoryStream();
        var emit = output.Emit(stream);
        var reported = generatorDiagnostics.Where(d => !SuppressedByPragma(d)).Concat(emit.Diagnostics)
            .Where(d => d.Severity >= DiagnosticSeverity.Warning).Distinct().ToList();
        if (expected is not null)
        {
            AssertExactly(snippet, expected, reported);
            CheckQuotedMessages(snippet, reported);
            return;
        }
        Assert.True(reported.Count == 0, $"{snippet.Id} must compile without errors or warnings:\n{string.Join("\n", reported.Take(20))}");
        Assert.True(emit.Success);
        if (program && !compileOnly) Run(snippet, stream);
    }

    /// <summary>For an <c>expect</c> block: the ids reported are those listed, as many times each, in any order.</summary>
    private static void AssertExactly(Snippet snippet, string[] expected, List<Diagnostic> reported) =>
        Assert.True(expected.OrderBy(x => x).SequenceEqual(reported.Select(d => d.Id).OrderBy(x => x)),
            $"{snippet.Id}: expected exactly [{string.Join(" ", expected)}], got:\n{string.Join("\n", reported)}");

    private static readonly Regex QuotedDiagnostic = new(@"//\s*(error|warning)\s+([A-Z]+[0-9]+):\s*(.+?)\s*$");

    private static void CheckQuotedMessages(Snippet snippet, List<Diagnostic> reported)
    {
        string[] lines = snippet.Code.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var m = QuotedDiagnostic.Match(lines[i]);
            if (!m.Success) continue;
            var severity = m.Groups[1].Value == "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning;
            var onLine = reported.Where(d => d.Id == m.Groups[2].Value && d.Severity == severity && d.Location.GetLineSpan().StartLinePosition.Line == i).ToList();
            Assert.True(onLine.Count > 0, $"{snippet.File}:{snippet.Line + 1 + i}: no {m.Groups[1].Value} {m.Groups[2].Value} on this line; reported:\n{string.Join("\n", reported)}");
            Assert.Contains(m.Groups[3].Value, onLine.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>
    /// Whether a generator warning sits in a <c>#pragma warning disable</c> region for its id. The command-line compiler
    /// applies pragmas to generator diagnostics when it reports them; the driver API hands them over unfiltered.
    /// </summary>
    private static bool SuppressedByPragma(Diagnostic d)
    {
        if (d.Severity != DiagnosticSeverity.Warning || d.Location.SourceTree is not { } tree) return false;
        bool disabled = false;
        foreach (var pragma in tree.GetRoot().DescendantTrivia().Select(t => t.GetStructure()).OfType<PragmaWarningDirectiveTriviaSyntax>())
        {
            if (pragma.SpanStart >= d.Location.SourceSpan.Start) break;
            if (pragma.ErrorCodes.Count == 0 || pragma.ErrorCodes.Any(c => c is IdentifierNameSyntax n && n.Identifier.Text == d.Id))
                disabled = pragma.DisableOrRestoreKeyword.IsKind(SyntaxKind.DisableKeyword);
        }
        return disabled;
    }

    private static void CheckJson(Snippet snippet, string[]? expected)
    {
        var (output, generatorDiagnostics, run) = JsonHarness.RunJson("Models/Snippet.shufflenet.json", snippet.Code);
        var reported = generatorDiagnostics.Concat(output.GetDiagnostics()).Where(d => d.Severity >= DiagnosticSeverity.Warning).Distinct().ToList();
        if (expected is not null)
        {
            AssertExactly(snippet, expected, reported);
            return;
        }
        Assert.True(reported.Count == 0, $"{snippet.Id} must declare a model without errors or warnings:\n{string.Join("\n", reported.Take(20))}");
        Assert.True(run.Results.Sum(r => r.GeneratedSources.Length) > 0, $"{snippet.Id}: the generator produced no model from this JSON");
    }

    /// <summary>
    /// Runs the entry point on a thread of its own, with Console captured (this class is a collection that runs alone,
    /// so no other test writes to Console meanwhile), and fails with what it printed.
    /// </summary>
    private static void Run(Snippet snippet, MemoryStream image)
    {
        image.Position = 0;
        var context = new AssemblyLoadContext("snippet", isCollectible: true);
        try
        {
            var entry = context.LoadFromStream(image).EntryPoint!;
            var console = new StringWriter();
            var (stdout, stderr) = (Console.Out, Console.Error);
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try { entry.Invoke(null, entry.GetParameters().Length == 0 ? null : new object[] { Array.Empty<string>() }); }
                catch (TargetInvocationException e) { failure = e.InnerException ?? e; }
                catch (Exception e) { failure = e; }
            });
            Console.SetOut(console);
            Console.SetError(console);
            bool finished;
            try
            {
                thread.Start();
                finished = thread.Join(RunTimeout);
            }
            finally
            {
                Console.SetOut(stdout);
                Console.SetError(stderr);
            }
            Assert.True(finished, $"{snippet.Id} did not finish within {RunTimeout.TotalSeconds} s; it printed:\n{console}");
            Assert.True(failure is null, $"{snippet.Id} threw {failure}\nit printed:\n{console}");
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>Whether a program block is only compiled, and the ids an <c>expect</c> block must report (null if none).</summary>
    private static (bool CompileOnly, string[]? Expected) ParseMarker(Snippet snippet)
    {
        if (snippet.Marker is null) return (false, null);
        var words = snippet.Marker.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (words[0])
        {
            case "compile-only":
                return (true, null);
            case "expect":
                var ids = words.Skip(1).TakeWhile(w => Regex.IsMatch(w, "^[A-Z]+[0-9]+$")).ToArray();
                Assert.True(ids.Length > 0, $"{snippet.Id}: 'expect' names no diagnostic id");
                return (false, ids);
            default:
                Assert.Fail($"{snippet.Id}: unknown marker '<!-- snippet: {snippet.Marker} -->' (known: compile-only, expect ID...)");
                return (false, null);
        }
    }

    private static readonly Regex Fence = new(@"^(\s*)```\s*([A-Za-z#+]*)\s*$");
    private static readonly Regex MarkerComment = new(@"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$");

    /// <summary>The blocks of README.md and docs/*.md whose fence says csharp (cs, c#) or json.</summary>
    private static IReadOnlyList<Snippet> ReadAll()
    {
        string root = Repository.Root;
        var files = new[] { Repository.File("README.md") }
            .Concat(Directory.GetFiles(Repository.File("docs"), "*.md").OrderBy(f => f, StringComparer.Ordinal));
        var snippets = new List<Snippet>();
        foreach (string path in files)
        {
            string relative = Path.GetRelativePath(root, path).Replace('\\', '/');
            string[] lines = File.ReadAllLines(path);
            foreach (var (line, fence, code) in FencedBlocks(lines, relative))
            {
                string language = fence switch
                {
                    "csharp" or "cs" or "c#" => "csharp",
                    "json" => "json",
                    _ => "",
                };
                if (language.Length == 0) continue;
                int before = line - 1;
                while (before >= 0 && lines[before].Trim().Length == 0) before--;
                string? marker = before >= 0 && MarkerComment.Match(lines[before]) is { Success: true } mc ? mc.Groups[1].Value : null;
                snippets.Add(new Snippet(relative, line + 1, language, code, marker));
            }
        }
        return snippets;
    }

    /// <summary>
    /// The fenced blocks of a markdown file (<paramref name="name"/> only labels an error): the 0-based line of the
    /// opening fence, the language it names (lowercased, empty if none) and the code, with the fence's indentation
    /// taken off each line (a block inside a list item is indented).
    /// </summary>
    internal static IEnumerable<(int Line, string Language, string Code)> FencedBlocks(string[] lines, string name)
    {
        for (int i = 0; i < lines.Length; i++)
        {
            var open = Fence.Match(lines[i]);
            if (!open.Success) continue;
            int close = i + 1;
            while (close < lines.Length && !(Fence.Match(lines[close]) is { Success: true } m && m.Groups[2].Length == 0)) close++;
            if (close == lines.Length) throw new InvalidOperationException($"{name}:{i + 1}: code block never closed");
            string indent = open.Groups[1].Value;
            string code = string.Join("\n", lines[(i + 1)..close].Select(l => l.StartsWith(indent, StringComparison.Ordinal) ? l[indent.Length..] : l));
            yield return (i, open.Groups[2].Value.ToLowerInvariant(), code);
            i = close;
        }
    }
}

/// <summary>Snippets that run redirect Console, which is process-wide: they run after every other test, alone.</summary>
[CollectionDefinition(nameof(DocSnippetTests), DisableParallelization = true)]
public class DocSnippetCollection;
