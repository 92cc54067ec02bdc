using ShuffleNetGen.Tests.Reference;

namespace Conformance;

/// <summary>
/// The scalar reference's logits for the matrix, embedded from reference-logits.txt. Computing them in double under
/// qemu took about half of the emulated run; they do not depend on the target, and ConformanceCasesTests recomputes
/// them on the host on every test run and requires the file to match.
/// </summary>
internal static class CommittedReference
{
    private static readonly Lazy<Dictionary<string, float[]>> Logits = new(Load);

    /// <summary>Set by --compute-reference: compute the reference on the target instead.</summary>
    public static bool ComputeHere { get; set; }

    /// <summary>The case's committed logits, or null (then the runner computes them) when the file lacks the case or has another class count.</summary>
    public static float[]? For(string name, int classes) =>
        Logits.Value.TryGetValue(name, out var logits) && logits.Length == classes ? logits : null;

    public static string Describe() => ComputeHere
        ? "computed here by the scalar reference (--compute-reference)"
        : $"the scalar reference's, computed on the host (reference-logits.txt, {Logits.Value.Count} cases, kept current by ConformanceCasesTests; --compute-reference computes them here)";

    private static Dictionary<string, float[]> Load()
    {
        using var stream = typeof(CommittedReference).Assembly.GetManifestResourceStream("reference-logits.txt")
            ?? throw new InvalidOperationException("the embedded resource reference-logits.txt is missing");
        using var reader = new StreamReader(stream);
        return ReferenceLogitsFile.Parse(reader.ReadToEnd());
    }
}
