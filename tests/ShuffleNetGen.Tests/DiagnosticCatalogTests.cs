using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Generator.Model;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>The diagnostic catalog: stable ids, release tracking, help text, and a location test for every id.</summary>
public class DiagnosticCatalogTests
{
    private static readonly DiagnosticDescriptor[] s_all = DiagnosticDescriptors.All.OrderBy(d => d.Id, StringComparer.Ordinal).ToArray();

    private static string RepoFile(string relative, [CallerFilePath] string callerPath = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerPath)!, "..", "..", relative));

    [Fact]
    public void IdsAreContiguousFromSNG0001()
    {
        Assert.Equal(Enumerable.Range(1, s_all.Length).Select(i => $"SNG{i:D4}"), s_all.Select(d => d.Id));
        Assert.Equal(24, s_all.Length);
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

    [Fact]
    public void EveryReachableIdHasALocationTest()
    {
        string tests = File.ReadAllText(RepoFile("tests/ShuffleNetGen.Tests/DiagnosticLocationTests.cs"));
        var untested = s_all.Select(d => d.Id).Where(id => id != DiagnosticDescriptors.InternalError.Id && !tests.Contains('"' + id + '"', StringComparison.Ordinal));
        Assert.Empty(untested);
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
