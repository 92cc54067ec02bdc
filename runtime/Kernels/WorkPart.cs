using System.ComponentModel;

namespace ShuffleNetGen.Kernels;

/// <summary>
/// The work items [<see cref="Start"/>, <see cref="Stop"/>) of one op that a generated kernel runs: all of them in the
/// one-thread pass, one thread's contiguous share in a <see cref="ShuffleNetTeam"/>'s. One parameter instead of two
/// keeps every kernel signature and call of a generated model short.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct WorkPart
{
    /// <summary>Items [<paramref name="start"/>, <paramref name="stop"/>).</summary>
    public WorkPart(int start, int stop)
    {
        Start = start;
        Stop = stop;
    }

    /// <summary>The first item.</summary>
    public readonly int Start;

    /// <summary>One past the last item.</summary>
    public readonly int Stop;
}
