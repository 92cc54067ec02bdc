using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>How a call site names a tensor in the arena, the input image, the logits, or an op's packed weights.</summary>
internal sealed class OperandRefs
{
    public string Of(TensorNode t, long channelOffset = 0)
    {
        if (t.Name == "input") return "ref image";
        if (t.Name == "logits") return "ref logits";
        long offset = t.Offset + channelOffset * t.Pixels;
        return offset == 0 ? "ref arena" : $"ref Unsafe.Add(ref arena, {offset})";
    }

    public string Weights(OpNode op) => op.WeightOffset == 0 ? "ref weights" : $"ref Unsafe.Add(ref weights, {op.WeightOffset})";
}
