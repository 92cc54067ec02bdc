using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Runs tools/test_quantize.py (tools/quantize.py on a calibration image with a finite 1e38 pixel, with each observer)
/// when /usr/bin/python3 can import torch; reported as skipped otherwise, since CI does not install PyTorch.
/// </summary>
public class QuantizeScriptTests
{
    private readonly ITestOutputHelper _output;

    public QuantizeScriptTests(ITestOutputHelper output) => _output = output;

    [PythonTorchFact]
    public void AHugeFinitePixelEndsInAOneLineErrorWithEitherObserver()
    {
        var (exitCode, stdout, stderr) = ProcessRunner.Run(PythonTorchFactAttribute.Python, new[] { Repository.File("tools/test_quantize.py") },
            timeout: TimeSpan.FromMinutes(5));
        _output.WriteLine(stdout);
        _output.WriteLine(stderr);
        Assert.True(exitCode == 0, $"tools/test_quantize.py exited with {exitCode}:\n{stderr}");
        // Both observers really ran (each prints its one-line error).
        Assert.Contains("histogram: quantize.py: ", stderr);
        Assert.Contains("minmax: quantize.py: ", stderr);
    }
}
