using System.Diagnostics;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>Packs the runtime with its generator and builds a project that consumes only the .nupkg.</summary>
[Trait("Category", "Slow")] // packs the runtime and builds a consumer project with the SDK
public class PackageTests
{
    [Fact]
    public void PackedPackageGeneratesAWorkingModel()
    {
        string root = RepositoryRoot();
        string work = Path.Combine(Path.GetTempPath(), "sng-package-" + Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(work, "feed");
        // A version no cache has seen, so restore cannot pick up a stale package from an earlier run.
        string version = "0.0.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmss");
        try
        {
            Run(root, "pack", "runtime/ShuffleNetGen.csproj", "-c", "Release", "-o", feed, $"-p:Version={version}");
            Assert.Single(Directory.GetFiles(feed, "ShuffleNetGen." + version + ".nupkg"));
            string output = Run(root, "run", "--project", "tests/PackageConsumer/PackageConsumer.csproj", "-c", "Release",
                $"-p:ShuffleNetGenVersion={version}", $"-p:RestoreAdditionalProjectSources={feed}",
                $"-p:RestorePackagesPath={Path.Combine(work, "packages")}", $"-p:BaseOutputPath={Path.Combine(work, "bin")}/",
                $"-p:BaseIntermediateOutputPath={Path.Combine(work, "obj")}/");
            // The same declaration generated in-process must give the same model, to the last bit.
            var expected = LoadedModel.Compile("using ShuffleNetGen; [ShuffleNet(Groups = 3, Scale = 0.5, InputChannels = 1, InputHeight = 32, InputWidth = 32, Classes = 10)] public partial class Model;");
            var logits = new float[10];
            expected.FromTensors(Weights.RandomWeights.Create(expected.WeightLayout, 3)).Forward(new float[32 * 32], logits);
            Assert.Contains($"classes=10 macs={expected.Constant<long>("MultiplyAdds")} logit0={logits[0]:R}", output);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static string Run(string directory, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ShuffleNetGen.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Repository root (ShuffleNetGen.sln) not found above " + AppContext.BaseDirectory);
    }
}
