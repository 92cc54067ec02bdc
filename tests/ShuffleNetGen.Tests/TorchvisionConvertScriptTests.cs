using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Runs tools/test_torchvision_to_safetensors.py (torchvision ShuffleNetV2 checkpoints: the four width multipliers,
/// a pickled model, a wrapped DataParallel state_dict, custom widths and stage counts, and files that are not a
/// ShuffleNetV2, which must end in a one-line error) when /usr/bin/python3 can import torch; reported as skipped
/// otherwise (<see cref="PythonTorchFactAttribute"/>), since CI does not install PyTorch.
/// </summary>
public class TorchvisionConvertScriptTests
{
    private readonly ITestOutputHelper _output;

    public TorchvisionConvertScriptTests(ITestOutputHelper output) => _output = output;

    [PythonTorchFact]
    [Trait("Category", "Slow")] // 10 s or more on the shared 2-core machine, mostly importing torch and torchvision in two processes
    public void ConverterKeepsTorchvisionNamesAndPrintsTheDeclaration()
    {
        var (exitCode, stdout, stderr) = ProcessRunner.Run(PythonTorchFactAttribute.Python,
            new[] { Repository.File("tools/test_torchvision_to_safetensors.py") }, timeout: TimeSpan.FromMinutes(9));
        _output.WriteLine(stdout);
        _output.WriteLine(stderr);
        Assert.True(exitCode == 0, $"tools/test_torchvision_to_safetensors.py exited with {exitCode}:\n{stderr}");
        // unittest prints "OK" last on success; make sure every case really ran.
        foreach (var name in new[] { "torchvision scales", "pickled model and wrapper", "custom architectures", "no batch counters, float64", "not a ShuffleNetV2", "process exit" })
            Assert.Contains($"case {name}: ok", stderr);
    }
}
