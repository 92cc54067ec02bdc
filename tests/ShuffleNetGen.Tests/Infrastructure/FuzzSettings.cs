namespace ShuffleNetGen.Tests.Infrastructure;

/// <summary>
/// What every fuzz suite reads from the environment: <c>SNG_FUZZ_ITERATIONS</c> runs it longer (or shorter), and
/// <c>SNG_FUZZ_SEED</c> replays the CsCheck seed a failure printed.
/// </summary>
public static class FuzzSettings
{
    /// <summary>Cases per suite when the environment does not say: each suite runs in about 10 s here.</summary>
    public const int DefaultIterations = 1500;

    public static int Iterations =>
        int.TryParse(Environment.GetEnvironmentVariable("SNG_FUZZ_ITERATIONS"), out int n) && n > 0 ? n : DefaultIterations;

    /// <summary>The seed to replay, or null for a fresh one.</summary>
    public static string? Seed =>
        Environment.GetEnvironmentVariable("SNG_FUZZ_SEED") is { Length: > 0 } seed ? seed : null;
}
