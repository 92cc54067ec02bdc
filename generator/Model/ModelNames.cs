using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis.CSharp;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// Which class names and namespaces the generated code can live under. A name is refused when the emitted file would not
/// compile with it: a keyword, a member the generated class declares (a member cannot share its class's name), or a
/// name the generated code uses unqualified, which the model's class or a namespace of that name would hide
/// (<c>Vector128.Create</c> binding to a class called Vector128). GeneratorRobustnessTests checks this list against
/// what the emitter actually writes, so an emitter change that uses a new name fails a test instead of a user's build.
/// </summary>
internal static class ModelNames
{
    /// <summary>Members the generated class declares besides the per-shape kernels and units (see <see cref="IsGeneratedMember"/>).</summary>
    private static readonly HashSet<string> s_members = new(StringComparer.Ordinal)
    {
        "InputChannels", "InputHeight", "InputWidth", "InputLength", "Classes", "ArenaLength", "NaiveActivationLength",
        "LiveLowerBound", "ParameterCount", "MultiplyAdds", "PackedWeightLength", "WeightLayout", "Description",
        "FromTensors", "FromSafetensors", "FromOnnx", "CreateRandom", "Forward", "Stem", "Head", "PackWeights", "InputElementCount",
        "ClassCount", "BenchmarkOpNames", "RunOpForBenchmark", "KernelPaths",
    };

    /// <summary>
    /// Types and namespaces the generated code names without <c>global::</c> (it imports System, System.Runtime.*
    /// and aliases Simd and AdvSimd), plus their likely siblings, so a new kernel using one does not break existing models.
    /// </summary>
    private static readonly HashSet<string> s_simpleNames = new(StringComparer.Ordinal)
    {
        "System", "Runtime", "Intrinsics", "CompilerServices", "InteropServices", "Simd",
        "Span", "ReadOnlySpan", "Math", "MathF", "Array", "Buffer", "BitConverter", "Debug",
        "ArgumentException", "ArgumentOutOfRangeException", "ArgumentNullException", "InvalidOperationException",
        "MemoryMarshal", "Unsafe", "MethodImpl", "MethodImplOptions", "SkipLocalsInit",
        "Vector", "Vector64", "Vector128", "Vector256", "Vector512",
        "Sse", "Sse2", "Sse3", "Ssse3", "Sse41", "Sse42", "Avx", "Avx2", "Avx512F", "Avx512BW", "Fma", "AdvSimd", "X86", "Arm",
        // Parameters and locals of the members that name the class itself (factories, constructor).
        "tensors", "packed", "packedWeights", "path", "stream", "seed",
    };

    /// <summary>Why <paramref name="name"/> cannot be the model's class name, or null if it can.</summary>
    public static string? ClassNameProblem(string name)
    {
        string? problem = IdentifierProblem(name);
        if (problem is not null) return problem;
        if (IsGeneratedMember(name)) return "the generated class declares a member of that name, and a member cannot share its class's name; choose another name";
        if (s_simpleNames.Contains(name)) return $"the generated code refers to '{name}' by its simple name, which a class of that name would hide; choose another name";
        return null;
    }

    /// <summary>Why <paramref name="ns"/> (dotted) cannot be the model's namespace, or null if it can.</summary>
    public static string? NamespaceProblem(string ns)
    {
        if (ns.Length == 0) return "it is empty; omit it for the global namespace, or give a dotted name such as Acme.Vision";
        foreach (string segment in ns.Split('.'))
        {
            if (segment.Length == 0) return "it has an empty segment; write segments separated by single dots, such as Acme.Vision";
            string? problem = IdentifierProblem(segment);
            if (problem is not null) return $"segment '{segment}': {problem}";
            if (s_simpleNames.Contains(segment)) return $"segment '{segment}': the generated code refers to '{segment}' by its simple name, which a namespace of that name would hide; choose another name";
        }
        return null;
    }

    /// <summary>
    /// Whether a stand-in with the model's public surface (see PlaceholderEmitter) can be declared under these names. It
    /// names every type with <c>global::</c>, so only names that are not identifiers or that clash with a member the
    /// stand-in declares rule it out; a name that would merely hide a type the kernels use does not.
    /// </summary>
    public static bool CanHostPlaceholder(string className, string? ns)
    {
        if (IdentifierProblem(className) is not null || IsGeneratedMember(className)) return false;
        if (ns is null) return true;
        foreach (string segment in ns.Split('.'))
        {
            if (IdentifierProblem(segment) is not null) return false;
        }
        return true;
    }

    /// <summary>Kernel and unit methods are named by shape (<c>Unit3</c>, <c>Pointwise_g3_240to60_..._V128</c>).</summary>
    public static bool IsGeneratedMember(string name) =>
        s_members.Contains(name)
        || name.StartsWith("_sng", StringComparison.Ordinal)
        || (name.StartsWith("Unit", StringComparison.Ordinal) && name.Length > 4 && IsDigits(name, 4))
        || name.EndsWith("_V128", StringComparison.Ordinal) || name.EndsWith("_V256", StringComparison.Ordinal)
        || name.EndsWith("_V512", StringComparison.Ordinal) || name.EndsWith("_Scalar", StringComparison.Ordinal);

    private static string? IdentifierProblem(string name)
    {
        if (name.Length == 0) return "it is empty";
        foreach (char c in name)
        {
            // The compiler drops formatting characters when it compares names, so "Net" and "Ne\u200Bt" would be one
            // class to C# but two models to us.
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format)
                return $"it contains the invisible formatting character U+{(int)c:X4}; remove it";
        }
        if (!SyntaxFacts.IsValidIdentifier(name))
            return "it is not a C# identifier; use letters, digits and '_', not starting with a digit";
        if (SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None)
            return "it is a C# keyword; choose another name";
        if (SyntaxFacts.GetContextualKeywordKind(name) != SyntaxKind.None || name is "_" or "dynamic" or "nint" or "nuint")
            return "it is a contextual keyword of C#, which the generated code could not use as a type name; choose another name";
        return null;
    }

    private static bool IsDigits(string s, int start)
    {
        for (int i = start; i < s.Length; i++)
        {
            if (s[i] < '0' || s[i] > '9') return false;
        }
        return true;
    }
}
