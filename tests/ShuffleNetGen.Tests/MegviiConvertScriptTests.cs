using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Runs tools/test_megvii_convert.py (megvii's official network, re-implemented, against its conversion run by
/// tools/shufflenet.py, for g = 1, 2, 3, 4, 8) when /usr/bin/python3 can import torch; reported as skipped otherwise,
/// since CI does not install PyTorch. The C# side of the same conversion is checked without Python by the committed
/// megvii_* fixtures (GeneratedVsPyTorchTests, ReferenceVsPyTorchTests).
/// </summary>
public class MegviiConvertScriptTests
{
    private readonly ITestOutputHelper _output;

    public MegviiConvertScriptTests(ITestOutputHelper output) => _output = output;

    [PythonTorchFact]
    [Trait("Category", "Slow")] // 10 s or more in CI (measured run, 2-core machine)
    public void OfficialLayoutCheckpointsConvertExactlyForEveryGroupCount()
    {
        var (exitCode, stdout, stderr) = ProcessRunner.Run(PythonTorchFactAttribute.Python, new[] { Repository.File("tools/test_megvii_convert.py") },
            timeout: TimeSpan.FromMinutes(9));
        _output.WriteLine(stdout);
        _output.WriteLine(stderr);
        Assert.True(exitCode == 0, $"tools/test_megvii_convert.py exited with {exitCode}:\n{stderr}");
        // unittest prints "OK" last on success; make sure the five group counts really ran.
        foreach (int g in new[] { 1, 2, 3, 4, 8 }) Assert.Contains($"official order g={g}:", stderr);
    }
}

/// <summary>A fact that needs /usr/bin/python3 with torch (the tools' interpreter); skipped where it is missing.</summary>
public sealed class PythonTorchFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<string?> s_missing = new(() =>
    {
        if (!File.Exists(Python)) return $"{Python} does not exist";
        try
        {
            // find_spec locates the package without importing it: importing torch takes seconds, minutes on a busy machine.
            var (exitCode, _, _) = ProcessRunner.Run(Python, new[] { "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)" },
                timeout: TimeSpan.FromMinutes(1));
            return exitCode == 0 ? null : $"{Python} has no torch package";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or TimeoutException)
        {
            return $"{Python} did not run: {e.Message}";
        }
    });

    public PythonTorchFactAttribute()
    {
        if (s_missing.Value is { } reason) Skip = reason + "; install python3-torch to run it";
    }
}
