using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>Loops and index sums as emitted code spells them: no loop that runs once, no <c>+ 0</c>.</summary>
internal static class Loop
{
    /// <summary>
    /// Opens <c>for (int v = start; v &lt; limit; v += step)</c> (<c>&lt;=</c> when <paramref name="inclusive"/>). A loop
    /// that would run once is a block binding <c>v</c> to <paramref name="start"/> as a constant instead: the reader sees
    /// straight-line code, and the compiler folds the index as it would have folded the loop.
    /// </summary>
    public static SourceWriter.Block Open(SourceWriter w, string v, long start, long limit, long step = 1, bool inclusive = false)
    {
        long end = inclusive ? limit + 1 : limit;
        if (end > start && end - start <= step)
        {
            var block = w.OpenScope();
            w.Line($"const int {v} = {start};");
            return block;
        }
        return w.Open($"for (int {v} = {start}; {v} {(inclusive ? "<=" : "<")} {limit}; {v}{(step == 1 ? "++" : $" += {step}")})");
    }

    /// <summary>The sum of <paramref name="terms"/> without the literal zeros (<c>"0"</c> when nothing else is left).</summary>
    public static string Sum(params string[] terms)
    {
        var kept = new System.Collections.Generic.List<string>();
        foreach (string term in terms)
            if (term != "0") kept.Add(term);
        return kept.Count == 0 ? "0" : string.Join(" + ", kept);
    }
}
