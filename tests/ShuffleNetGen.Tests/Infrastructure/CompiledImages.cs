using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// Compiled model images kept on disk for the width children of <see cref="VectorWidthTests"/>. The IL a source
/// compiles to does not depend on the vector width the process runs at, so a child loads the image the parent (or an
/// earlier child) compiled instead of generating and compiling the whole reference matrix again; the children then
/// spend their time on what differs between widths: JIT-compiling and running the kernels.
/// </summary>
public static class CompiledImages
{
    /// <summary>The folder a parent hands its children; unset in a test process started by the user.</summary>
    public const string DirectoryVariable = "SNG_COMPILED_IMAGES";

    // The parent's folder lives as long as the test process; a child uses its parent's.
    private static readonly Lazy<string> s_directory = new(() =>
    {
        if (Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } inherited) return inherited;
        string owned = Path.Combine(Path.GetTempPath(), "sng-images-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(owned);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { System.IO.Directory.Delete(owned, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return owned;
    });

    public static string Directory => s_directory.Value;

    /// <summary>Generates, compiles and loads as <see cref="GeneratorHarness.CompileAndLoad(bool, string[])"/>, through the folder.</summary>
    public static Assembly CompileAndLoad(bool skipLocalsInit, string source)
    {
        string path = Path.Combine(Directory, Key(skipLocalsInit, source) + ".dll");
        byte[] image;
        if (File.Exists(path))
        {
            image = File.ReadAllBytes(path);
        }
        else
        {
            using (var stream = GeneratorHarness.Emit(GeneratorHarness.Generate(skipLocalsInit, source))) image = stream.ToArray();
            // Written beside and renamed, so a process running alongside never reads half an image.
            string temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, path, overwrite: true);
        }
        using var memory = new MemoryStream(image);
        return GeneratorHarness.LoadCollectible(memory);
    }

    // The generator is part of what an image depends on; within one folder it is always the same build, but naming it
    // keeps a folder handed to a child of another build from being misread.
    private static string Key(bool skipLocalsInit, string source)
    {
        string generator = typeof(ShuffleNetGen.Generator.ShuffleNetGenerator).Assembly.ManifestModule.ModuleVersionId.ToString("N");
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{generator}\n{skipLocalsInit}\n{source}"));
        return Convert.ToHexString(hash, 0, 16);
    }
}
