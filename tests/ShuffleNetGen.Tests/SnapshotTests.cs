using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>Pins the generated source, so any change to emitted code shows up as a diff in review.</summary>
public class SnapshotTests
{
    [Theory]
    [InlineData("Paper1xG3_224", "Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputChannels = 3, InputHeight = 224, InputWidth = 224, Classes = 1000")]
    [InlineData("Small025xG3_64", "Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64, Classes = 10")]
    [InlineData("Small025xG3_64_Int8", "Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64, Classes = 10, Precision = Precision.Int8")]
    [InlineData("TwoStageGrayG8_28", "Groups = 8, Scale = 0.5, Stages = new[] { 4, 8 }, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false")]
    public void GeneratedSourceIsPinned(string name, string arguments)
    {
        string source = $$"""
            using ShuffleNetGen;
            namespace Snapshots;
            [ShuffleNet({{arguments}})]
            public partial class {{name}};
            """;
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        var generated = Assert.Single(run.Results.Single().GeneratedSources);
        Snapshot.Verify(name, generated.SourceText.ToString());
    }

    private static readonly Lazy<SyntaxNode> s_paper = new(() =>
    {
        var (_, diagnostics, run) = GeneratorHarness.Run("""
            using ShuffleNetGen;
            namespace Generated;
            [ShuffleNet(Groups = 3, Scale = 1.0)]
            public partial class Paper1xG3;
            """);
        Assert.Empty(diagnostics);
        return Assert.Single(run.Results.Single().GeneratedSources).SyntaxTree.GetRoot();
    });

    /// <summary>
    /// The generator's output for the paper's 1x g=3 model has an ARM64 (AdvSimd) path in at least one kernel of every
    /// kind, reachable only when the ISA is there, so a change that drops one fails here on x64 and not only under
    /// emulation. Read from the syntax, not the layout: the path may be a branch inside the kernel, a variant method
    /// its dispatcher calls, or a shared tile method a variant calls.
    /// </summary>
    [Theory]
    [InlineData("Conv3x3_s2", "AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar")]
    [InlineData("MaxPool3x3_s2", "AdvSimd.Arm64.MaxPairwise")]
    [InlineData("Depthwise3x3_s2", "AdvSimd.Arm64.UnzipEven")]
    [InlineData("AvgPool3x3_s2", "AdvSimd.Arm64.AddPairwise")]
    [InlineData("Pointwise_g3", "AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar")]
    [InlineData("GlobalAvgPool", "AdvSimd.Arm64.AddPairwise")]
    [InlineData("Linear", "AdvSimd.FusedMultiplyAdd")]
    public void GeneratedSourceHasAnAdvSimdPathInEachKernelKind(string kernelPrefix, string instruction)
    {
        var methods = s_paper.Value.DescendantNodes().OfType<MethodDeclarationSyntax>().ToList();
        var kernels = methods.Where(m => m.Identifier.ValueText.StartsWith(kernelPrefix, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(kernels);
        // A kernel's code includes the shared methods it calls (the pointwise register tiles), and theirs.
        var byName = methods.GroupBy(m => m.Identifier.ValueText).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var reached = new HashSet<MethodDeclarationSyntax>(kernels);
        var pending = new Queue<MethodDeclarationSyntax>(kernels);
        while (pending.Count > 0)
            foreach (string callee in CalledNames(pending.Dequeue()))
                if (byName.TryGetValue(callee, out var declared))
                    foreach (var method in declared)
                        if (reached.Add(method)) pending.Enqueue(method);
        var uses = reached.SelectMany(k => k.DescendantNodes().OfType<MemberAccessExpressionSyntax>())
            .Where(a => Names(a, instruction)).ToList();
        Assert.True(uses.Count > 0, $"no {kernelPrefix}* kernel, nor a method one calls, uses {instruction}");

        // Guarded: inside the taken branch of an AdvSimd IsSupported check, or in a method called from one.
        var guardedRegions = s_paper.Value.DescendantNodes().Select(GuardedByAdvSimd).OfType<SyntaxNode>().ToList();
        var calledUnderGuard = guardedRegions.SelectMany(CalledNames).ToHashSet(StringComparer.Ordinal);
        Assert.Contains(uses, use =>
            guardedRegions.Any(r => r.Span.Contains(use.Span)) ||
            use.FirstAncestorOrSelf<MethodDeclarationSyntax>() is { } method && calledUnderGuard.Contains(method.Identifier.ValueText));
    }

    /// <summary>Names of the methods <paramref name="node"/> calls without qualification (generic ones by their bare name).</summary>
    private static IEnumerable<string> CalledNames(SyntaxNode node) =>
        node.DescendantNodesAndSelf().OfType<InvocationExpressionSyntax>()
            .Select(i => i.Expression is SimpleNameSyntax name ? name.Identifier.ValueText : null).OfType<string>();

    /// <summary>Whether <paramref name="expression"/> is <paramref name="name"/>, bare or qualified by its namespace.</summary>
    private static bool Names(ExpressionSyntax expression, string name) =>
        expression.ToString() is var text && (text == name || text.EndsWith("." + name, StringComparison.Ordinal));

    /// <summary>What runs only when an <c>AdvSimd.IsSupported</c> or <c>AdvSimd.Arm64.IsSupported</c> condition holds, if <paramref name="node"/> branches on one.</summary>
    private static SyntaxNode? GuardedByAdvSimd(SyntaxNode node)
    {
        static bool ChecksAdvSimd(ExpressionSyntax condition) =>
            condition.DescendantNodesAndSelf().OfType<MemberAccessExpressionSyntax>().Any(a =>
                a.Name.Identifier.ValueText == "IsSupported" && (Names(a.Expression, "AdvSimd") || Names(a.Expression, "AdvSimd.Arm64"))
                && !a.Ancestors().TakeWhile(n => n != condition.Parent).Any(n => n.IsKind(SyntaxKind.LogicalNotExpression) || n.IsKind(SyntaxKind.LogicalOrExpression)));
        return node switch
        {
            IfStatementSyntax s when ChecksAdvSimd(s.Condition) => s.Statement,
            ConditionalExpressionSyntax c when ChecksAdvSimd(c.Condition) => c.WhenTrue,
            SwitchExpressionArmSyntax { WhenClause: { } when } arm when ChecksAdvSimd(when.Condition) => arm.Expression,
            _ => null,
        };
    }
}
