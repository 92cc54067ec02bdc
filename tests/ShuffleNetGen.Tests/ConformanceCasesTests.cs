using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The NativeAOT conformance runner (samples/Conformance) declares the reference matrix as <c>[ShuffleNet]</c> classes,
/// since it cannot generate models at run time. Both it and <see cref="ReferenceMatrixTests"/> compile
/// <see cref="ReferenceCases"/>; this checks that the runner's declarations are that table: same names, same attribute
/// arguments, same order. (The runner checks the names itself at startup as well.)
/// </summary>
public class ConformanceCasesTests
{
    private static string ModelsFile() => Repository.File("samples/Conformance/Models.cs");

    /// <summary>(CaseName constant, attribute arguments) of every [ShuffleNet] class in the runner, in source order.</summary>
    private static List<(string Name, string Arguments)> DeclaredCases()
    {
        var root = CSharpSyntaxTree.ParseText(File.ReadAllText(ModelsFile())).GetCompilationUnitRoot();
        var cases = new List<(string, string)>();
        foreach (var type in root.DescendantNodes().OfType<ClassDeclarationSyntax>())
        {
            var attribute = type.AttributeLists.SelectMany(l => l.Attributes).SingleOrDefault(a => a.Name.ToString() is "ShuffleNet" or "ShuffleNetAttribute");
            Assert.True(attribute is not null, $"class {type.Identifier} in {ModelsFile()} has no [ShuffleNet]");
            var nameConstant = type.Members.OfType<FieldDeclarationSyntax>()
                .SelectMany(f => f.Declaration.Variables)
                .SingleOrDefault(v => v.Identifier.Text == "CaseName");
            Assert.True(nameConstant?.Initializer?.Value is LiteralExpressionSyntax, $"class {type.Identifier} has no CaseName string constant");
            string name = (string)((LiteralExpressionSyntax)nameConstant!.Initializer!.Value).Token.Value!;
            cases.Add((name, Normalize(attribute!.ArgumentList?.Arguments.ToString() ?? "")));
        }
        return cases;
    }

    // Whitespace-insensitive comparison of argument lists: tokens joined by single spaces.
    private static string Normalize(string arguments) =>
        string.Join(" ", SyntaxFactory.ParseTokens(arguments).Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).Select(t => t.Text));

    [Fact]
    public void RunnerDeclaresExactlyTheReferenceMatrix()
    {
        var declared = DeclaredCases();
        var expected = ReferenceCases.All.Select(c => (c.Name, Normalize(c.Arguments))).ToList();
        Assert.Equal(expected, declared);
    }
}
