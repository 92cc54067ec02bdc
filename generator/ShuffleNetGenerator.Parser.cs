using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator;

public sealed partial class ShuffleNetGenerator
{
    /// <summary>The parse stage's output: a model to emit (or none), and what to tell the user.</summary>
    internal sealed record ParseResult(ModelSpec? Model, EquatableArray<DiagnosticInfo> Diagnostics);

    internal static class Parser
    {
        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var diagnostics = new List<DiagnosticInfo>();
            var classSyntax = (ClassDeclarationSyntax)context.TargetNode;
            var symbol = (INamedTypeSymbol)context.TargetSymbol;
            var attribute = context.Attributes[0];
            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            var identifierLocation = classSyntax.Identifier.GetLocation();

            ParseResult Fail() => new(null, diagnostics.ToEquatableArray());

            if (!classSyntax.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ClassNotPartial, identifierLocation, symbol.Name));
            }
            if (symbol.ContainingType is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedClassShape, identifierLocation, symbol.Name, "it is nested in another type; declare it directly in a namespace"));
            if (symbol.TypeParameters.Length > 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedClassShape, identifierLocation, symbol.Name, "it is generic; a model has one fixed shape, so remove the type parameters"));
            if (symbol.IsStatic)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedClassShape, identifierLocation, symbol.Name, "it is static; a model is an instance that owns its activation memory"));
            if (symbol.IsAbstract && !symbol.IsStatic)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedClassShape, identifierLocation, symbol.Name, "it is abstract; the generated factories construct it"));

            var settings = ReadSettings(attribute);
            var (network, errors) = NetworkResolver.Resolve(settings);
            foreach (var error in errors)
                diagnostics.Add(DiagnosticInfo.Create(error.Descriptor, ArgumentLocation(attributeSyntax, error.Setting) ?? identifierLocation, error.Arguments));

            if (network is not null)
            {
                // Size limits depend on the memory plan, so plan once here where a location is at hand.
                var graph = Build(network);
                if (graph.ArenaLength > int.MaxValue)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ModelTooLarge, attributeSyntax?.GetLocation() ?? identifierLocation, "The activation arena", graph.ArenaLength));
                else if (graph.PackedWeightLength > int.MaxValue)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ModelTooLarge, attributeSyntax?.GetLocation() ?? identifierLocation, "The packed weights", graph.PackedWeightLength));
                else if ((long)network.InputChannels * network.InputHeight * network.InputWidth > int.MaxValue)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ModelTooLarge, attributeSyntax?.GetLocation() ?? identifierLocation, "The input image", (long)network.InputChannels * network.InputHeight * network.InputWidth));
            }

            if (network is null || diagnostics.Count > 0) return Fail();

            string? ns = symbol.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
            string accessibility = symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
            var target = new TargetClassSpec(ns, symbol.Name, accessibility, symbol.IsSealed, symbol.IsStatic);
            string hint = (ns is null ? "" : ns + ".") + symbol.Name + ".ShuffleNet.g.cs";
            return new ParseResult(new ModelSpec(target, network, hint), EquatableArray<DiagnosticInfo>.Empty);
        }

        internal static NetworkSettings ReadSettings(AttributeData attribute)
        {
            var s = NetworkSettings.Default;
            foreach (var pair in attribute.NamedArguments)
            {
                var value = pair.Value;
                if (value.Kind == TypedConstantKind.Error) continue;
                switch (pair.Key)
                {
                    case "Groups": s = s with { Groups = AsInt(value, s.Groups) }; break;
                    case "Scale": s = s with { Scale = value.Value is double d ? d : s.Scale }; break;
                    case "Stages": s = s with { Stages = AsIntArray(value) }; break;
                    case "StageChannels": s = s with { StageChannels = AsIntArray(value) }; break;
                    case "StemChannels": s = s with { StemChannels = AsInt(value, 0) }; break;
                    case "InputChannels": s = s with { InputChannels = AsInt(value, s.InputChannels) }; break;
                    case "InputHeight": s = s with { InputHeight = AsInt(value, s.InputHeight) }; break;
                    case "InputWidth": s = s with { InputWidth = AsInt(value, s.InputWidth) }; break;
                    case "Classes": s = s with { Classes = AsInt(value, s.Classes) }; break;
                    case "StemStride": s = s with { StemStride = AsInt(value, s.StemStride) }; break;
                    case "StemMaxPool": s = s with { StemMaxPool = value.Value is bool b ? b : s.StemMaxPool }; break;
                }
            }
            return s;
        }

        private static int AsInt(TypedConstant value, int fallback) => value.Value is int i ? i : fallback;

        private static EquatableArray<int> AsIntArray(TypedConstant value)
        {
            if (value.Kind != TypedConstantKind.Array || value.IsNull) return EquatableArray<int>.Empty;
            return value.Values.Select(v => v.Value is int i ? i : 0).ToEquatableArray();
        }

        /// <summary>The <c>Name = value</c> argument of the attribute, where a fix to that setting belongs.</summary>
        private static Location? ArgumentLocation(AttributeSyntax? attribute, string setting)
        {
            var argument = attribute?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == setting);
            return argument?.GetLocation() ?? attribute?.GetLocation();
        }
    }
}
