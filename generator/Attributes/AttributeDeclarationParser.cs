using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Attributes;

/// <summary>
/// Reads a <c>[ShuffleNet]</c> or <c>[ShuffleNetV2]</c> class into <see cref="DeclaredSettings"/> and where each setting was written, checks
/// what only a C# class can get wrong (not partial, nested, generic, ...), and leaves the rest to
/// <see cref="DeclarationBuilder"/>, as the JSON form does.
/// </summary>
internal static class AttributeDeclarationParser
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
            return ParseResult.InternalError(context.TargetSymbol.Name, e, LocationInfo.From(identifierLocation));
        }
    }

    private static ParseResult ParseCore(GeneratorAttributeSyntaxContext context, TypeDeclarationSyntax classSyntax, Location identifierLocation, CancellationToken cancellationToken)
    {
        var sink = new DiagnosticSink();
        var symbol = (INamedTypeSymbol)context.TargetSymbol;
        var attribute = context.Attributes[0];
        var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        var identifier = LocationInfo.From(identifierLocation);

        bool canHost = true;
        void Shape(string reason)
        {
            canHost = false;
            sink.Add(DiagnosticDescriptors.UnsupportedClassShape, identifier, symbol.Name, reason);
        }

        if (!classSyntax.Modifiers.Any(SyntaxKind.PartialKeyword))
        {
            canHost = false;
            sink.Add(DiagnosticDescriptors.ClassNotPartial, identifier, symbol.Name);
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
        var locations = Locations(attributeSyntax, identifier);
        locations.Add(Settings.ClassName, identifier);
        locations.Add(Settings.Namespace, LocationInfo.From(classSyntax.FirstAncestorOrSelf<BaseNamespaceDeclarationSyntax>()?.Name.GetLocation()) ?? identifier);

        string accessibility = symbol.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
        var form = new DeclarationForm(SettingSyntax.Attribute, accessibility, symbol.IsSealed, symbol.IsStatic, canHost,
            CanClaim: symbol.ContainingType is null && symbol.TypeParameters.Length == 0, FromAttribute: true);
        return DeclarationBuilder.Build(new DeclaredSettings(symbol.Name, ns, ReadSettings(attribute)), locations, form, sink);
    }

    /// <summary>The namespace as written in source: unlike ToDisplayString, never escaped and never culture-dependent.</summary>
    private static string NamespaceName(INamespaceSymbol ns)
    {
        var parts = new List<string>();
        for (var n = ns; n is { IsGlobalNamespace: false }; n = n.ContainingNamespace) parts.Add(n.Name);
        parts.Reverse();
        return string.Join(".", parts);
    }

    /// <summary>The settings an attribute states: <c>[ShuffleNet]</c> declares ShuffleNet v1, <c>[ShuffleNetV2]</c> v2.</summary>
    internal static NetworkSettings ReadSettings(AttributeData attribute)
    {
        var s = NetworkSettings.Default;
        if (attribute.AttributeClass?.ToDisplayString() == ShuffleNetGenerator.V2AttributeMetadataName) s = s with { Version = 2 };
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
                case Settings.Precision: s = s with { Precision = AsInt(value, s.Precision) }; break;
                case Settings.FinalChannels: s = s with { FinalChannels = AsInt(value, 0) }; break;
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

    /// <summary>
    /// Each <c>Name = value</c> argument, where a fix to that setting belongs; the attribute as a whole for a finding
    /// about the whole declaration or a setting left at its default. A list's entries are not located one by one: the
    /// argument is short enough to point at whole.
    /// </summary>
    private static SettingLocations Locations(AttributeSyntax? attribute, LocationInfo? identifier)
    {
        var whole = LocationInfo.From(attribute?.GetLocation()) ?? identifier;
        var locations = new SettingLocations(whole);
        locations.Add(Settings.Declaration, whole);
        foreach (var argument in attribute?.ArgumentList?.Arguments ?? default)
        {
            if (argument.NameEquals is { } name) locations.Add(name.Name.Identifier.ValueText, LocationInfo.From(argument.GetLocation()));
        }
        return locations;
    }
}
