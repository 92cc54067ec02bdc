using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Generator.Model;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>The diagnostic catalog: stable ids, release tracking, help text, and a declaration case producing every id.</summary>
public class DiagnosticCatalogTests
{
    private static readonly DiagnosticDescriptor[] s_all = DiagnosticDescriptors.All.OrderBy(d => d.Id, StringComparer.Ordinal).ToArray();

    private static string RepoFile(string relative, [CallerFilePath] string callerPath = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerPath)!, "..", "..", relative));

    [Fact]
    public void IdsAreContiguousFromSNG0001()
    {
        Assert.Equal(Enumerable.Range(1, s_all.Length).Select(i => $"SNG{i:D4}"), s_all.Select(d => d.Id));
        Assert.Equal(27, s_all.Length);
    }

    [Fact]
    public void EveryDescriptorHasTitleHelpTextLinkCategoryAndSeverity()
    {
        var categories = new[] { DiagnosticDescriptors.DeclarationCategory, DiagnosticDescriptors.ArchitectureCategory, DiagnosticDescriptors.JsonCategory };
        foreach (var d in s_all)
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Title.ToString()), d.Id);
            Assert.EndsWith(".", d.Description.ToString());
            Assert.EndsWith("#diagnostics-" + d.Id.ToLowerInvariant(), d.HelpLinkUri);
            Assert.Contains(d.Category, categories);
            Assert.True(d.IsEnabledByDefault, d.Id);
            Assert.Equal(d.Id == "SNG0014" ? DiagnosticSeverity.Warning : DiagnosticSeverity.Error, d.DefaultSeverity);
        }
    }

    [Fact]
    public void EveryHelpLinkOpensAnAnchorThatTheReadmeHas()
    {
        var anchors = ReadmeAnchors(File.ReadAllText(RepoFile("README.md")));
        // The collector itself: a heading's slug, a repeated heading's numbered slug, and no anchor that is not there.
        Assert.Contains("the-declaration", anchors);
        Assert.Contains("diagnostics", anchors);
        Assert.DoesNotContain("diagnostics-sng0000", anchors);
        const string readme = "https://github.com/shufflenetgen/shufflenetgen/blob/main/README.md#";
        foreach (var d in s_all)
        {
            Assert.StartsWith(readme, d.HelpLinkUri);
            string fragment = d.HelpLinkUri.Substring(readme.Length);
            Assert.True(anchors.Contains(fragment), $"{d.Id}: README.md has no anchor '{fragment}'");
        }
    }

    [Fact]
    public void ReadmeAnchorsFollowGitHubsSlugRules()
    {
        var anchors = ReadmeAnchors("# What it is\n## `Forward`, and threads!\n```\n# not a heading\n```\n## What it is\n| <a id=\"row-1\"></a>x |\n<a name=\"old\"></a>");
        Assert.Equal(new[] { "forward-and-threads", "old", "row-1", "what-it-is", "what-it-is-1" }, anchors.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The fragments a GitHub-rendered markdown file answers to: heading slugs (lower case, punctuation other than '-'
    /// and '_' dropped, spaces to '-', a repeat numbered -1, -2, ...) and explicit <c>id</c> or <c>name</c> attributes.
    /// </summary>
    internal static HashSet<string> ReadmeAnchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        bool fenced = false;
        foreach (string line in markdown.Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal)) { fenced = !fenced; continue; }
            if (fenced) continue;
            foreach (Match m in Regex.Matches(line, "<a\\s+(?:id|name)=\"([^\"]+)\""))
                anchors.Add(m.Groups[1].Value);
            var heading = Regex.Match(line, @"^#{1,6}\s+(.*?)\s*#*\s*$");
            if (!heading.Success) continue;
            string text = Regex.Replace(heading.Groups[1].Value, @"\[([^\]]*)\]\([^)]*\)", "$1");
            string slug = Regex.Replace(text.ToLowerInvariant(), @"[^\p{L}\p{M}\p{N}\p{Pc}\- ]", "").Replace(' ', '-');
            int repeat = seen.TryGetValue(slug, out int n) ? n : 0;
            seen[slug] = repeat + 1;
            anchors.Add(repeat == 0 ? slug : $"{slug}-{repeat}");
        }
        return anchors;
    }

    [Fact]
    public void EveryMessageFormatsWithAsManyArgumentsAsItHasPlaceholders()
    {
        foreach (var d in s_all)
        {
            string format = d.MessageFormat.ToString();
            int count = Regex.Matches(format.Replace("{{", "").Replace("}}", ""), @"\{(\d+)\}").Select(m => int.Parse(m.Groups[1].Value) + 1).DefaultIfEmpty(0).Max();
            var args = Enumerable.Range(0, count).Select(i => (object)("arg" + i)).ToArray();
            string message = Diagnostic.Create(d, Location.None, args).GetMessage();
            for (int i = 0; i < count; i++) Assert.Contains("arg" + i, message);
        }
    }

    /// <summary>The release-tracking analyzer checks this too when the generator builds; this says which file to fix.</summary>
    [Fact]
    public void UnshippedReleaseListsEveryRuleWithItsCategoryAndSeverity()
    {
        var rows = File.ReadAllLines(RepoFile("generator/AnalyzerReleases.Unshipped.md"))
            .Concat(File.ReadAllLines(RepoFile("generator/AnalyzerReleases.Shipped.md")))
            .Where(l => l.StartsWith("SNG", StringComparison.Ordinal))
            .Select(l => l.Split('|').Select(c => c.Trim()).ToArray())
            .ToDictionary(c => c[0], c => (Category: c[1], Severity: c[2]));
        Assert.Equal(s_all.Select(d => d.Id), rows.Keys.Order(StringComparer.Ordinal));
        foreach (var d in s_all)
        {
            Assert.Equal(d.Category, rows[d.Id].Category);
            Assert.Equal(d.DefaultSeverity.ToString(), rows[d.Id].Severity);
        }
    }

    /// <summary>
    /// Ids no declaration case produces, each with the reason and the test that covers it instead. The ids come from
    /// the generator's catalog and from the package's MSBuild targets (SNG ids share one numbering).
    /// </summary>
    private static readonly Dictionary<string, string> s_notProducedByADeclaration = new()
    {
        ["SNG0022"] = "it reports an exception thrown inside the generator, which no declaration provokes; InternalErrorNamesTheModelAndTheException builds it directly",
        ["SNG0030"] = "MSBuild emits it from the package's targets during a NativeAOT publish, not the generator; PackageTests checks it",
    };

    /// <summary>Every DiagnosticDescriptor the generator assembly declares, found by reflection, not by its own list.</summary>
    private static List<DiagnosticDescriptor> DeclaredDescriptors() =>
        typeof(ShuffleNetGenerator).Assembly.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly).Where(f => f.FieldType == typeof(DiagnosticDescriptor)).Select(f => f.GetValue(null))
                .Concat(t.GetProperties(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly).Where(p => p.PropertyType == typeof(DiagnosticDescriptor)).Select(p => p.GetValue(null))))
            .Cast<DiagnosticDescriptor>()
            .DistinctBy(d => d.Id)
            .ToList();

    /// <summary>The <c>Code</c> of every warning or error the package's MSBuild targets raise.</summary>
    private static List<string> MsBuildIds() =>
        Directory.GetFiles(RepoFile("runtime/buildTransitive"), "*.targets")
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), "<(?:Warning|Error)\\s+Code=\"([A-Z]+[0-9]+)\"").Select(m => m.Groups[1].Value))
            .ToList();

    [Fact]
    public void TheCatalogListsEveryDescriptorTheGeneratorDeclares() =>
        Assert.Equal(DeclaredDescriptors().Select(d => d.Id).Order(StringComparer.Ordinal), s_all.Select(d => d.Id));

    [Fact]
    public void MsBuildIdsDoNotReuseAGeneratorId()
    {
        var msbuild = MsBuildIds();
        Assert.Contains("SNG0030", msbuild); // the reader finds the one the targets are known to raise
        Assert.Empty(msbuild.Intersect(s_all.Select(d => d.Id)));
    }

    /// <summary>
    /// Runs the declaration of every case that <see cref="DiagnosticLocationTests"/> checks (as
    /// <see cref="OneMistakeOneErrorTests.Cases"/> reads them from its data) and collects the ids the generator
    /// reports: each id of the catalog must come out of at least one, so an id added without a test case fails here.
    /// </summary>
    [Fact]
    public void EveryDiagnosticIsProducedByADeclarationCase()
    {
        var produced = new SortedSet<string>(StringComparer.Ordinal);
        int cases = 0;
        foreach (var c in OneMistakeOneErrorTests.Cases().Select(data => (OneMistakeOneErrorTests.Case)data.Single()))
        {
            var files = c.Json is null ? Array.Empty<(string, string)>() : new[] { ("Net.shufflenet.json", c.Json) };
            var sources = c.Source is null ? Array.Empty<string>() : new[] { c.Source };
            var (_, diagnostics, _) = JsonHarness.Run(files, sources);
            produced.UnionWith(diagnostics.Select(d => d.Id));
            cases++;
        }
        Assert.True(cases >= 80, $"only {cases} declaration cases were read");

        var known = DeclaredDescriptors().Select(d => d.Id).Concat(MsBuildIds()).ToHashSet(StringComparer.Ordinal);
        // An exclusion must name an id that exists, and one a case has since come to produce is no longer needed.
        Assert.DoesNotContain(s_notProducedByADeclaration.Keys, id => !known.Contains(id));
        Assert.DoesNotContain(s_notProducedByADeclaration.Keys, produced.Contains);
        var missing = known.Where(id => !produced.Contains(id) && !s_notProducedByADeclaration.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"no declaration case produces {string.Join(", ", missing)}; add one to DiagnosticLocationTests (produced: {string.Join(", ", produced)})");
    }

    [Fact]
    public void InternalErrorNamesTheModelAndTheException()
    {
        var info = ParseResult.InternalError("Net", new InvalidOperationException("boom"), new LocationInfo("Net.cs", new(5, 3), new(new(0, 5), new(0, 8))));
        var d = Assert.Single(info.Diagnostics).ToDiagnostic();
        Assert.Equal("SNG0022", d.Id);
        Assert.Equal(new Microsoft.CodeAnalysis.Text.TextSpan(5, 3), d.Location.SourceSpan);
        Assert.Equal("The ShuffleNet generator failed on 'Net' (InvalidOperationException: boom); no code was generated for it. Please report this with the declaration.", d.GetMessage());
        Assert.Null(info.Model);
    }
}
