using System.Globalization;
using System.Runtime.Intrinsics;
using System.Text.RegularExpressions;
using ShuffleNetGen.Kernels;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The int8 instruction family (<see cref="Int8Family"/>) changes speed, never logits: each family, forced in a child
/// process through <c>SHUFFLENETGEN_INT8_FAMILY</c> or through the runtime's own ISA knobs, gives the int8 logits of a v1
/// and a v2 model bit for bit as this process does, and <c>KernelPaths</c> names the family that ran. A family this
/// CPU lacks falls back to the rule's choice, which the child's report must say; the test output lists those.
/// </summary>
public class Int8FamilyTests
{
    /// <summary>Set in a child: the file it writes its family, its int8 <c>KernelPaths</c> and its logits to.</summary>
    private const string ReportVariable = "SNG_INT8_FAMILY_REPORT";

    private readonly ITestOutputHelper _output;

    public Int8FamilyTests(ITestOutputHelper output) => _output = output;

    /// <summary>The int8 logits of a v1 and a v2 model (random weights, calibrated as <c>CreateRandom</c> does), each on two images, as bit patterns.</summary>
    private static List<string> LogitBits()
    {
        var lines = new List<string>();
        var models = new (string, IShuffleNetModel, int, int)[]
        {
            ("v1 G3Small64Int8", G3Small64Int8.CreateRandom(5), G3Small64Int8.InputLength, G3Small64Int8.Classes),
            ("v2 V2Custom57x41Int8", V2Custom57x41Int8.CreateRandom(5), V2Custom57x41Int8.InputLength, V2Custom57x41Int8.Classes),
        };
        foreach (var (name, model, inputLength, classes) in models)
        {
            var logits = new float[classes];
            var random = new Random(9);
            for (int image = 0; image < 2; image++)
            {
                var input = new float[inputLength];
                for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 4 - 2);
                model.Forward(input, logits);
                lines.Add(name + ": " + string.Join(" ", logits.Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8", CultureInfo.InvariantCulture))));
            }
        }
        return lines;
    }

    /// <summary>The int8 entries of both models' <c>KernelPaths</c>.</summary>
    private static List<string> Int8Paths() =>
        G3Small64Int8.KernelPaths.Concat(V2Custom57x41Int8.KernelPaths)
            .Where(p => p.Kernel.StartsWith("Int8Pointwise_", StringComparison.Ordinal) || p.Kernel.StartsWith("Int8Linear_", StringComparison.Ordinal))
            .Select(p => $"{p.Kernel}: {p.Path}").ToList();

    /// <summary>
    /// Every int8 entry of <c>KernelPaths</c> names the family that runs here and the variant it picks; a child writes
    /// that with its logits to the file <see cref="ReportVariable"/> names.
    /// </summary>
    [Fact]
    public void KernelPathsNameTheFamilyThatRuns()
    {
        var paths = Int8Paths();
        Assert.NotEmpty(paths);
        string variant = Int8Family.Zmm ? "_V512" : Int8Family.YmmVnni ? "_V256Vnni" : Int8Family.Ymm ? "_V256" : "_V128";
        foreach (string path in paths)
        {
            Assert.Contains("int8 family " + Int8Family.Name + ":", path);
            // Pointwise kernels on planes of 32 pixels or more, and the classifier, have a variant of every width the family can pick.
            var pixels = Regex.Match(path, @"^Int8Pointwise_\w*?_(\d+)px");
            if (pixels.Success && int.Parse(pixels.Groups[1].Value, CultureInfo.InvariantCulture) >= 32 || path.StartsWith("Int8Linear_", StringComparison.Ordinal))
                Assert.Contains(variant + ",", path);
        }
        _output.WriteLine(Int8Family.Description);
        if (Environment.GetEnvironmentVariable(ReportVariable) is { } report)
            File.WriteAllLines(report, new[] { Int8Family.Name, Int8Family.Description }.Concat(paths.Take(3)).Append("--").Concat(LogitBits()));
    }

    /// <summary>A family this process cannot run, or a name that is none, falls back to the rule's choice and says so.</summary>
    [Fact]
    public void IsSupportedAgreesWithTheRuleAndTheRuleWithTheCpu()
    {
        Assert.True(Int8Family.IsSupported(Int8Family.Default));
        Assert.True(Int8Family.IsSupported(Int8Family.Portable));
        Assert.False(Int8Family.IsSupported("vnni512"));
        Assert.Equal(Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported, Int8Family.IsSupported(Int8Family.Madd512));
        if (Int8Family.Requested is null) Assert.Equal(Int8Family.Default, Int8Family.Name);
        // The rule: Intel with AVX-VNNI takes VPDPBUSD ymm; any other core the widest family it runs.
        string expected = Int8Family.Vendor == "GenuineIntel" && Int8Family.IsSupported(Int8Family.Vnni256)
            ? Int8Family.Vnni256
            : Int8Family.Names.First(Int8Family.IsSupported);
        Assert.Equal(expected, Int8Family.Default);
        _output.WriteLine($"vendor {Int8Family.Vendor}; supported here: {string.Join(", ", Int8Family.Names.Where(Int8Family.IsSupported))}; {Int8Family.Description}");
    }

    public static IEnumerable<object[]> Children() => new[]
    {
        // Forced through our variable: every family, whether or not this CPU has it, and a name that is none.
        new object[] { $"{Int8Family.EnvironmentVariable}={Int8Family.Madd512}", Int8Family.Madd512 },
        new object[] { $"{Int8Family.EnvironmentVariable}={Int8Family.Vnni256}", Int8Family.Vnni256 },
        new object[] { $"{Int8Family.EnvironmentVariable}={Int8Family.Madd256}", Int8Family.Madd256 },
        new object[] { $"{Int8Family.EnvironmentVariable}={Int8Family.Vnni128}", Int8Family.Vnni128 },
        new object[] { $"{Int8Family.EnvironmentVariable}={Int8Family.Madd128}", Int8Family.Madd128 },
        new object[] { $"{Int8Family.EnvironmentVariable}={Int8Family.Portable}", Int8Family.Portable },
        new object[] { $"{Int8Family.EnvironmentVariable}=vnni512", "" },
        // Through the runtime's own knobs (.NET 10 names them DOTNET_EnableAVX512 and so on): the rule then picks.
        new object[] { "DOTNET_EnableAVX512=0", "" },
        new object[] { "DOTNET_EnableAVXVNNI=0", "" },
        new object[] { "DOTNET_EnableAVX2=0", "" },
        new object[] { "DOTNET_EnableHWIntrinsic=0", Int8Family.Portable },
    };

    /// <summary>
    /// One child process per forced family or knob: its logits equal this process's bit for bit, and its report names
    /// the family it ran, which is the one forced where this CPU runs it and the rule's choice where it does not.
    /// </summary>
    [Theory]
    [Trait("Category", "Slow")] // a child `dotnet test` each
    [MemberData(nameof(Children))]
    public void EveryFamilyGivesTheSameLogits(string setting, string forced)
    {
        string work = Path.Combine(Path.GetTempPath(), "sng-int8family-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            string report = Path.Combine(work, "family.txt");
            var (variable, value) = (setting[..setting.IndexOf('=')], setting[(setting.IndexOf('=') + 1)..]);
            // The child's own family comes from the setting alone, not from one this process may have been given.
            var environment = new Dictionary<string, string?> { [ReportVariable] = report, [Int8Family.EnvironmentVariable] = null, [variable] = value };
            var (exitCode, stdout, stderr) = ProcessRunner.Run("dotnet",
                new[] { "test", typeof(Int8FamilyTests).Assembly.Location, "--filter", "FullyQualifiedName~Int8FamilyTests.KernelPathsNameTheFamilyThatRuns" },
                work, environment, TimeSpan.FromMinutes(10));
            string text = stdout + stderr;
            Assert.True(exitCode == 0, $"{setting} child run failed:\n{text}");
            var summary = Regex.Match(text, @"Failed:\s*(\d+),\s*Passed:\s*(\d+),\s*Skipped:\s*(\d+)");
            Assert.True(summary.Success && summary.Groups[1].Value == "0" && summary.Groups[2].Value == "1", $"{setting} child did not pass exactly its one test:\n{text}");
            Assert.True(File.Exists(report), $"{setting} child wrote no report");

            var lines = File.ReadAllLines(report);
            int separator = Array.IndexOf(lines, "--");
            string family = lines[0], description = lines[1];
            _output.WriteLine($"{setting}: ran {description}");
            foreach (string path in lines[2..separator]) _output.WriteLine("  " + path);

            if (forced.Length > 0 && value == forced)
            {
                // Forced by name: the child runs it where this CPU has it, else falls back and says why.
                if (Int8Family.IsSupported(forced))
                {
                    Assert.Equal(forced, family);
                }
                else
                {
                    Assert.Contains($"{Int8Family.EnvironmentVariable}={forced} is not supported on this CPU", description);
                    _output.WriteLine($"  could not run {forced} here: this CPU lacks it (the child fell back to {family})");
                }
            }
            else if (forced.Length > 0)
            {
                Assert.Equal(forced, family); // a knob that leaves one family only
            }
            if (value == "vnni512") Assert.Contains("is no family", description);
            if (variable.StartsWith("DOTNET_", StringComparison.Ordinal) && family == Int8Family.Name && variable != "DOTNET_EnableAVXVNNI")
                _output.WriteLine($"  {setting} left this CPU's family ({family}): the knob switches off nothing it uses");

            // Whatever ran, the integers and so the logits are this process's, bit for bit.
            Assert.Equal(LogitBits(), lines[(separator + 1)..]);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
