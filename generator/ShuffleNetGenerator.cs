using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Generator.Emit;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;

namespace ShuffleNetGen.Generator;

/// <summary>
/// Compiles each <c>[ShuffleNet]</c> partial class into a shape-specialized forward pass.
/// Pipeline: parse (symbols → equatable <see cref="ModelSpec"/>) → lower (spec → fused ops) → passes (lifetimes,
/// arena, weight layout) → emit. Only the first stage touches Roslyn symbols; everything cached after it compares by value.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class ShuffleNetGenerator : IIncrementalGenerator
{
    public const string AttributeMetadataName = "ShuffleNetGen.ShuffleNetAttribute";

    internal static readonly string Version =
        typeof(ShuffleNetGenerator).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ShuffleNetGenerator).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeMetadataName,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parsed);

        // Diagnostics flow on their own so that a model whose code is unchanged is not re-emitted when only a
        // diagnostic's position moves, and so suppression works as for any compiler diagnostic.
        var diagnostics = parsed.Select(static (r, _) => r.Diagnostics).WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        var models = parsed
            .Where(static r => r.Model is not null)
            .Select(static (r, _) => r.Model!)
            .WithTrackingName(TrackingNames.Models);
        context.RegisterSourceOutput(models, static (spc, model) => spc.AddSource(model.HintName, Generate(model)));
    }

    /// <summary>Runs every stage after parsing; also used by tests and tools to get the source of a spec.</summary>
    internal static string Generate(ModelSpec model)
    {
        var graph = Build(model.Network);
        return ModelEmitter.Emit(model, graph, Version);
    }

    internal static NetworkGraph Build(NetworkSpec network)
    {
        var graph = NetworkLowering.Lower(network);
        TensorLifetimes.Compute(graph);
        ArenaPlanner.Plan(graph);
        WeightLayout.Assign(graph);
        return graph;
    }

    internal static class TrackingNames
    {
        public const string Parsed = "ShuffleNet.Parsed";
        public const string Diagnostics = "ShuffleNet.Diagnostics";
        public const string Models = "ShuffleNet.Models";
    }
}
