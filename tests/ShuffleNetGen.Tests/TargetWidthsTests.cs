using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Where the build names its target (RuntimeIdentifier; for an x64 NativeAOT publish, IlcInstructionSet), the generated
/// code holds only the kernel variants that target can run, and its <c>KernelPaths</c> report and call sites name only
/// those. Without the properties the output is what it always was (the snapshots pin it).
/// </summary>
public class TargetWidthsTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public TargetWidthsTests(Xunit.Abstractions.ITestOutputHelper output) => _output = output;

    private const string PaperArguments = "Groups = 3, Scale = 1.0, Stages = new[] { 4, 8, 4 }, InputChannels = 3, InputHeight = 224, InputWidth = 224, Classes = 1000";
    private const string SmallArguments = "Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64, Classes = 10";

    private static readonly Dictionary<string, string> LinuxArm64 = new() { ["RuntimeIdentifier"] = "linux-arm64" };

    private static Dictionary<string, string> X64AotPublish(string instructionSet) => new()
    {
        ["RuntimeIdentifier"] = "linux-x64",
        ["PublishAot"] = "true",
        ["_IsPublishing"] = "true",
        ["IlcInstructionSet"] = instructionSet,
    };

    private static string Source(string arguments, string className = "Model", string ns = "Targets") => $$"""
        using ShuffleNetGen;
        namespace {{ns}};
        [ShuffleNet({{arguments}})]
        public partial class {{className}};
        """;

    /// <summary>Generates with <paramref name="properties"/> (null: no options provider at all); fails on any diagnostic.</summary>
    private static (string Text, Compilation Output) Generate(string arguments, IReadOnlyDictionary<string, string>? properties, string className = "Model", string ns = "Targets")
    {
        var (output, diagnostics, run) = properties is null
            ? GeneratorHarness.Run(Source(arguments, className, ns))
            : GeneratorHarness.Run(properties, Source(arguments, className, ns));
        Assert.Empty(diagnostics);
        Assert.Empty(run.Diagnostics);
        return (Assert.Single(run.Results.Single().GeneratedSources).SourceText.ToString(), output);
    }

    /// <summary>Identifiers of x64-only code: the wide vector types, AVX/FMA intrinsics and the wide kernels' names.</summary>
    private static readonly Regex X64Only = new(@"Vector256|Vector512|\bAvx\w*|\bFma\b|_V256|_V512|LoadEven512|LoadOdd512", RegexOptions.CultureInvariant);

    [Fact]
    public void Arm64GetsOnlyVector128AndAdvSimdAndCompiles()
    {
        // The declaration of the Paper1xG3_224 snapshot, so the sizes compare with it.
        var (text, output) = Generate(PaperArguments, LinuxArm64, "Paper1xG3_224", "Snapshots");
        Assert.Empty(X64Only.Matches(text).Select(m => m.Value).Distinct());
        Assert.Contains("if (AdvSimd.Arm64.IsSupported)", text, StringComparison.Ordinal);
        Assert.Contains("Kernel variants for the build's target only: Vector128, AdvSimd.", text, StringComparison.Ordinal);
        GeneratorHarness.Emit(output).Dispose();

        // Smaller than the all-widths file by the x64 variants it leaves out; the check above says which code went. The
        // 1x g=3 224 model: 375,277 characters with every width, 234,876 for linux-arm64 (the shared pointwise tiles
        // made the wide variants small, so what is left is mostly the window kernels both builds need).
        var (all, _) = Generate(PaperArguments, properties: null, "Paper1xG3_224", "Snapshots");
        _output.WriteLine($"1x g=3 224: {all.Length:N0} characters with every width, {text.Length:N0} for linux-arm64");
        Assert.True(text.Length < all.Length * 0.7, $"arm64 {text.Length:N0} characters against {all.Length:N0} for every width");
    }

    [Fact]
    public void X64AotPublishForAvx2GetsVector256ButNotVector512()
    {
        var (text, output) = Generate(PaperArguments, X64AotPublish("x86-64-v3"));
        Assert.Contains("Vector256", text, StringComparison.Ordinal);
        Assert.Contains("_V256", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Vector512", text, StringComparison.Ordinal);
        Assert.DoesNotContain("AdvSimd.Arm64", text, StringComparison.Ordinal);
        GeneratorHarness.Emit(output).Dispose();
    }

    [Fact]
    public void X64AotPublishAtTheBaselineGetsVector128Only()
    {
        var (text, _) = Generate(SmallArguments, X64AotPublish(""));
        Assert.Empty(X64Only.Matches(text).Select(m => m.Value).Distinct());
        Assert.DoesNotContain("AdvSimd.Arm64", text, StringComparison.Ordinal);
        Assert.Contains("Kernel variants for the build's target only: Vector128.", text, StringComparison.Ordinal);
    }

    /// <summary>
    /// browser-wasm (Blazor WebAssembly sets the RuntimeIdentifier for build and publish alike): .NET maps Vector128 to
    /// WebAssembly SIMD and accelerates no wider vector, so only the portable Vector128 code is emitted, with neither
    /// the x64 widths nor the ARM64 branches: the same file as an x64 NativeAOT publish at the baseline, whose logits
    /// and kernel report the other tests check. (BrowserSampleTests runs it in Chromium.)
    /// </summary>
    [Fact]
    public void BrowserWasmGetsThePortableVector128CodeOnly()
    {
        var (text, _) = Generate(SmallArguments, new Dictionary<string, string> { ["RuntimeIdentifier"] = "browser-wasm" });
        Assert.Empty(X64Only.Matches(text).Select(m => m.Value).Distinct());
        Assert.DoesNotMatch(@"\bAdvSimd\.", text); // the file's using alias stays; no branch uses it
        Assert.Contains("Kernel variants for the build's target only: Vector128.", text, StringComparison.Ordinal);
        Assert.Equal(Generate(SmallArguments, X64AotPublish("")).Text, text);
    }

    /// <summary>
    /// <c>dotnet build</c> (and <c>dotnet run</c>) of a project with PublishAot runs under the JIT, which picks the widest
    /// vectors of the machine it runs on: every x64 width stays. Only the ARM64 branches go, which x64 never takes.
    /// </summary>
    [Fact]
    public void X64BuildOfAnAotProjectKeepsEveryWidth()
    {
        var properties = X64AotPublish("x86-64-v2");
        properties.Remove("_IsPublishing");
        var (text, _) = Generate(SmallArguments, properties);
        Assert.Contains("_V512", text, StringComparison.Ordinal);
        Assert.Contains("_V256", text, StringComparison.Ordinal);
        Assert.DoesNotContain("AdvSimd.Arm64", text, StringComparison.Ordinal);
    }

    /// <summary>No properties, empty ones, or ones that name no known architecture: the file is the default one.</summary>
    [Theory]
    [InlineData("", "", "", "")]
    [InlineData("linux-riscv64", "", "", "")]
    [InlineData("", "true", "true", "x86-64-v3")]
    public void WithoutANamedTargetTheOutputIsUnchanged(string rid, string publishAot, string publishing, string instructionSet)
    {
        var properties = new Dictionary<string, string>
        {
            ["RuntimeIdentifier"] = rid,
            ["PublishAot"] = publishAot,
            ["_IsPublishing"] = publishing,
            ["IlcInstructionSet"] = instructionSet,
        };
        Assert.Equal(Generate(SmallArguments, properties: null).Text, Generate(SmallArguments, properties).Text);
    }

    /// <summary>An instruction set this generator cannot classify keeps every x64 width, as the JIT build does.</summary>
    [Theory]
    [InlineData("native")]
    [InlineData("x86-64-v3,-avx2")]
    [InlineData("x86-64-v2,fma")]
    public void AnUnclassifiedInstructionSetKeepsEveryX64Width(string instructionSet)
    {
        var jit = new Dictionary<string, string> { ["RuntimeIdentifier"] = "linux-x64" };
        Assert.Equal(Generate(SmallArguments, jit).Text, Generate(SmallArguments, X64AotPublish(instructionSet)).Text);
    }

    [Theory]
    // target                                        AOT     publishing  IlcInstructionSet       V256   V512   AdvSimd
    [InlineData(null, null, null, null, true, true, true)]
    [InlineData("linux-arm64", null, null, null, false, false, true)]
    [InlineData("osx-arm64", "true", "true", "apple-m1", false, false, true)]
    [InlineData("linux-musl-arm64", null, null, null, false, false, true)]
    [InlineData("win-x64", null, null, null, true, true, false)]
    [InlineData("linux-x64", "true", null, "", true, true, false)]
    [InlineData("linux-x64", "false", "true", "", true, true, false)]
    [InlineData("linux-x64", "true", "true", "", false, false, false)]
    [InlineData("linux-x64", "True", "true", "x86-64-v2", false, false, false)]
    [InlineData("linux-x64", "true", "true", "sse4.2,popcnt,lzcnt", false, false, false)]
    [InlineData("linux-x64", "true", "true", "x86-64-v3", true, false, false)]
    [InlineData("linux-x64", "true", "true", "x86-x64-v3", true, false, false)]
    [InlineData("linux-x64", "true", "true", "x86-64-v2,+avx2", true, false, false)]
    [InlineData("linux-x64", "true", "true", "x86-64-v4", true, true, false)]
    [InlineData("linux-x64", "true", "true", "x86-64-v3,avx512f", true, true, false)]
    [InlineData("linux-x64", "true", "true", "native", true, true, false)]
    [InlineData("linux-x64", "true", "true", "avx", true, true, false)] // AVX without AVX2: not classified, all kept
    [InlineData("linux-x64", "true", "true", "x86-64-v4,-avx512f", true, true, false)]
    [InlineData("linux-x86", "true", "true", "", true, true, true)]
    [InlineData("linux-riscv64", null, null, null, true, true, true)]
    [InlineData("browser-wasm", null, null, null, false, false, false)]
    [InlineData("browser-wasm", "false", "true", null, false, false, false)]
    [InlineData("wasi-wasm", null, null, null, false, false, false)]
    public void PropertiesClassifyTheTarget(string? rid, string? publishAot, string? publishing, string? instructionSet, bool vector256, bool vector512, bool advSimd)
    {
        var target = TargetWidths.FromBuild(rid, publishAot, publishing, instructionSet);
        Assert.Equal((vector256, vector512, advSimd), (target.Vector256, target.Vector512, target.AdvSimd));
    }

    /// <summary>The arm64 code of one small model, pinned like the others (Snapshots/Small025xG3_64_Arm64.verified.cs).</summary>
    [Fact]
    public void Arm64SourceIsPinned()
    {
        string source = """
            using ShuffleNetGen;
            namespace Snapshots;
            [ShuffleNet(Groups = 3, Scale = 0.25, InputHeight = 64, InputWidth = 64, Classes = 10)]
            public partial class Small025xG3_64;
            """;
        var (_, diagnostics, run) = GeneratorHarness.Run(LinuxArm64, source);
        Assert.Empty(diagnostics);
        Snapshot.Verify("Small025xG3_64_Arm64", Assert.Single(run.Results.Single().GeneratedSources).SourceText.ToString());
    }

    /// <summary>
    /// The reduced code runs here too (x64 takes its Vector128 kernels): the report names only emitted kernels, and the
    /// logits match the all-widths build's.
    /// </summary>
    [Theory]
    [InlineData("linux-arm64")]
    [InlineData("x86-64-v3")]
    public void ReducedCodeReportsItsKernelsAndComputesTheSameLogits(string target)
    {
        var properties = target == "linux-arm64" ? LinuxArm64 : X64AotPublish(target);
        var reduced = LoadedModelWith(properties);
        var full = LoadedModelWith(null);

        var methods = reduced.Type.GetMethods(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static).Select(m => m.Name).ToHashSet();
        var paths = (IReadOnlyList<KernelPath>)reduced.Type.GetProperty("KernelPaths")!.GetValue(null)!;
        Assert.NotEmpty(paths);
        foreach (var (kernel, path) in paths)
        {
            Assert.Contains(kernel, methods);
            if (kernel.StartsWith("Pointwise_", StringComparison.Ordinal)) Assert.Contains(path.Split(',')[0], methods);
            if (target == "linux-arm64") Assert.DoesNotMatch("Vector256|Vector512|_V256|_V512", path);
            else Assert.DoesNotMatch("Vector512|_V512", path);
        }

        var tensors = Weights.RandomWeights.Create(full.Model.WeightLayout, seed: 7);
        var input = new float[full.Model.Constant<int>("InputLength")];
        var random = new Random(11);
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
        float[] Logits(LoadedModel model)
        {
            var logits = new float[model.Constant<int>("Classes")];
            model.FromTensors(tensors).Forward(input, logits);
            return logits;
        }
        ConsumerProgram.AssertClose(Logits(full.Model), Logits(reduced.Model), $"{target} against every width");
    }

    private static (LoadedModel Model, Type Type) LoadedModelWith(IReadOnlyDictionary<string, string>? properties)
    {
        var (_, output) = Generate(SmallArguments, properties);
        var type = GeneratorHarness.EmitAndLoad(output).GetTypes().Single(t => t.Name == "Model");
        return (new LoadedModel(type), type);
    }

    /// <summary>
    /// The target is read from global options, which change per build configuration, not per edit: an edit keeps every
    /// model cached, and a new target re-emits them.
    /// </summary>
    [Fact]
    public void TheTargetIsCachedAcrossEditsAndANewTargetReEmits()
    {
        var compilation = GeneratorHarness.CreateCompilation(Source(SmallArguments));
        var driver = GeneratorHarness.CreateDriver(buildProperties: LinuxArm64).RunGenerators(compilation);
        string arm64 = Single(driver);

        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Other { }", GeneratorHarness.ParseOptions, path: "Other.cs")));
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;
        Assert.All(steps[ShuffleNetGenerator.TrackingNames.TargetWidths].SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
        Assert.All(driver.GetRunResult().Results.Single().TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));

        driver = driver.WithUpdatedAnalyzerConfigOptions(new BuildPropertiesProvider(X64AotPublish("x86-64-v3"))).RunGenerators(compilation);
        string x64 = Single(driver);
        Assert.NotEqual(arm64, x64);
        Assert.Contains("_V256", x64, StringComparison.Ordinal);
    }

    private static string Single(GeneratorDriver driver) =>
        Assert.Single(driver.GetRunResult().Results.Single().GeneratedSources).SourceText.ToString();
}
