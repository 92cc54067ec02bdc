using System.Runtime.CompilerServices;
using Xunit;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// Snapshot assertions in Verify's conventions, so Verify can replace this helper: the accepted text lives in
/// <c>Snapshots/NAME.verified.cs</c> beside the tests; a mismatch writes <c>NAME.received.cs</c> (git-ignored) and
/// fails. Set <c>VERIFY_ACCEPT=1</c> to accept the received text as the new snapshot.
/// </summary>
public static class Snapshot
{
    /// <summary>The accepted snapshot file of <paramref name="name"/>, beside the calling test's source.</summary>
    public static string VerifiedPath(string name, [CallerFilePath] string callerPath = "") =>
        Path.Combine(Path.GetDirectoryName(callerPath)!, "Snapshots", name + ".verified.cs");

    public static void Verify(string name, string actual, [CallerFilePath] string callerPath = "")
    {
        string folder = Path.Combine(Path.GetDirectoryName(callerPath)!, "Snapshots");
        string verified = VerifiedPath(name, callerPath);
        string received = Path.Combine(folder, name + ".received.cs");
        actual = actual.Replace("\r\n", "\n");
        string? expected = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n") : null;
        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        Directory.CreateDirectory(folder);
        if (Environment.GetEnvironmentVariable("VERIFY_ACCEPT") == "1")
        {
            File.WriteAllText(verified, actual);
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual);
        Assert.Fail(expected is null
            ? $"No snapshot yet for {name}: review {received} and accept it (VERIFY_ACCEPT=1)."
            : $"Generated code for {name} changed; {FirstDifference(expected, actual)}. Diff {verified} against {received}; accept with VERIFY_ACCEPT=1.");
    }

    private static string FirstDifference(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        for (int i = 0; i < Math.Min(e.Length, a.Length); i++)
        {
            if (e[i] != a[i]) return $"first difference at line {i + 1}:\n- {e[i]}\n+ {a[i]}";
        }
        return $"line counts differ ({e.Length} verified, {a.Length} received)";
    }
}
