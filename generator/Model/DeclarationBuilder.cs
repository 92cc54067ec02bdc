using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>What a declaration says, in either form: the class it names (null where none could be read) and its settings.</summary>
internal sealed record DeclaredSettings(string? ClassName, string? Namespace, NetworkSettings Network);

/// <summary>
/// Where a declaration wrote each of its settings (keys: <see cref="Settings"/>), so a finding about a setting is
/// reported there; a setting never written falls back to the declaration as a whole.
/// </summary>
internal sealed class SettingLocations
{
    private readonly Dictionary<string, LocationInfo?> _settings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<LocationInfo>> _entries = new(StringComparer.Ordinal);
    private readonly LocationInfo? _fallback;

    /// <param name="fallback">Where a finding goes when its setting was not written.</param>
    public SettingLocations(LocationInfo? fallback) => _fallback = fallback;

    /// <summary>Records where <paramref name="setting"/> was written; the first record of a setting stands.</summary>
    /// <param name="entries">For a list setting, where each entry was written.</param>
    public void Add(string setting, LocationInfo? location, IReadOnlyList<LocationInfo>? entries = null)
    {
        if (_settings.ContainsKey(setting)) return;
        _settings.Add(setting, location);
        if (entries is not null) _entries.Add(setting, entries);
    }

    /// <summary>The entry <paramref name="index"/> of a list setting when it is known, else the setting, else the fallback.</summary>
    public LocationInfo? Of(string setting, int index = -1)
    {
        if (index >= 0 && _entries.TryGetValue(setting, out var entries) && index < entries.Count) return entries[index];
        return _settings.TryGetValue(setting, out var location) && location is not null ? location : _fallback;
    }
}

/// <summary>What a declaration form decides on its own, before the shared checks: how it spells settings and the class it makes.</summary>
/// <param name="CanHost">The form's own checks leave a class a stand-in can be added to (an attribute on a partial, top-level class).</param>
/// <param name="CanClaim">The declaration names a class the duplicate check counts (not nested, not generic, names readable).</param>
internal sealed record DeclarationForm(SettingSyntax Syntax, string Accessibility, bool IsSealed, bool IsStatic, bool CanHost, bool CanClaim, bool FromAttribute);

/// <summary>
/// Diagnostics of one declaration, in the order found. Past <see cref="Cap"/> findings are counted, not listed, and
/// their arguments are never computed (the nearest-name suggestion is not free).
/// </summary>
internal sealed class DiagnosticSink
{
    private readonly List<DiagnosticInfo> _diagnostics = new();

    public DiagnosticSink(int cap = int.MaxValue) => Cap = cap;

    public int Cap { get; }

    /// <summary>Findings past <see cref="Cap"/>.</summary>
    public int Suppressed { get; private set; }

    public void Add(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] arguments) => Add(descriptor, location, () => arguments);

    public void Add(DiagnosticDescriptor descriptor, LocationInfo? location, Func<object[]> arguments)
    {
        if (_diagnostics.Count >= Cap) Suppressed++;
        else _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments()));
    }

    /// <summary>The listed diagnostics, ending with the count of the suppressed ones (SNG0023) at <paramref name="countAt"/> if any.</summary>
    public List<DiagnosticInfo> Complete(LocationInfo? countAt = null)
    {
        var result = new List<DiagnosticInfo>(_diagnostics);
        if (Suppressed > 0) result.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyFindings, countAt, Suppressed, Cap));
        return result;
    }
}

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

    /// <summary>A declaration whose reading threw: SNG9999 with the exception, and nothing else.</summary>
    public static ParseResult InternalError(string name, Exception e, LocationInfo? location) =>
        new(null, new[] { DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, location, name, e.GetType().Name, e.Message) }.ToEquatableArray(), null);

    /// <summary>"SNG0003 Groups = 5 is not supported; ..." for the first error, with a count of the others.</summary>
    internal static string Failure(IReadOnlyList<DiagnosticInfo> errors)
    {
        string first = errors[0].Id + " " + errors[0].ToDiagnostic().GetMessage(CultureInfo.InvariantCulture);
        return errors.Count == 1 ? first : $"{first} (and {errors.Count - 1} more error{(errors.Count == 2 ? "" : "s")})";
    }
}

/// <summary>
/// What both declaration forms share once their settings are read: the class and namespace name checks, the
/// network's validation (<see cref="DeclarationValidator"/>), the <see cref="ModelSpec"/>, the claim the duplicate check
/// counts and the stand-in's host. A form only reads its text into <see cref="DeclaredSettings"/> and
/// <see cref="SettingLocations"/>; a configuration then gets the same model and the same findings either way.
/// </summary>
internal static class DeclarationBuilder
{
    public static ParseResult Build(DeclaredSettings declared, SettingLocations locations, DeclarationForm form, DiagnosticSink sink, LocationInfo? countAt = null)
    {
        string? name = declared.ClassName, ns = declared.Namespace;
        bool nameOk = name is not null;
        // Length first: it is a count, where the other checks split and scan what may be a 20 KB name.
        if ((name is not null || ns is not null) && ModelNames.LengthProblem(ns, name ?? "", out bool aboutNamespace) is { } lengthProblem)
        {
            nameOk = false;
            if (aboutNamespace || name is null) sink.Add(DiagnosticDescriptors.InvalidModelName, locations.Of(Settings.Namespace), ModelNames.Shown(ns!), "namespace", lengthProblem);
            else sink.Add(DiagnosticDescriptors.InvalidModelName, locations.Of(Settings.ClassName), ModelNames.Shown(name), "class name", lengthProblem);
        }
        else
        {
            if (name is not null && (ModelNames.ClassNameProblem(name) ?? ModelNames.PlacementProblem(name, ns)) is { } nameProblem)
            {
                nameOk = false;
                sink.Add(DiagnosticDescriptors.InvalidModelName, locations.Of(Settings.ClassName), name, "class name", nameProblem);
            }
            if (ns is not null && ModelNames.NamespaceProblem(ns) is { } nsProblem)
            {
                nameOk = false;
                sink.Add(DiagnosticDescriptors.InvalidModelName, locations.Of(Settings.Namespace), ns, "namespace", nsProblem);
            }
        }

        var (network, findings) = DeclarationValidator.Validate(declared.Network, form.Syntax);
        foreach (var finding in findings)
            sink.Add(finding.Descriptor, locations.Of(finding.Setting, finding.Index), finding.Arguments);

        var claim = nameOk && form.CanClaim ? new DeclaredModel(ns is null ? name! : ns + "." + name, locations.Of(Settings.ClassName)) : null;
        var target = name is null ? null : new TargetClassSpec(ns, name, form.Accessibility, form.IsSealed, form.IsStatic);
        // A class that cannot take members gets nothing: any part added to it would be a second error of its own.
        var host = form.CanHost && target is not null && ModelNames.CanHostPlaceholder(target.ClassName, ns) ? target : null;
        var model = network is not null && nameOk && target is not null ? new ModelSpec(target, network, ModelSpec.HintNameFor(target)) : null;
        return ParseResult.From(model, sink.Complete(countAt), claim, host, form.FromAttribute);
    }
}
