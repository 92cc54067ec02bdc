namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// The instruction sets kernels get variants for. A variant is only emitted when its set is in the model's
/// <see cref="VectorWidths"/>; the portable <see cref="Vector128"/> code is always emitted, because it is what every
/// other variant falls back to for edges and remainders, and what runs where nothing wider is accelerated.
/// </summary>
[System.Flags]
internal enum VectorWidths
{
    Vector128 = 1,
    Vector256 = 2,
    Vector512 = 4,

    /// <summary>The ARM64 branches (FMLA by element, UZP1/UZP2, pairwise FMAXP/FADDP) inside the Vector128 code.</summary>
    AdvSimd = 8,

    All = Vector128 | Vector256 | Vector512 | AdvSimd,
}

internal static class VectorWidthsExtensions
{
    /// <summary>The vector types of <paramref name="widths"/>, widest first, with their 32-bit lanes; Vector128 always.</summary>
    public static System.Collections.Generic.IEnumerable<(string Vector, int Lanes)> WidestFirst(this VectorWidths widths)
    {
        if ((widths & VectorWidths.Vector512) != 0) yield return ("Vector512", 16);
        if ((widths & VectorWidths.Vector256) != 0) yield return ("Vector256", 8);
        yield return ("Vector128", 4);
    }
}
