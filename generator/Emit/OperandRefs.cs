using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>How a call site names a tensor in the arena, the input image, the logits, or an op's packed weights.</summary>
internal static class OperandRefs
{
    /// <summary>Constants holding arena offsets start with this; the name checks reserve it.</summary>
    public const string ArenaPrefix = "Arena_";

    /// <summary>Constants holding packed-weight offsets start with this; the name checks reserve it.</summary>
    public const string WeightsPrefix = "Weights_";

    /// <summary>A slice starting <paramref name="channelOffset"/> channels into <paramref name="t"/> (a concat's half).</summary>
    public static string Of(TensorNode t, long channelOffset = 0)
    {
        if (t.Name == "input") return "ref image";
        if (t.Name == "logits") return "ref logits";
        string slice = channelOffset == 0 ? "" : $" + {channelOffset} * {t.Pixels}";
        return $"ref Unsafe.Add(ref arena, {ArenaOffset(t)}{slice})";
    }

    /// <summary>
    /// The tensor's planes as an op's map places them: a slice's (or a shuffled slice's) first plane, the kernel's shape
    /// holding the rest; the tensor itself for a table, whose entries are planes of the whole tensor.
    /// </summary>
    public static string Of(TensorNode t, PlaneMap planes) => Of(t, planes.IsTable ? 0 : planes.Start);

    public static string Weights(OpNode op) => $"ref Unsafe.Add(ref weights, {WeightOffset(op)})";

    /// <summary>Properties holding plane tables start with this; the name checks reserve it.</summary>
    public const string PlanesPrefix = "Planes_";

    /// <summary>
    /// The property holding a table-form <see cref="PlaneMap"/>'s planes, named by its content, so ops that read or
    /// write the same planes (a v2 unit's halves) share one table and the emitter and the kernels agree on the name.
    /// </summary>
    public static string PlaneTable(PlaneMap map) => $"{PlanesPrefix}{map.Count}_{Hash(FnvBasis, map):x8}";

    /// <summary>
    /// What a kernel reading or writing through tables appends to its name: a hash of its tables' contents, so ops with
    /// the same tables (a v2 unit's two 1x1 convolutions both read one half and write the other) share the kernel.
    /// <see cref="ModelEmitter"/> refuses two kernels of one name whose tables differ, so a hash collision fails the
    /// build (SNG0022) instead of running the wrong tables.
    /// </summary>
    public static string TablesSuffix(PlaneMap input, PlaneMap output)
    {
        uint hash = FnvBasis;
        foreach (var map in new[] { input, output })
            hash = Hash(Fnv(hash, map.IsTable ? 1u : 0u), map);
        return $"_P{hash:x8}";
    }

    private const uint FnvBasis = 2166136261;

    /// <summary>One FNV-1a step (a 32-bit value at a time), the hash both table names use.</summary>
    private static uint Fnv(uint hash, uint value) => (hash ^ value) * 16777619;

    /// <summary><paramref name="hash"/> continued over the planes of <paramref name="map"/>, in channel order.</summary>
    private static uint Hash(uint hash, PlaneMap map)
    {
        foreach (int plane in map.ToArray()) hash = Fnv(hash, (uint)plane);
        return hash;
    }

    /// <summary>The constant naming where <paramref name="t"/> starts in the arena: its name as an identifier.</summary>
    public static string ArenaOffset(TensorNode t) => ArenaPrefix + Identifier(t.Name);

    /// <summary>The constant naming where the packed weights of <paramref name="op"/> start.</summary>
    public static string WeightOffset(OpNode op) => WeightOffset(op.Name);

    /// <summary>The constant naming where the packed weights of the op named <paramref name="opName"/> start.</summary>
    public static string WeightOffset(string opName) => WeightsPrefix + Identifier(opName);

    private static string Identifier(string name) => name.Replace('.', '_');
}
