namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// How a kernel that a team can split receives its share: a <c>Part</c> (the runtime's <c>WorkPart</c>), the range
/// [Start, Stop) of its independent work items (<see cref="IKernelEmitter.WorkItems"/>), as the last parameter of its
/// dispatcher and variants. The one-thread pass passes the whole range.
/// </summary>
internal static class WorkRange
{
    /// <summary>The alias the generated file declares for the runtime's struct.</summary>
    public const string Alias = "using Part = global::ShuffleNetGen.Kernels.WorkPart;";

    public const string Start = "part.Start";

    public const string Stop = "part.Stop";

    /// <summary>The loop variable of a kernel whose items are not its channels (a 1x1 convolution's packed blocks).</summary>
    public const string Item = "item";

    public const string Parameters = "Part part";

    public const string Arguments = "part";

    /// <summary>The loop over channels [Start, Stop) that replaces a kernel's loop over all its channels.</summary>
    public const string ChannelLoop = "for (int c = part.Start; c < part.Stop; c++)";
}
