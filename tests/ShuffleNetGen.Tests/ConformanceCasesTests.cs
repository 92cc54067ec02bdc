using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The NativeAOT conformance runner (samples/Conformance) declares the reference matrix as <c>[ShuffleNet]</c> and
/// <c>[ShuffleNetV2]</c> classes, since it cannot generate models at run time. Both it and <see cref="ReferenceMatrixTests"/>
/// compile <see cref="ReferenceCases"/>; this checks that the runner's declarations are that table: same names, same
/// attributes and arguments, same order. (The runner checks the names itself at startup as well.)
/// </summary>
public class ConformanceCasesTests
{
    private static string ModelsFile() => Repository.File("samples/Conformance/Models.cs");

    /// <summary>(CaseName constant, attribute, attribute arguments) of every [ShuffleNet] or [ShuffleNetV2] class in the runner, in source order.</summary>
    private static List<(string Name, string Attribute, string Arguments)> DeclaredCases()
    {
        var root = CSharpSyntaxTree.ParseText(File.ReadAllText(ModelsFile())).GetCompilationUnitRoot();
        var cases = new List<(string, string, string)>();
        foreach (var type in root.DescendantNodes().OfType<ClassDeclarationSyntax>())
        {
            var attribute = type.AttributeLists.SelectMany(l => l.Attributes)
                .SingleOrDefault(a => a.Name.ToString() is "ShuffleNet" or "ShuffleNetAttribute" or "ShuffleNetV2" or "ShuffleNetV2Attribute");
            Assert.True(attribute is not null, $"class {type.Identifier} in {ModelsFile()} has no [ShuffleNet] or [ShuffleNetV2]");
            var nameConstant = type.Members.OfType<FieldDeclarationSyntax>()
                .SelectMany(f => f.Declaration.Variables)
                .SingleOrDefault(v => v.Identifier.Text == "CaseName");
            Assert.True(nameConstant?.Initializer?.Value is LiteralExpressionSyntax, $"class {type.Identifier} has no CaseName string constant");
            string name = (string)((LiteralExpressionSyntax)nameConstant!.Initializer!.Value).Token.Value!;
            string attributeName = attribute!.Name.ToString();
            if (attributeName.EndsWith("Attribute", StringComparison.Ordinal)) attributeName = attributeName[..^"Attribute".Length];
            cases.Add((name, attributeName, Normalize(attribute.ArgumentList?.Arguments.ToString() ?? "")));
        }
        return cases;
    }

    // Whitespace-insensitive comparison of argument lists: tokens joined by single spaces.
    private static string Normalize(string arguments) =>
        string.Join(" ", SyntaxFactory.ParseTokens(arguments).Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).Select(t => t.Text));

    /// <summary>
    /// The runner compares with the reference logits committed beside it instead of computing the double-precision
    /// reference under emulation; this recomputes them here, on every run, and requires the file to be exactly that.
    /// </summary>
    [Fact]
    public void CommittedReferenceLogitsAreTheScalarReferencesOutput()
    {
        string path = Repository.File("samples/Conformance/reference-logits.txt");
        string expected = ReferenceLogitsFile.Format(ReferenceCases.All.Select(c => (c.Name, ReferenceMatrixTests.ReferenceLogits(c.Name, c.Attribute, c.Arguments))));
        if (Environment.GetEnvironmentVariable("VERIFY_ACCEPT") == "1") File.WriteAllText(path, expected);
        Assert.True(File.Exists(path), $"{path} is missing; run this test with VERIFY_ACCEPT=1 to write it");
        string committed = File.ReadAllText(path);
        Assert.True(committed == expected, $"{path} is not the reference's output for ReferenceCases.All (a case, its weights, its input or the reference changed); run this test with VERIFY_ACCEPT=1 to rewrite it");
        Assert.Equal(ReferenceCases.All.Count, ReferenceLogitsFile.Parse(committed).Count);
    }

    [Fact]
    public void RunnerDeclaresExactlyTheReferenceMatrix()
    {
        var declared = DeclaredCases();
        var expected = ReferenceCases.All.Select(c => (c.Name, c.Attribute, Normalize(c.Arguments))).ToList();
        Assert.Equal(expected, declared);
    }
}
