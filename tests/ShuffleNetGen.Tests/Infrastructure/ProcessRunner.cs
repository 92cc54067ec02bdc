using System.Diagnostics;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>Runs a child process to its end and hands back what it printed.</summary>
public static class ProcessRunner
{
    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/> passed as they are (no quoting to get right).
    /// <paramref name="environment"/> sets variables, a null value removes one. Past <paramref name="timeout"/> (none if
    /// null) the process tree is killed and <see cref="TimeoutException"/> thrown.
    /// </summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string fileName, IReadOnlyList<string> arguments,
        string? workingDirectory = null, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        // Both pipes drain at once: a child blocked on a full stderr pipe would never close stdout.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? Timeout.InfiniteTimeSpan))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} ran longer than {timeout}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
