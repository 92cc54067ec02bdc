using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Runtime.Intrinsics;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Generated kernels have a Vector512, a Vector256 and a Vector128 variant, chosen by <c>IsHardwareAccelerated</c>
/// (JIT constants). One process only ever runs one of them, so this runs the reference matrix again in child test
/// processes with the wider ISAs switched off (in .NET 10 the knobs are <c>DOTNET_EnableAVX512</c>,
/// <c>DOTNET_EnableAVX2</c>; <c>DOTNET_EnableAVX512F</c> is no longer read), and checks in the parent that each child
/// saw the width it was started for: a knob the runtime ignores would otherwise rerun the widest path and pass.
/// There is no child with hardware intrinsics off: generated code has no path of its own for that case (it runs the
/// Vector128 kernels, which the runtime then emulates in software), so such a child would check the runtime's
/// emulation at the cost of seven minutes, not any code of ours.
/// </summary>
public class VectorWidthTests
{
    /// <summary>Set in a width child: the file it writes what it runs to, for the parent to check.</summary>
    private const string ReportVariable = "SNG_WIDTH_REPORT";
    private readonly ITestOutputHelper _output;

    public VectorWidthTests(ITestOutputHelper output) => _output = output;

    /// <summary>Widest accelerated vector in this process, in bits (0: no hardware intrinsics).</summary>
    private static int WidestBits => Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;

    /// <summary>
    /// The generated <c>KernelPaths</c> report names real kernel methods and the variant this process's ISA selects.
    /// Every width child runs this too, and writes the widest vector it sees and the variants it checked to the file
    /// <see cref="ReportVariable"/> names, which <see cref="ReferenceMatrixPassesAtNarrowerWidths"/> then reads.
    /// </summary>
    [Fact]
    public void KernelPathsNameTheVariantsThisProcessRuns()
    {
        var paths = Models.Paper1xG3.KernelPaths;
        Assert.Equal(paths.Count, paths.Select(p => p.Kernel).Distinct().Count());
        var kernels = typeof(Models.Paper1xG3).GetMethods(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
            .Select(m => m.Name).ToHashSet();
        string expectedSuffix = WidestBits switch { 512 => "_V512", 256 => "_V256", _ => "_V128" };
        var checkedVariants = new List<string>();
        foreach (var (kernel, path) in paths)
        {
            _output.WriteLine($"{kernel}: {path}");
            Assert.Contains(kernel, kernels);
            Assert.DoesNotContain("AdvSimd", path); // x64: the ARM64 variants are dead code here
            if (kernel.StartsWith("Pointwise_", StringComparison.Ordinal))
            {
                Assert.Contains(path, kernels); // the variant named is a method of the class
                int pixels = int.Parse(kernel.Split('_').First(part => part.EndsWith("px", StringComparison.Ordinal))[..^2]);
                if (pixels >= 16)
                {
                    Assert.EndsWith(expectedSuffix, path);
                    checkedVariants.Add(path);
                }
            }
        }
        bool anyWideWindow = paths.Any(p => !p.Kernel.StartsWith("Pointwise_", StringComparison.Ordinal) && p.Path == "Vector512");
        Assert.Equal(WidestBits == 512, anyWideWindow);
        // The stem runs channel-blocked at the widest accelerated width of 256 bits or more, not on Vector128.
        var stem = Assert.Single(paths, p => p.Kernel.StartsWith("Conv3x3_", StringComparison.Ordinal));
        Assert.Equal(WidestBits switch { 512 => "Vector512", 256 => "Vector256", _ => "Vector128" }, stem.Path);

        if (Environment.GetEnvironmentVariable(ReportVariable) is { } report)
            File.WriteAllLines(report, checkedVariants.Prepend(WidestBits.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// One narrower width, run in a child process with the wider ISAs switched off. A width at or above this machine's
    /// widest is reported as skipped, not passed: it is what every other test here already runs (or cannot be forced).
    /// </summary>
    public sealed class NarrowerWidthAttribute : DataAttribute
    {
        private readonly string _knob;
        private readonly int _bits;

        public NarrowerWidthAttribute(string knob, int bits)
        {
            _knob = knob;
            _bits = bits;
            if (bits == WidestBits) Skip = $"this machine's widest vector is {bits} bits: that path is what every other test runs";
            else if (bits > WidestBits) Skip = $"this machine's widest vector is {WidestBits} bits: it cannot run the {bits}-bit path";
        }

        public override IEnumerable<object[]> GetData(MethodInfo testMethod) => new[] { new object[] { _knob, _bits } };
    }

    [Theory]
    [Trait("Category", "Slow")] // a child `dotnet test` per width, each running the reference matrix
    [NarrowerWidth("DOTNET_EnableAVX512", 256)]
    [NarrowerWidth("DOTNET_EnableAVX2", 128)]
    public void ReferenceMatrixPassesAtNarrowerWidths(string knob, int bits)
    {
        // Compiled here first (shared with ReferenceMatrixTests in this process), so every child loads the images
        // instead of compiling the matrix itself: the IL does not depend on the width.
        ReferenceMatrixTests.CompileEveryCase();
        string work = Path.Combine(Path.GetTempPath(), "sng-width-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            string report = Path.Combine(work, "width.txt");
            // The memory-plan checks do not depend on the vector width, so the children run only what does.
            var (exitCode, stdout, stderr) = ProcessRunner.Run("dotnet",
                new[] { "test", typeof(VectorWidthTests).Assembly.Location, "--filter",
                    "FullyQualifiedName~ReferenceMatrixTests.LogitsMatchTheScalarReference|FullyQualifiedName~VectorWidthTests.KernelPathsNameTheVariantsThisProcessRuns|FullyQualifiedName~GeneratedVsPyTorchTests|FullyQualifiedName~Int8KernelTests" },
                work,
                new Dictionary<string, string?> { [knob] = "0", [ReportVariable] = report, [CompiledImages.DirectoryVariable] = CompiledImages.Directory },
                TimeSpan.FromMinutes(10));
            string text = stdout + stderr;
            _output.WriteLine($"{knob}=0: " + string.Join(" | ", text.Split('\n').Where(l => l.Contains("Passed!") || l.Contains("Failed") || l.Contains("Total tests"))));
            Assert.True(exitCode == 0, $"{knob}=0 child run failed:\n{text}");

            // Every test the filter names ran and passed: a filter that matched nothing, or a skip, is not a pass.
            var summary = Regex.Match(text, @"Failed:\s*(\d+),\s*Passed:\s*(\d+),\s*Skipped:\s*(\d+)");
            Assert.True(summary.Success, $"{knob}=0 child printed no test summary:\n{text}");
            Assert.Equal("0", summary.Groups[1].Value);
            Assert.Equal("0", summary.Groups[3].Value);
            Assert.True(int.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture) > ReferenceCases.All.Count(), $"{knob}=0 child passed only {summary.Groups[2].Value} tests");

            // The child saw the width asked for, and its pointwise kernels took that width's variant.
            Assert.True(File.Exists(report), $"{knob}=0 child wrote no width report (did KernelPathsNameTheVariantsThisProcessRuns run?)");
            var lines = File.ReadAllLines(report);
            _output.WriteLine($"{knob}=0 child: widest {lines[0]} bits, {lines.Length - 1} pointwise variants checked");
            Assert.Equal(bits, int.Parse(lines[0], CultureInfo.InvariantCulture));
            Assert.NotEmpty(lines.Skip(1));
            Assert.All(lines.Skip(1), variant => Assert.EndsWith($"_V{bits}", variant));
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
