using ShuffleNetGen.Generator.Families;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>Turns a resolved network into fused ops over named tensors, in execution order, as its family states it.</summary>
internal static class NetworkLowering
{
    public static NetworkGraph Lower(NetworkSpec spec)
    {
        var builder = new GraphBuilder(spec);
        var family = NetworkFamily.Of(spec);
        var summary = family.Lower(spec, builder);
        return builder.Build(family.DisplayName, summary);
    }
}

/// <summary>The shape arithmetic of a 3x3, padding-1 window.</summary>
internal static class Windows
{
    /// <summary>Output size at <paramref name="stride"/>: <c>floor((size + 2 - 3) / stride) + 1</c>.</summary>
    public static int OutputSize(int size, int stride) => (size - 1) / stride + 1;
}
