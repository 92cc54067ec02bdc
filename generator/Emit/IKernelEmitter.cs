using System.Collections.Generic;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// One kernel kind, bound to one op: everything the generated class needs from it. <see cref="ModelEmitter"/> only
/// composes these; a new kind is a new implementation and a line in <see cref="KernelEmitters.For"/>.
/// </summary>
internal interface IKernelEmitter
{
    /// <summary>The method call sites call. Ops of the same shape share it, so it also identifies the kernel.</summary>
    string Name { get; }

    /// <summary>
    /// The name <c>KernelPaths</c> reports the kernel under: its <see cref="Name"/>, or for kernels that differ only in
    /// their plane tables (ShuffleNet v2's units), the name of the code they share, reported once.
    /// </summary>
    string PathKey { get; }

    /// <summary>The <c>KernelPaths</c> entry: a C# expression over the same checks the kernel branches on.</summary>
    string PathExpression { get; }

    /// <summary>
    /// Independent work items of the op (output-channel blocks, channels), each computing whole outputs, so a team can run
    /// any contiguous range of them on any thread with the same bits as one thread; 1 where the kernel takes no range.
    /// A kernel with more than one takes a <see cref="WorkRange"/>, which its <see cref="CallStatement"/> passes.
    /// </summary>
    int WorkItems { get; }

    /// <summary>The statement that runs this op.</summary>
    string CallStatement();

    /// <summary>Writes the kernel's methods (once per <see cref="Name"/>).</summary>
    void EmitMethods(SourceWriter w);

    /// <summary>The statement that packs this op's weights into <c>packed</c>, or null when it has none.</summary>
    string? PackStatement { get; }

    /// <summary>What this kernel's methods call and other kernels may too (generic bodies, their types): written once per model.</summary>
    IReadOnlyList<SharedDefinition> SharedDefinitions { get; }
}

/// <summary>
/// A definition kernels share, such as a register tile generic over the shape it serves: <see cref="Name"/> identifies
/// it, so the model writes each one once, however many kernels call it.
/// </summary>
internal sealed class SharedDefinition
{
    public SharedDefinition(string name, System.Action<SourceWriter> emit)
    {
        Name = name;
        Emit = emit;
    }

    public string Name { get; }

    public System.Action<SourceWriter> Emit { get; }

    public static readonly IReadOnlyList<SharedDefinition> None = new SharedDefinition[0];
}

/// <summary>Picks the emitter of each op's kind: the one place that switches on op types.</summary>
internal static class KernelEmitters
{
    public static IKernelEmitter For(OpNode op, VectorWidths widths) => op switch
    {
        WindowOp { Kind: WindowKind.Convolution, Pools: not null } stem => new StemPoolKernel(stem, widths),
        WindowOp { Kind: WindowKind.Convolution } conv => new StemConvolutionKernel(conv, widths),
        WindowOp { Kind: WindowKind.Depthwise, Packs: not null } packing => new DepthwisePackingKernel(packing, widths),
        WindowOp { Kind: WindowKind.Depthwise } depthwise => new DepthwiseKernel(depthwise, widths),
        WindowOp { Kind: WindowKind.MaxPool } pool => new MaxPoolKernel(pool, widths),
        WindowOp { Kind: WindowKind.AveragePool } pool => new AvgPoolKernel(pool, widths),
        PointwiseOp { Int8: true } pointwise => new Int8PointwiseKernel(pointwise, widths),
        PointwiseOp pointwise => new PointwiseKernel(pointwise, widths),
        QuantizeOp quantize => new QuantizeKernel(quantize, widths),
        GlobalPoolOp pool => new GlobalPoolKernel(pool, widths),
        FeatureQuantizeOp features => new FeatureQuantizeKernel(features),
        LinearOp { Int8: true } classifier => new Int8ClassifierKernel(classifier, widths),
        LinearOp classifier => new ClassifierKernel(classifier, widths),
        _ => throw new System.InvalidOperationException("No kernel emitter for " + op.GetType().Name),
    };

    /// <summary>Packed weights of <paramref name="op"/> as the span a <c>WeightPacker</c> call fills.</summary>
    public static string PackedSpan(OpNode op) => $"packed.AsSpan({OperandRefs.WeightOffset(op)}, {op.PackedWeightLength})";

    /// <summary>The packer's alias (<see cref="PackerAlias"/>): a model's weight packing is one call per op.</summary>
    public const string Packer = "WeightPacker";

    public const string PackerAlias = "using " + Packer + " = " + KernelSyntax.Runtime + ".Weights.WeightPacker;";
}
