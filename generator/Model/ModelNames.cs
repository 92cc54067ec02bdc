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
    /// <summary>
    /// Types and namespaces the generated code names without <c>global::</c> (it imports System, System.Runtime.*
    /// and aliases Simd, AdvSimd, Part and WeightPacker), plus their likely siblings, so a new kernel using one does not break existing models.
    /// </summary>
    private static readonly HashSet<string> s_simpleNames = new(StringComparer.Ordinal)
    {
        "System", "Runtime", "Intrinsics", "CompilerServices", "InteropServices", "Simd", "Part", "WeightPacker",
        "Span", "ReadOnlySpan", "Math", "MathF", "Array", "Buffer", "BitConverter", "Debug",
        "ArgumentException", "ArgumentOutOfRangeException", "ArgumentNullException", "InvalidOperationException",
        "MemoryMarshal", "Unsafe", "MethodImpl", "MethodImplOptions", "SkipLocalsInit",
        "Vector", "Vector64", "Vector128", "Vector256", "Vector512",
        "Sse", "Sse2", "Sse3", "Ssse3", "Sse41", "Sse42", "Avx", "Avx2", "Avx512F", "Avx512BW", "Fma", "AdvSimd", "X86", "Arm",
        // Parameters and locals of the members that name the class itself (factories, constructor).
        "tensors", "packed", "packedWeights", "path", "stream", "seed",
    };

    /// <summary>
    /// Longest full name (<c>Namespace.Class</c>), in UTF-8 bytes. The generated file is named
    /// <c>{full name}.ShuffleNet.g.cs</c>, and with EmitCompilerGeneratedFiles that is a file name on disk, which no
    /// common file system allows past 255 bytes; metadata allows 1023 bytes per name, far above this.
    /// </summary>
    public const int MaxFullNameBytes = 200;

    /// <summary>
    /// Most namespace segments. The compiler binds a dotted namespace recursively, one frame per segment, so ten
    /// thousand segments overflow its stack and take the build down; real namespaces have a handful.
    /// </summary>
    public const int MaxNamespaceSegments = 32;

    /// <summary>
    /// Why <c>Namespace.Class</c> is too long, or null. Checked before anything splits or scans the name, so a
    /// 20 KB name costs a count, not a parse; <paramref name="ns"/> is null for the global namespace.
    /// </summary>
    public static string? LengthProblem(string? ns, string name, out bool aboutNamespace)
    {
        aboutNamespace = false;
        if (ns is not null)
        {
            int segments = 1;
            foreach (char c in ns) if (c == '.') segments++;
            if (segments > MaxNamespaceSegments)
            {
                aboutNamespace = true;
                return $"it has {segments} segments; a namespace may have at most {MaxNamespaceSegments}";
            }
        }
        long nameBytes = Utf8Length(name), nsBytes = ns is null ? 0 : Utf8Length(ns);
        long bytes = nameBytes + (ns is null ? 0 : nsBytes + 1);
        if (bytes > MaxFullNameBytes)
        {
            aboutNamespace = ns is not null && nsBytes >= nameBytes;
            return $"the full name {(ns is null ? "" : "(namespace.class) ")}is {bytes} bytes of UTF-8; it may be at most {MaxFullNameBytes}, because it names the generated file";
        }
        return null;
    }

    /// <summary>A name as a message quotes it: at most 64 characters, so a 20 KB name does not become a 20 KB message.</summary>
    public static string Shown(string name) => name.Length <= 64 ? name : name.Substring(0, 64) + "…";

    private static long Utf8Length(string s)
    {
        long bytes = 0;
        foreach (char c in s) bytes += c < 0x80 ? 1 : c < 0x800 || char.IsSurrogate(c) ? 2 : 3;
        return bytes;
    }

    /// <summary>Why <paramref name="name"/> cannot be the model's class name, or null if it can.</summary>
    public static string? ClassNameProblem(string name)
    {
        string? problem = IdentifierProblem(name);
        if (problem is not null) return problem;
        if (IsGeneratedMember(name)) return "the generated class declares a member of that name, and a member cannot share its class's name; choose another name";
        if (Emit.EmittedNames.IsTypeParameter(name)) return "the generated kernels declare a type parameter of that name, and a type parameter cannot share its class's name; choose another name";
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
            if (problem is not null) return $"segment '{Shown(segment)}': {problem}";
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
        // Past the length limits a stand-in would bring back what the limits keep out: a file name too long for the
        // disk and namespaces deep enough to overflow the compiler's stack.
        if (LengthProblem(ns, className, out _) is not null) return false;
        if (IdentifierProblem(className) is not null || IsGeneratedMember(className) || HidesRuntimeNamespace(className, ns)) return false;
        if (ns is null) return true;
        foreach (string segment in ns.Split('.'))
        {
            if (IdentifierProblem(segment) is not null) return false;
        }
        return true;
    }

    /// <summary>Members of the generated class; the emitters own that list.</summary>
    public static bool IsGeneratedMember(string name) => Emit.EmittedNames.IsGeneratedMember(name);

    /// <summary>Why a class <paramref name="name"/> cannot be declared in <paramref name="ns"/> (null: the global namespace), or null.</summary>
    public static string? PlacementProblem(string name, string? ns) => HidesRuntimeNamespace(name, ns)
        ? $"a class '{RuntimeNamespace}' in the global namespace hides the {RuntimeNamespace} namespace, which the attribute and every generated file refer to (even global::{RuntimeNamespace} then names the class); put the class in a namespace or choose another name"
        : null;

    /// <summary>The namespace of the runtime library, which generated code names as <c>global::ShuffleNetGen</c>.</summary>
    public const string RuntimeNamespace = "ShuffleNetGen";

    /// <summary>
    /// A type of the runtime namespace's name declared in the global namespace of the user's compilation wins over the
    /// imported namespace (CS0437), and C# has no spelling that reaches the namespace past it.
    /// </summary>
    public static bool HidesRuntimeNamespace(string className, string? ns) => ns is null && className == RuntimeNamespace;

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
}
