using System.Reflection;
using System.Runtime.Intrinsics;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Generated kernels have a Vector512, a Vector256 and a Vector128 variant, chosen by <c>IsHardwareAccelerated</c>
/// (JIT constants). One process only ever runs one of them, so this runs the reference matrix again in child test
/// processes with the wider ISAs switched off, and checks in each child that the switch took (in .NET 10 the knobs
/// are <c>DOTNET_EnableAVX512</c>, <c>DOTNET_EnableAVX2</c>; <c>DOTNET_EnableAVX512F</c> is no longer read).
/// There is no child with hardware intrinsics off: generated code has no path of its own for that case (it runs the
/// Vector128 kernels, which the runtime then emulates in software), so such a child would check the runtime's
/// emulation at the cost of seven minutes, not any code of ours.
/// </summary>
public class VectorWidthTests
{
    private const string ExpectVariable = "SNG_EXPECT_VECTOR_BITS";
    private readonly ITestOutputHelper _output;

    public VectorWidthTests(ITestOutputHelper output) => _output = output;

    /// <summary>Widest accelerated vector in this process, in bits (0: no hardware intrinsics).</summary>
    private static int WidestBits => Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;

    [Fact]
    public void ChildSeesTheExpectedWidth()
    {
        string? expected = Environment.GetEnvironmentVariable(ExpectVariable);
        _output.WriteLine($"widest accelerated vector: {WidestBits} bits; expected: {expected ?? "(not a child)"}");
        if (expected is not null) Assert.Equal(int.Parse(expected), WidestBits);
    }

    /// <summary>
    /// The generated <c>KernelPaths</c> report names real kernel methods and the variant this process's ISA selects
    /// (run again in every child below, so each width checks its own report).
    /// </summary>
    [Fact]
    public void KernelPathsNameTheVariantsThisProcessRuns()
    {
        var paths = Models.Paper1xG3.KernelPaths;
        Assert.Equal(paths.Count, paths.Select(p => p.Kernel).Distinct().Count());
        var kernels = typeof(Models.Paper1xG3).GetMethods(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
            .Select(m => m.Name).ToHashSet();
        string expectedSuffix = WidestBits switch { 512 => "_V512", 256 => "_V256", _ => "_V128" };
        foreach (var (kernel, path) in paths)
        {
            _output.WriteLine($"{kernel}: {path}");
            Assert.Contains(kernel, kernels);
            Assert.DoesNotContain("AdvSimd", path); // x64: the ARM64 variants are dead code here
            if (kernel.StartsWith("Pointwise_", StringComparison.Ordinal))
            {
                Assert.Contains(path, kernels); // the variant named is a method of the class
                int pixels = int.Parse(kernel.Split('_').First(part => part.EndsWith("px", StringComparison.Ordinal))[..^2]);
                if (pixels >= 16) Assert.EndsWith(expectedSuffix, path);
            }
        }
        bool anyWideWindow = paths.Any(p => !p.Kernel.StartsWith("Pointwise_", StringComparison.Ordinal) && p.Path == "Vector512");
        Assert.Equal(WidestBits == 512, anyWideWindow);
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
            if (bits >= WidestBits) Skip = $"this machine's widest vector is {WidestBits} bits: the {bits}-bit path is what every other test runs";
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
            // The memory-plan checks do not depend on the vector width, so the children run only what does.
            var (exitCode, stdout, stderr) = ProcessRunner.Run("dotnet",
                new[] { "test", typeof(VectorWidthTests).Assembly.Location, "--filter",
                    "FullyQualifiedName~ReferenceMatrixTests.LogitsMatchTheScalarReference|FullyQualifiedName~VectorWidthTests.ChildSeesTheExpectedWidth|FullyQualifiedName~VectorWidthTests.KernelPathsNameTheVariantsThisProcessRuns|FullyQualifiedName~GeneratedVsPyTorchTests" },
                work,
                new Dictionary<string, string?> { [knob] = "0", [ExpectVariable] = bits.ToString(), [CompiledImages.DirectoryVariable] = CompiledImages.Directory },
                TimeSpan.FromMinutes(10));
            string text = stdout + stderr;
            _output.WriteLine($"{knob}=0: " + string.Join(" | ", text.Split('\n').Where(l => l.Contains("Passed!") || l.Contains("Failed") || l.Contains("Total tests"))));
            Assert.True(exitCode == 0, $"{knob}=0 child run failed:\n{text}");
            Assert.Contains("Passed!", text);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
