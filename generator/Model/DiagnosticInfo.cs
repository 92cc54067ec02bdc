using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// A location reduced to what compares by value: a Location holds its syntax tree, which would pin the compilation in
/// the incremental cache and never compare equal across edits.
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    /// <summary>A location in <paramref name="tree"/> when given (one #pragma applies to), else an external-file location (JSON files).</summary>
    public Location ToLocation(SyntaxTree? tree = null) =>
        tree is not null && Span.End <= tree.Length ? Location.Create(tree, Span) : Location.Create(FilePath, Span, LineSpan);

    /// <summary>file(line,column), 1-based as compilers print it, to point from one message at another place.</summary>
    public string Display => $"{FileName(FilePath)}({LineSpan.Start.Line + 1},{LineSpan.Start.Character + 1})";

    /// <summary>Path.GetFileName without its .NET Framework habit of throwing on characters it deems invalid.</summary>
    public static string FileName(string path) => path.Substring(path.LastIndexOfAny(new[] { '/', '\\' }) + 1);

    public static LocationInfo? From(Location? location)
    {
        if (location is null || location.SourceTree is null) return null;
        return new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
    }
}

/// <summary>A diagnostic as an equatable value (Diagnostic itself does not compare well).</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params object[] arguments) =>
        Create(descriptor, LocationInfo.From(location), arguments);

    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] arguments)
    {
        var args = new string[arguments.Length];
        for (int i = 0; i < arguments.Length; i++) args[i] = Convert.ToString(arguments[i], System.Globalization.CultureInfo.InvariantCulture) ?? "";
        return new DiagnosticInfo(descriptor.Id, location, new EquatableArray<string>(args));
    }

    public DiagnosticSeverity Severity => DiagnosticDescriptors.ById(Id).DefaultSeverity;

    public Diagnostic ToDiagnostic(SyntaxTree? tree = null)
    {
        var descriptor = DiagnosticDescriptors.ById(Id);
        var args = new object[Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = Arguments[i];
        return Diagnostic.Create(descriptor, Location?.ToLocation(tree) ?? Microsoft.CodeAnalysis.Location.None, args);
    }
}
