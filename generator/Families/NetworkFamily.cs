using System.Collections.Generic;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Families;

/// <summary>
/// A network family: the one statement of its shape. It lowers a resolved declaration into tensors, fused ops and
/// weight names through a <see cref="GraphBuilder"/>, and everything else derives from that graph: the size limits
/// (<see cref="Model.DeclarationValidator"/> lowers before it checks), the memory plan and packed weights (the passes),
/// the generated code (the emitters, which see ops, never units), and at run time the calibration forward pass and the
/// ONNX importer, which read the same ops from the generated <c>Description.Layers</c>.
/// </summary>
internal abstract class NetworkFamily
{
    /// <summary>How the generated documentation names the family, e.g. <c>ShuffleNet v1</c>.</summary>
    public abstract string DisplayName { get; }

    /// <summary>Adds the network's ops to <paramref name="builder"/> in execution order and returns its summary lines.</summary>
    public abstract IReadOnlyList<string> Lower(NetworkSpec spec, GraphBuilder builder);

    /// <summary>The family a resolved declaration belongs to.</summary>
    public static NetworkFamily Of(NetworkSpec spec) => spec.Version == 2 ? ShuffleNetV2.ShuffleNetV2Family.Instance : ShuffleNetV1.ShuffleNetV1Family.Instance;
}
