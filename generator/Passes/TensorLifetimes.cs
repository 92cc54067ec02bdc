using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Passes;

/// <summary>
/// Live range of each arena tensor: from the first op that writes it to the last op that reads it. A tensor written
/// in slices (a stride-2 unit's output) is live from its first slice on.
/// </summary>
internal static class TensorLifetimes
{
    public static void Compute(NetworkGraph graph)
    {
        foreach (var op in graph.Ops)
        {
            Touch(op.Output, op.Step);
            foreach (var read in op.Reads) Touch(read, op.Step);
        }
    }

    private static void Touch(TensorNode tensor, int step)
    {
        if (tensor.FirstStep < 0 || step < tensor.FirstStep) tensor.FirstStep = step;
        if (step > tensor.LastStep) tensor.LastStep = step;
    }

    public static bool Overlap(TensorNode a, TensorNode b) => a.FirstStep <= b.LastStep && b.FirstStep <= a.LastStep;
}
