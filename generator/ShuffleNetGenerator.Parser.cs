using System;
using System.Collections.Generic;
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
    /// <summary>
    /// The parse stage's output: a model to emit (or none), what to tell the user, and which class the declaration
    /// claims (for the duplicate check; null when it names no usable class).
    /// </summary>
    internal sealed record ParseResult(ModelSpec? Model, EquatableArray<DiagnosticInfo> Diagnostics, DeclaredModel? Declaration, FallbackSpec? Fallback = null)
    {
        /// <param name="host">Where a stand-in could go if no model is generated; null where none can.</param>
        public static ParseResult From(ModelSpec? model, List<DiagnosticInfo> diagnostics, DeclaredModel? declaration, TargetClassSpec? host = null, bool fromAttribute = false)
        {
            var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            string? failure = errors.Count > 0 ? Failure(errors) : model is null ? "the declaration could not be read" : null;
            var fallback = host is null ? null : new FallbackSpec(host, fromAttribute, failure);
            return new(errors.Count > 0 ? null : model, diagnostics.ToEquatableArray(), declaration, fallback);
        }

        /// <summary>"SNG0003 Groups = 5 is not supported; ..." for the first error, with a count of the others.</summary>
        internal static string Failure(IReadOnlyList<DiagnosticInfo> errors)
        {
            string first = errors[0].Id + " " + errors[0].ToDiagnostic().GetMessage(System.Globalization.CultureInfo.InvariantCulture);
            return errors.Count == 1 ? first : $"{first} (and {errors.Count - 1} more error{(errors.Count == 2 ? "" : "s")})";
        }
    }

    internal static class Parser
    {
        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var classSyntax = (TypeDeclarationSyntax)context.TargetNode;
            var identifierLocation = classSyntax.Identifier.GetLocation();
            try
            {
                return ParseCore(context, classSyntax, identifierLocation, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return InternalError(context.TargetSymbol.Name, e, LocationInfo.From(identifierLocation));
            }
        }

        private static ParseResult ParseCore(GeneratorAttributeSyntaxContext context, TypeDeclarationSyntax classSyntax, Location identifierLocation, CancellationToken cancellationToken)
        {
            var diagnostics = new List<DiagnosticInfo>();
            var symbol = (INamedTypeSymbol)context.TargetSymbol;
            var attribute = context.Attributes[0];
            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;

            bool canHost = true;
            void Shape(string reason)
            {
                canHost = false;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedClassShape, identifierLocation, symbol.Name, reason));
            }

            if (!classSyntax.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                canHost = false;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ClassNotPartial, identifierLocation, symbol.Name));
            }
            if (classSyntax is RecordDeclarationSyntax)
                Shape("it is a record; the generated part is a class, so declare it 'partial class'");
            if (symbol.ContainingType is not null)
                Shape("it is nested in another type; declare it directly in a namespace");
            if (symbol.TypeParameters.Length > 0)
                Shape("it is generic; a model has one fixed shape, so remove the type parameters");
            if (symbol.IsStatic)
                Shape("it is static; a model is an instance that owns its activation memory");
            if (symbol.IsAbstract && !symbol.IsStatic)
                Shape("it is abstract; the generated factories construct it");
            if (symbol.IsFileLocal)
                Shape("it is file-local; the generated part lives in another file, so remove the 'file' modifier");

            string? ns = symbol.ContainingNamespace is { IsGlobalNamespace: false } n ? NamespaceName(n) : null;
            bool nameOk = true;
            Location NamespaceLocation() => classSyntax.FirstAncestorOrSelf<BaseNamespaceDeclarationSyntax>()?.Name.GetLocation() ?? identifierLocation;
            // C# accepts a 1,000-segment namespace, but the generated file's name and the compiler's recursive binding
            // of the generated namespace do not: refuse it here rather than emit code that breaks the build.
            if (ModelNames.LengthProblem(ns, symbol.Name, out bool aboutNamespace) is { } lengthProblem)
            {
                nameOk = false;
                diagnostics.Add(aboutNamespace
                    ? DiagnosticInfo.Create(DiagnosticDescriptors.InvalidModelName, NamespaceLocation(), ModelNames.Shown(ns!), "namespace", lengthProblem)
                    : DiagnosticInfo.Create(DiagnosticDescriptors.InvalidModelName, identifierLocation, ModelNames.Shown(symbol.Name), "class name", lengthProblem));
            }
            else
            {
                if (ModelNames.ClassNameProblem(symbol.Name) is { } nameProblem)
                {
                    nameOk = false;
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidModelName, identifierLocation, symbol.Name, "class name", nameProblem));
                }
                if (ns is not null && ModelNames.NamespaceProblem(ns) is { } nsProblem)
                {
                    nameOk = false;
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidModelName, NamespaceLocation(), ns, "namespace", nsProblem));
                }
            }

            var settings = ReadSettings(attribute);
            var (network, findings) = DeclarationValidator.Validate(settings, SettingSyntax.Attribute);
            foreach (var finding in findings)
            {
                var location = finding.Setting == Settings.Declaration ? attributeSyntax?.GetLocation() : ArgumentLocation(attributeSyntax, finding.Setting);
                diagnostics.Add(DiagnosticInfo.Create(finding.Descriptor, location ?? identifierLocation, finding.Arguments));
            }

            var declaration = nameOk && symbol.ContainingType is null && symbol.TypeParameters.Length == 0
                ? new DeclaredModel(ns is null ? symbol.Name : ns + "." + symbol.Name, LocationInfo.From(identifierLocation))
                : null;
            string accessibility = symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
            var target = new TargetClassSpec(ns, symbol.Name, accessibility, symbol.IsSealed, symbol.IsStatic);
            // A class that is not partial, or of a shape that cannot take members, gets nothing: any part added to it
            // would be a second error of its own.
            var host = canHost && ModelNames.CanHostPlaceholder(symbol.Name, ns) ? target : null;
            var model = network is null ? null : new ModelSpec(target, network, ModelSpec.HintNameFor(target));
            return ParseResult.From(model, diagnostics, declaration, host, fromAttribute: true);
        }

        internal static ParseResult InternalError(string name, Exception e, LocationInfo? location) =>
            new(null, new[] { DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, location, name, e.GetType().Name, e.Message) }.ToEquatableArray(), null);

        /// <summary>The namespace as written in source: unlike ToDisplayString, never escaped and never culture-dependent.</summary>
        private static string NamespaceName(INamespaceSymbol ns)
        {
            var parts = new List<string>();
            for (var n = ns; n is { IsGlobalNamespace: false }; n = n.ContainingNamespace) parts.Add(n.Name);
            parts.Reverse();
            return string.Join(".", parts);
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
                    case Settings.Groups: s = s with { Groups = AsInt(value, s.Groups) }; break;
                    case Settings.Scale: s = s with { Scale = value.Value is double d ? d : s.Scale }; break;
                    case Settings.Stages: s = s with { Stages = AsIntArray(value) }; break;
                    case Settings.StageChannels: s = s with { StageChannels = AsIntArray(value) }; break;
                    case Settings.StemChannels: s = s with { StemChannels = AsInt(value, 0) }; break;
                    case Settings.InputChannels: s = s with { InputChannels = AsInt(value, s.InputChannels) }; break;
                    case Settings.InputHeight: s = s with { InputHeight = AsInt(value, s.InputHeight) }; break;
                    case Settings.InputWidth: s = s with { InputWidth = AsInt(value, s.InputWidth) }; break;
                    case Settings.Classes: s = s with { Classes = AsInt(value, s.Classes) }; break;
                    case Settings.StemStride: s = s with { StemStride = AsInt(value, s.StemStride) }; break;
                    case Settings.StemMaxPool: s = s with { StemMaxPool = value.Value is bool b ? b : s.StemMaxPool }; break;
                    case Settings.ShuffleOrder: s = s with { ShuffleOrder = AsInt(value, s.ShuffleOrder) }; break;
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
