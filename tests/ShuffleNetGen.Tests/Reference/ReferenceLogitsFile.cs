using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace ShuffleNetGen.Tests.Reference;

/// <summary>
/// The scalar reference's logits for the reference matrix, as the conformance runner reads them
/// (samples/Conformance/reference-logits.txt): one line per case, its name and then its logits as round-trip floats.
/// Under qemu the double-precision reference took most of the emulated run (about 140 of 290 s); it computes the same
/// numbers on the host, where ConformanceCasesTests recomputes them on every test run and requires this file to match.
/// </summary>
public static class ReferenceLogitsFile
{
    public const string Header =
        "# Logits of the scalar reference (tests/ShuffleNetGen.Tests/Reference/ReferenceShuffleNet.cs, ReferenceShuffleNetV2.cs for v2) for each case of\n"
        + "# ReferenceCases.All, with its weights and input. Written by ConformanceCasesTests with VERIFY_ACCEPT=1; checked by it on every run.\n";

    public static string Format(IEnumerable<(string Name, float[] Logits)> cases)
    {
        var text = new StringBuilder(Header);
        foreach (var (name, logits) in cases)
            text.Append(name).Append(' ').Append(string.Join(" ", logits.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        return text.ToString();
    }

    /// <exception cref="FormatException">A line is not a case name followed by floats, or a case appears twice.</exception>
    public static Dictionary<string, float[]> Parse(string text)
    {
        var cases = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var parts = line.Split(' ');
            var logits = new float[parts.Length - 1];
            for (int i = 1; i < parts.Length; i++)
            {
                if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out logits[i - 1]))
                    throw new FormatException($"reference logits of {parts[0]}: '{parts[i]}' is not a float");
            }
            if (logits.Length == 0 || !cases.TryAdd(parts[0], logits))
                throw new FormatException($"reference logits: case '{parts[0]}' is empty or appears twice");
        }
        return cases;
    }
}
