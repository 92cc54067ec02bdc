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
    [InlineData("V2X1_0_224", "Scale = 1.0", "ShuffleNetV2")]
    [InlineData("V2Tiny_Int8", "StemChannels = 8, StageChannels = new[] { 24, 48 }, Stages = new[] { 2, 2 }, FinalChannels = 64, InputHeight = 32, InputWidth = 32, Classes = 10, Precision = Precision.Int8", "ShuffleNetV2")]
    public void GeneratedSourceIsPinned(string name, string arguments, string attribute = "ShuffleNet")
    {
        string source = $$"""
            using ShuffleNetGen;
            namespace Snapshots;
            [{{attribute}}({{arguments}})]
            public partial class {{name}};
            """;
        var (_, diagnostics, run) = GeneratorHarness.Run(source);
        Assert.Empty(diagnostics);
        var generated = Assert.Single(run.Results.Single().GeneratedSources);
        AssertOneDispatchStyle(generated.SourceText.ToString());
        Snapshot.Verify(name, generated.SourceText.ToString());
    }

    /// <summary>
    /// Generated code picks a variant in one way only: a dispatcher line, <c>if (check) Variant(…);</c> or
    /// <c>else if</c>, that calls it; the check may add the int8 family's choice, as in
    /// <c>if (Dp.IsSupported &amp;&amp; Int8Family.SdotAllowed)</c>. No kernel, tile or band tests an instruction set inside its
    /// body; the only other place a check appears is the <c>KernelPaths</c> report, which names what the dispatchers pick.
    /// </summary>
    private static void AssertOneDispatchStyle(string source)
    {
        var dispatch = new System.Text.RegularExpressions.Regex(@"^        (else )?if \([A-Za-z0-9_.:]+( && [A-Za-z0-9_.:]+)?\) [A-Za-z0-9_]+(<[A-Za-z0-9_]+>)?\(.*\);$");
        var checks = source.Split('\n').Where(line => line.Contains(".IsSupported", StringComparison.Ordinal) || line.Contains(".IsHardwareAccelerated", StringComparison.Ordinal));
        Assert.All(checks, line => Assert.True(dispatch.IsMatch(line) || line.StartsWith("        new(\"", StringComparison.Ordinal), "an instruction-set check outside a dispatcher: " + line.Trim()));
    }

    private static SyntaxNode Paper(string precision)
    {
        var (_, diagnostics, run) = GeneratorHarness.Run($$"""
            using ShuffleNetGen;
            namespace Generated;
            [ShuffleNet(Groups = 3, Scale = 1.0{{precision}})]
            public partial class Paper1xG3;
            """);
        Assert.Empty(diagnostics);
        return Assert.Single(run.Results.Single().GeneratedSources).SyntaxTree.GetRoot();
    }

    private static readonly Lazy<SyntaxNode> s_paper = new(() => Paper(""));

    private static readonly Lazy<SyntaxNode> s_paperInt8 = new(() => Paper(", Precision = Precision.Int8"));

    /// <summary>
    /// The generator's output for the paper's 1x g=3 model, float and int8, has an ARM64 path in at least one kernel of
    /// every kind that has one, reachable only when the ISA is there, so a change that drops one fails here on x64 and
    /// not only under emulation. Read from the syntax, not the layout: the path may be a branch inside a method, a
    /// variant a dispatcher calls, or a shared method (a tile, a band of rows) a variant calls. The int8 model's quantize,
    /// feature-quantize and int8 classifier kernels have no such path of their own: they call the runtime's
    /// <c>ShuffleNetGen.Kernels.Int8Simd</c> (runtime/Kernels/Int8Simd.cs), whose Dp and AdvSimd branches are not generated code.
    /// </summary>
    [Theory]
    [InlineData(false, "Conv3x3_s2", "AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar")]
    [InlineData(false, "MaxPool3x3_s2", "AdvSimd.Arm64.MaxPairwise")]
    [InlineData(false, "Depthwise3x3_s2", "AdvSimd.Arm64.UnzipEven")]
    [InlineData(false, "AvgPool3x3_s2", "AdvSimd.Arm64.AddPairwise")]
    [InlineData(false, "Pointwise_g3", "AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar")]
    [InlineData(false, "GlobalAvgPool", "AdvSimd.Arm64.AddPairwise")]
    [InlineData(false, "Linear", "AdvSimd.FusedMultiplyAdd")]
    [InlineData(true, "Int8Pointwise_g3", "Dp.DotProductBySelectedQuadruplet")]
    [InlineData(true, "Depthwise3x3_s2", "AdvSimd.Arm64.UnzipEven")]
    [InlineData(true, "GlobalAvgPool", "AdvSimd.Arm64.AddPairwise")]
    public void GeneratedSourceHasAnAdvSimdPathInEachKernelKind(bool int8, string kernelPrefix, string instruction)
    {
        var root = int8 ? s_paperInt8.Value : s_paper.Value;
        var methods = root.DescendantNodes().OfType<MethodDeclarationSyntax>().ToList();
        var kernels = methods.Where(m => m.Identifier.ValueText.StartsWith(kernelPrefix, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(kernels);
        // A kernel's code includes the shared methods it calls (tiles, bands of rows), and theirs.
        var byName = methods.GroupBy(m => m.Identifier.ValueText).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        // A struct passed as a type argument is code the generic method runs (the fused stem and pool's widths).
        foreach (var type in root.DescendantNodes().OfType<StructDeclarationSyntax>())
            byName.TryAdd(type.Identifier.ValueText, type.Members.OfType<MethodDeclarationSyntax>().ToList());
        var reached = Reached(kernels, byName);
        var uses = reached.SelectMany(k => k.DescendantNodes().OfType<MemberAccessExpressionSyntax>())
            .Where(a => Names(a, instruction)).ToList();
        Assert.True(uses.Count > 0, $"no {kernelPrefix}* kernel, nor a method one calls, uses {instruction}");

        // Guarded: inside the taken branch of an AdvSimd (or Dp) IsSupported check, or in a method called, directly or
        // not, from one.
        var guardedRegions = root.DescendantNodes().Select(GuardedByArm).OfType<SyntaxNode>().ToList();
        var calledUnderGuard = Reached(guardedRegions.SelectMany(CalledNames).Distinct().SelectMany(n => byName.GetValueOrDefault(n) ?? []), byName)
            .Select(m => m.Identifier.ValueText).ToHashSet(StringComparer.Ordinal);
        Assert.Contains(uses, use =>
            guardedRegions.Any(r => r.Span.Contains(use.Span)) ||
            use.FirstAncestorOrSelf<MethodDeclarationSyntax>() is { } method && calledUnderGuard.Contains(method.Identifier.ValueText));
    }

    /// <summary><paramref name="start"/> and every method they call, transitively.</summary>
    private static HashSet<MethodDeclarationSyntax> Reached(IEnumerable<MethodDeclarationSyntax> start, Dictionary<string, List<MethodDeclarationSyntax>> byName)
    {
        var reached = new HashSet<MethodDeclarationSyntax>(start);
        var pending = new Queue<MethodDeclarationSyntax>(reached);
        while (pending.Count > 0)
            foreach (string callee in CalledNames(pending.Dequeue()))
                if (byName.TryGetValue(callee, out var declared))
                    foreach (var method in declared)
                        if (reached.Add(method)) pending.Enqueue(method);
        return reached;
    }

    /// <summary>
    /// Names of the methods <paramref name="node"/> calls without qualification (generic ones by their bare name), and
    /// of the types it passes generic ones as type arguments.
    /// </summary>
    private static IEnumerable<string> CalledNames(SyntaxNode node) =>
        node.DescendantNodesAndSelf().OfType<InvocationExpressionSyntax>()
            .SelectMany(i => i.Expression switch
            {
                GenericNameSyntax generic => generic.TypeArgumentList.Arguments.Select(a => a.ToString()).Prepend(generic.Identifier.ValueText),
                SimpleNameSyntax name => new[] { name.Identifier.ValueText },
                _ => Enumerable.Empty<string>(),
            });

    /// <summary>Whether <paramref name="expression"/> is <paramref name="name"/>, bare or qualified by its namespace.</summary>
    private static bool Names(ExpressionSyntax expression, string name) =>
        expression.ToString() is var text && (text == name || text.EndsWith("." + name, StringComparison.Ordinal));

    /// <summary>What runs only when an <c>AdvSimd.IsSupported</c>, <c>AdvSimd.Arm64.IsSupported</c> or <c>Dp.IsSupported</c> (ARM64's SDOT) condition holds, if <paramref name="node"/> branches on one.</summary>
    private static SyntaxNode? GuardedByArm(SyntaxNode node)
    {
        static bool ChecksAdvSimd(ExpressionSyntax condition) =>
            condition.DescendantNodesAndSelf().OfType<MemberAccessExpressionSyntax>().Any(a =>
                a.Name.Identifier.ValueText == "IsSupported" && (Names(a.Expression, "AdvSimd") || Names(a.Expression, "AdvSimd.Arm64") || Names(a.Expression, "Arm.Dp"))
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
