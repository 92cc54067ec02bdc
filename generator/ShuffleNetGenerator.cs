using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using ShuffleNetGen.Generator.Attributes;
using ShuffleNetGen.Generator.Emit;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Json;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;

namespace ShuffleNetGen.Generator;

/// <summary>
/// Compiles each <c>[ShuffleNet]</c> partial class and each <c>*.shufflenet.json</c> additional file into a
/// shape-specialized forward pass. Pipeline: parse (symbols or JSON → equatable <see cref="ModelSpec"/>) → lower
/// (spec → fused ops) → passes (lifetimes, arena, weight layout) → emit. Only the first stage touches Roslyn symbols or
/// file text; everything cached after it compares by value.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ShuffleNetGenerator : IIncrementalGenerator
{
    public const string AttributeMetadataName = "ShuffleNetGen.ShuffleNetAttribute";

    public const string V2AttributeMetadataName = "ShuffleNetGen.ShuffleNetV2Attribute";

    /// <summary>
    /// MSBuild property (made visible with <c>&lt;CompilerVisibleProperty&gt;</c>) that adds the per-op benchmark hook
    /// to generated models; bench/ShuffleNetGen.Bench sets it.
    /// </summary>
    public const string BenchmarkHooksProperty = "ShuffleNetGenBenchmarkHooks";

    /// <summary>The ONNX importer's entry point (package ShuffleNetGen.Onnx).</summary>
    public const string OnnxWeightsMetadataName = "ShuffleNetGen.Onnx.OnnxWeights";

    internal static readonly string Version =
        typeof(ShuffleNetGenerator).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ShuffleNetGenerator).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // One stream per family's attribute (Roslyn finds each by its metadata name); from here on they are read alike.
        IncrementalValuesProvider<ParseResult> Attributes(string metadataName, string trackingName) => context.SyntaxProvider
            .ForAttributeWithMetadataName(
                metadataName,
                // Records are taken too, only to be told they cannot hold a model (SNG0002) instead of being skipped silently.
                static (node, _) => node is ClassDeclarationSyntax or RecordDeclarationSyntax,
                static (ctx, ct) => AttributeDeclarationParser.Parse(ctx, ct))
            .WithTrackingName(trackingName);
        var parsed = Attributes(AttributeMetadataName, TrackingNames.Parsed);
        var parsedV2 = Attributes(V2AttributeMetadataName, TrackingNames.ParsedV2);

        // The file's text, not the AdditionalText: a host may hand a new AdditionalText object for an unchanged file,
        // and only a comparison of content keeps everything after this stage cached then.
        var jsonParsed = context.AdditionalTextsProvider
            .Where(static text => JsonDeclarationParser.IsDeclaration(text.Path))
            .Select(static (text, ct) => new JsonFile(text.Path, text.GetText(ct)?.ToString()))
            .WithTrackingName(TrackingNames.JsonFiles)
            .Select(static (file, ct) => JsonDeclarationParser.Parse(file, ct))
            .WithTrackingName(TrackingNames.JsonParsed);

        // Diagnostics flow on their own so that a model whose code is unchanged is not re-emitted when only a
        // diagnostic's position moves, and so suppression works as for any compiler diagnostic.
        ReportDiagnostics(context, parsed.Select(static (r, _) => r.Diagnostics).WithTrackingName(TrackingNames.Diagnostics));
        ReportDiagnostics(context, parsedV2.Select(static (r, _) => r.Diagnostics).WithTrackingName(TrackingNames.DiagnosticsV2));
        ReportDiagnostics(context, jsonParsed.Select(static (r, _) => r.Diagnostics).WithTrackingName(TrackingNames.JsonDiagnostics));

        // Two declarations of one class would emit two files defining it. Only names and places are collected here,
        // so an edit that changes a model but not its name re-runs this cheap step and nothing else.
        var duplicates = parsed.Select(static (r, _) => r.Declaration).Collect()
            .Combine(parsedV2.Select(static (r, _) => r.Declaration).Collect())
            .Combine(jsonParsed.Select(static (r, _) => r.Declaration).Collect())
            .Select(static (pair, _) => DuplicateCheck.Find(pair.Left.Left.AddRange(pair.Left.Right).AddRange(pair.Right)))
            .WithTrackingName(TrackingNames.Duplicates);
        ReportDiagnostics(context, duplicates.Select(static (d, _) => d.Diagnostics).WithTrackingName(TrackingNames.DuplicateDiagnostics));
        var duplicateNames = duplicates.Select(static (d, _) => d.Names).WithTrackingName(TrackingNames.DuplicateNames);

        var attributeModels = parsed.Where(static r => r.Model is not null).Select(static (r, _) => r.Model!).WithTrackingName(TrackingNames.AttributeModels);
        var attributeModelsV2 = parsedV2.Where(static r => r.Model is not null).Select(static (r, _) => r.Model!).WithTrackingName(TrackingNames.AttributeModelsV2);
        var jsonModels = jsonParsed.Where(static r => r.Model is not null).Select(static (r, _) => r.Model!).WithTrackingName(TrackingNames.JsonModels);

        // Collecting and splitting again compares each model with the one at its place last time, so editing one
        // declaration re-emits that model alone.
        var models = attributeModels.Collect()
            .Combine(attributeModelsV2.Collect())
            .Combine(jsonModels.Collect())
            .Combine(duplicateNames)
            .SelectMany(static (input, _) => DuplicateCheck.Emittable(input.Left.Left.Left.AddRange(input.Left.Left.Right).AddRange(input.Left.Right), input.Right))
            .WithTrackingName(TrackingNames.Models);
        // FromOnnx is emitted only where the ONNX importer is referenced. The lookup runs on every compilation, but
        // its result is a bool, so models stay cached unless the reference itself comes or goes.
        var onnxAvailable = context.CompilationProvider
            .Select(static (compilation, _) => compilation.GetTypeByMetadataName(OnnxWeightsMetadataName) is not null)
            .WithTrackingName(TrackingNames.OnnxAvailable);
        // The per-op benchmark hook is for bench/ only: a user's model should not carry a second copy of every call.
        var benchmarkHooks = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) =>
                options.GlobalOptions.TryGetValue("build_property." + BenchmarkHooksProperty, out var value)
                && string.Equals(value, "true", StringComparison.OrdinalIgnoreCase))
            .WithTrackingName(TrackingNames.BenchmarkHooks);
        // The target's variants, from properties that change once per build configuration, not per edit; the value is
        // compared by content, so an edit keeps every model cached.
        var targetWidths = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) => TargetWidths.FromBuild(
                BuildProperty(options, TargetWidths.RuntimeIdentifierProperty),
                BuildProperty(options, TargetWidths.PublishAotProperty),
                BuildProperty(options, TargetWidths.IsPublishingProperty),
                BuildProperty(options, TargetWidths.IlcInstructionSetProperty)))
            .WithTrackingName(TrackingNames.TargetWidths);
        var emitOptions = onnxAvailable.Combine(benchmarkHooks).Combine(targetWidths)
            .Select(static (pair, _) => new EmitOptions(pair.Left.Left, pair.Left.Right, pair.Right));
        context.RegisterSourceOutput(models.Combine(emitOptions), static (spc, pair) => Emit(spc, pair.Left, pair.Right));

        // Declarations that generate no model still get their class's public surface, throwing, so the user sees the
        // declaration's error and not one more at every use of the model.
        var placeholders = parsed.Select(static (r, _) => r.Fallback).Collect()
            .Combine(parsedV2.Select(static (r, _) => r.Fallback).Collect())
            .Combine(jsonParsed.Select(static (r, _) => r.Fallback).Collect())
            .Combine(duplicates)
            .SelectMany(static (input, _) => Placeholders.Emittable(input.Left.Left.Left.AddRange(input.Left.Left.Right).AddRange(input.Left.Right), input.Right))
            .WithTrackingName(TrackingNames.Placeholders);
        context.RegisterSourceOutput(placeholders.Combine(emitOptions),
            static (spc, pair) => spc.AddSource(pair.Left.HintName, PlaceholderEmitter.Emit(pair.Left.Target, pair.Left.Failure, Version, pair.Right)));
    }

    private static string? BuildProperty(AnalyzerConfigOptionsProvider options, string name) =>
        options.GlobalOptions.TryGetValue("build_property." + name, out var value) ? value : null;

    private static void ReportDiagnostics(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> diagnostics) =>
        context.RegisterSourceOutput(diagnostics.Combine(context.CompilationProvider), static (spc, pair) => Report(spc, pair.Left, pair.Right));

    private static void ReportDiagnostics(IncrementalGeneratorInitializationContext context, IncrementalValueProvider<EquatableArray<DiagnosticInfo>> diagnostics) =>
        context.RegisterSourceOutput(diagnostics.Combine(context.CompilationProvider), static (spc, pair) => Report(spc, pair.Left, pair.Right));

    /// <summary>
    /// Reports with locations in the compilation's syntax trees. The pipeline carries file path and span only (a tree
    /// would pin old compilations in the cache), but a location rebuilt from a path is an external-file location,
    /// which Roslyn does not check against <c>#pragma warning disable</c> (dotnet/roslyn#68291). Combining with the
    /// compilation here, at the last step, costs one lookup per diagnostic on each edit and nothing when there is none.
    /// </summary>
    private static void Report(SourceProductionContext context, EquatableArray<DiagnosticInfo> diagnostics, Compilation compilation)
    {
        foreach (var d in diagnostics)
        {
            SyntaxTree? tree = null;
            if (d.Location is { FilePath.Length: > 0 } location)
            {
                foreach (var candidate in compilation.SyntaxTrees)
                {
                    if (candidate.FilePath == location.FilePath) { tree = candidate; break; }
                }
            }
            context.ReportDiagnostic(d.ToDiagnostic(tree));
        }
    }

    private static void Emit(SourceProductionContext context, ModelSpec model, EmitOptions options)
    {
        string source;
        try
        {
            source = Generate(model, options);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug in a later stage must not take the compilation down (CS8785 drops every generated file, not just
            // this one); the spec carries no location, so the message names the class instead.
            var error = DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, (LocationInfo?)null, model.FullName, e.GetType().Name, e.Message);
            context.ReportDiagnostic(error.ToDiagnostic());
            context.AddSource(Placeholders.HintNameFor(model.Target), PlaceholderEmitter.Emit(model.Target, ParseResult.Failure(new[] { error }), Version, options));
            return;
        }
        context.AddSource(model.HintName, source);
    }

    /// <summary>Runs every stage after parsing; also used by tests and tools to get the source of a spec.</summary>
    internal static string Generate(ModelSpec model, EmitOptions options = default)
    {
        var graph = ModelPipeline.Build(model.Network);
        return ModelEmitter.Emit(model, graph, Version, options);
    }

    internal static class TrackingNames
    {
        public const string Parsed = "ShuffleNet.Parsed";
        public const string ParsedV2 = "ShuffleNet.ParsedV2";
        public const string Diagnostics = "ShuffleNet.Diagnostics";
        public const string DiagnosticsV2 = "ShuffleNet.DiagnosticsV2";
        public const string JsonFiles = "ShuffleNet.JsonFiles";
        public const string JsonParsed = "ShuffleNet.JsonParsed";
        public const string JsonDiagnostics = "ShuffleNet.JsonDiagnostics";
        public const string Duplicates = "ShuffleNet.Duplicates";
        public const string DuplicateDiagnostics = "ShuffleNet.DuplicateDiagnostics";
        public const string DuplicateNames = "ShuffleNet.DuplicateNames";
        public const string AttributeModels = "ShuffleNet.AttributeModels";
        public const string AttributeModelsV2 = "ShuffleNet.AttributeModelsV2";
        public const string JsonModels = "ShuffleNet.JsonModels";
        public const string Models = "ShuffleNet.Models";
        public const string OnnxAvailable = "ShuffleNet.OnnxAvailable";
        public const string BenchmarkHooks = "ShuffleNet.BenchmarkHooks";
        public const string TargetWidths = "ShuffleNet.TargetWidths";
        public const string Placeholders = "ShuffleNet.Placeholders";

        public static readonly ImmutableArray<string> All = ImmutableArray.Create(
            Parsed, ParsedV2, Diagnostics, DiagnosticsV2, JsonFiles, JsonParsed, JsonDiagnostics, Duplicates, DuplicateDiagnostics, DuplicateNames,
            AttributeModels, AttributeModelsV2, JsonModels, Models, OnnxAvailable, BenchmarkHooks, TargetWidths, Placeholders);
    }
}
