using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// MSBuild properties as the compiler hands them to a generator: global options named <c>build_property.NAME</c>
/// (what <c>&lt;CompilerVisibleProperty Include="NAME" /&gt;</c> writes into the generated .editorconfig).
/// </summary>
public sealed class BuildPropertiesProvider : AnalyzerConfigOptionsProvider
{
    public BuildPropertiesProvider(IReadOnlyDictionary<string, string> properties) =>
        GlobalOptions = new Options(properties.ToDictionary(p => "build_property." + p.Key, p => p.Value));

    public override AnalyzerConfigOptions GlobalOptions { get; }

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new(new Dictionary<string, string>());

        private readonly Dictionary<string, string> _values;

        public Options(Dictionary<string, string> values) => _values = values;

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => _values.TryGetValue(key, out value);
    }
}
