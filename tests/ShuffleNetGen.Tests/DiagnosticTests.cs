using Microsoft.CodeAnalysis;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>Invalid declarations become compile-time errors at the place to fix, and no model is generated (at most a throwing stand-in).</summary>
public class DiagnosticTests
{
    private static (Diagnostic Diagnostic, string Source) Single(string source)
    {
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        Assert.Empty(GeneratorHarness.Models(run));
        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        return (diagnostic, source);
    }

    [Fact]
    public void ClassNotPartialIsReportedOnItsName()
    {
        const string source = "using ShuffleNetGen; [ShuffleNet] public class Net { }";
        var (d, s) = Single(source);
        Assert.Equal("SNG0001", d.Id);
        Assert.Equal("Net", GeneratorHarness.Located(d, s));
    }

    [Fact]
    public void UnsupportedGroupsPointsAtTheArgument()
    {
        const string source = "using ShuffleNetGen; [ShuffleNet(Groups = 5, Classes = 10)] public partial class Net;";
        var (d, s) = Single(source);
        Assert.Equal("SNG0003", d.Id);
        Assert.Equal("Groups = 5", GeneratorHarness.Located(d, s));
    }

    [Fact]
    public void IndivisibleBottleneckSaysWhatToChange()
    {
        const string source = "using ShuffleNetGen; [ShuffleNet(Groups = 2, StageChannels = new[] { 300, 600, 1200 })] public partial class Net;";
        var (d, s) = Single(source);
        Assert.Equal("SNG0007", d.Id);
        Assert.Equal("StageChannels = new[] { 300, 600, 1200 }", GeneratorHarness.Located(d, s));
        Assert.Equal("stage 2 width 300 with 2 groups gives a bottleneck of 75 channels, which 2 groups cannot split; use a width divisible by 8", d.GetMessage());
    }

    [Fact]
    public void NestedClassIsRejected()
    {
        const string source = "using ShuffleNetGen; public partial class Outer { [ShuffleNet] public partial class Net; }";
        var (d, _) = Single(source);
        Assert.Equal("SNG0002", d.Id);
    }

    [Fact]
    public void StemStrideThreeIsRejected()
    {
        const string source = "using ShuffleNetGen; [ShuffleNet(StemStride = 3)] public partial class Net;";
        var (d, s) = Single(source);
        Assert.Equal("SNG0012", d.Id);
        Assert.Equal("StemStride = 3", GeneratorHarness.Located(d, s));
    }
}
