using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ShuffleNetGen.Generator;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>Runs the generator in-process on source text, the way the compiler runs it on a user's project.</summary>
public static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p) is var f && (f.StartsWith("System.", StringComparison.Ordinal) || f is "mscorlib.dll" or "netstandard.dll"));
        return paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(TensorSet).Assembly.Location))
            .ToImmutableArray();
    });

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Preview);

    public static CSharpCompilation CreateCompilation(params string[] sources) =>
        CSharpCompilation.Create(
            "Models" + Guid.NewGuid().ToString("N"),
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Model{i}.cs")),
            s_references.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>
    /// The module attribute performance-minded consumers set: locals and <c>stackalloc</c> memory are then whatever
    /// was on the stack, so generated kernels must not rely on them being zeroed. It requires unsafe code allowed.
    /// </summary>
    public const string SkipLocalsInitSource = "[module: System.Runtime.CompilerServices.SkipLocalsInit]";

    private static CSharpCompilation WithSkipLocalsInit(CSharpCompilation compilation) =>
        compilation
            .AddSyntaxTrees(CSharpSyntaxTree.ParseText(SkipLocalsInitSource, ParseOptions, path: "SkipLocalsInit.cs"))
            .WithOptions(compilation.Options.WithAllowUnsafe(true));

    /// <summary>
    /// A driver with step tracking on, optionally handed additional files (JSON declarations) and MSBuild properties
    /// (as <c>&lt;CompilerVisibleProperty&gt;</c> passes them: <c>build_property.NAME</c>).
    /// </summary>
    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText>? additionalTexts = null, IReadOnlyDictionary<string, string>? buildProperties = null) =>
        CSharpGeneratorDriver.Create(
            new[] { new ShuffleNetGenerator().AsSourceGenerator() },
            additionalTexts,
            ParseOptions,
            buildProperties is null ? null : new BuildPropertiesProvider(buildProperties),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator; returns the compilation with generated sources and what the generator reported.</summary>
    public static (Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriverRunResult Run) Run(params string[] sources) =>
        Run(additionalTexts: null, sources);

    /// <summary>As <see cref="Run(string[])"/>, with additional files.</summary>
    public static (Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriverRunResult Run) Run(IEnumerable<AdditionalText>? additionalTexts, params string[] sources) =>
        Run(CreateDriver(additionalTexts), sources);

    /// <summary>As <see cref="Run(string[])"/>, with MSBuild properties visible to the generator.</summary>
    public static (Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriverRunResult Run) Run(IReadOnlyDictionary<string, string> buildProperties, params string[] sources) =>
        Run(CreateDriver(buildProperties: buildProperties), sources);

    private static (Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriverRunResult Run) Run(GeneratorDriver driver, string[] sources)
    {
        var compilation = CreateCompilation(sources);
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return (output, diagnostics, driver.GetRunResult());
    }

    /// <summary>How the hint name (and generated file path) of a stand-in ends.</summary>
    public const string StandInSuffix = ".ShuffleNet.Failed.g.cs";

    /// <summary>The stand-in written for a declaration that generates no model (its public surface, throwing).</summary>
    public static bool IsStandIn(GeneratedSourceResult source) => source.HintName.EndsWith(StandInSuffix, StringComparison.Ordinal);

    /// <summary>Generated models, stand-ins left out.</summary>
    public static IEnumerable<GeneratedSourceResult> Models(GeneratorDriverRunResult run) => run.Results.Single().GeneratedSources.Where(s => !IsStandIn(s));

    /// <summary>The text a diagnostic underlines in <paramref name="text"/>.</summary>
    public static string Located(Diagnostic d, string text) => text.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length);

    /// <summary>Generates, compiles and loads; fails with every error if the generated code does not compile.</summary>
    public static Assembly CompileAndLoad(params string[] sources) => CompileAndLoad(skipLocalsInit: false, sources);

    /// <summary>As <see cref="CompileAndLoad(string[])"/>; with <paramref name="skipLocalsInit"/>, the consumer's module has <see cref="SkipLocalsInitSource"/>.</summary>
    public static Assembly CompileAndLoad(bool skipLocalsInit, params string[] sources) => EmitAndLoad(Generate(skipLocalsInit, sources));

    /// <summary>Runs the generator; fails with the generator's errors if it reported any.</summary>
    public static Compilation Generate(bool skipLocalsInit, params string[] sources)
    {
        var compilation = CreateCompilation(sources);
        if (skipLocalsInit) compilation = WithSkipLocalsInit(compilation);
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var run = driver.GetRunResult();
        var generatorErrors = generatorDiagnostics.Concat(run.Results.SelectMany(r => r.Diagnostics)).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (generatorErrors.Count > 0) throw new InvalidOperationException("Generator reported:\n" + string.Join("\n", generatorErrors));
        return output;
    }

    /// <summary>Writes the PE image, positioned at its start; fails with the first errors if the code does not compile.</summary>
    public static MemoryStream Emit(Compilation compilation)
    {
        var stream = new MemoryStream();
        var emit = compilation.Emit(stream);
        if (!emit.Success)
        {
            var errors = emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(20);
            throw new InvalidOperationException("Generated code does not compile:\n" + string.Join("\n", errors));
        }
        stream.Position = 0;
        return stream;
    }

    /// <summary>As <see cref="Emit"/>, then loads the image.</summary>
    public static Assembly EmitAndLoad(Compilation compilation)
    {
        using var stream = Emit(compilation);
        return LoadCollectible(stream);
    }

    /// <summary>
    /// Loads a compiled image into a context of its own, collectible, so a test run that compiles dozens of models
    /// does not keep them all alive.
    /// </summary>
    public static Assembly LoadCollectible(Stream image) => new AssemblyLoadContext("models", isCollectible: true).LoadFromStream(image);
}

/// <summary>A generated model loaded by reflection from an in-memory compilation.</summary>
public sealed class LoadedModel
{
    private readonly Type _type;

    public LoadedModel(Type type) => _type = type;

    public ModelDescription Description => (ModelDescription)_type.GetProperty("Description")!.GetValue(null)!;

    public IReadOnlyList<TensorShape> WeightLayout => (IReadOnlyList<TensorShape>)_type.GetProperty("WeightLayout")!.GetValue(null)!;

    public T Constant<T>(string name) => (T)_type.GetField(name)!.GetValue(null)!;

    public IShuffleNetModel FromTensors(TensorSet tensors)
    {
        try
        {
            return (IShuffleNetModel)_type.GetMethod("FromTensors")!.Invoke(null, new object[] { tensors })!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    public static LoadedModel Compile(string source, string className = "Model", bool skipLocalsInit = false) =>
        FromAssembly(GeneratorHarness.CompileAndLoad(skipLocalsInit, source), className);

    /// <summary>As <see cref="Compile"/>, through <see cref="CompiledImages"/> (for sources a width child runs again).</summary>
    public static LoadedModel CompileShared(string source, bool skipLocalsInit, string className = "Model") =>
        FromAssembly(CompiledImages.CompileAndLoad(skipLocalsInit, source), className);

    private static LoadedModel FromAssembly(Assembly assembly, string className) =>
        new(assembly.GetTypes().Single(t => t.Name == className));
}
