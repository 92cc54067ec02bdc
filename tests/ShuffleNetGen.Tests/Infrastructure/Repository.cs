namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>The repository the tests were built from, for the files the build does not copy next to the test assembly.</summary>
public static class Repository
{
    // Found from the test assembly rather than from a source path, so it names the checkout the binaries came from.
    private static readonly Lazy<string> s_root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "ShuffleNetGen.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Repository root (ShuffleNetGen.sln) not found above " + AppContext.BaseDirectory);
    });

    public static string Root => s_root.Value;

    /// <summary>The full path of <paramref name="relative"/>, a path from the repository root written with '/'.</summary>
    public static string File(string relative) => Path.GetFullPath(Path.Combine(Root, relative));
}
