using System.Collections.Generic;

namespace ShuffleNetGen.Generator.Lowering;

/// <summary>
/// Puts the max pool after the stem into the stem's step: the stem computes a band of its output rows, every channel,
/// into scratch on its stack, and the pool reads that band straight into its own output. The stem's output (at 224x224
/// 24 planes of 112x112, 1.2 MB, more than a core's L2) then never leaves the cache or enters the arena, where it and
/// the pool's output made the largest live set of v2 and of the first unit of v1. The tensor stays in the graph, out of
/// the arena, as the description's name for what the stem computes (calibration's float pass computes it).
/// </summary>
internal static class StemPoolFusion
{
    /// <summary>
    /// Floats of stem rows a band may hold on the stack, at most: 64 KiB, a few rows of a 224x224 stem (each 24 x 112
    /// floats, 10.5 KiB), within L2 beside the input rows they come from.
    /// </summary>
    public const int MaxScratchFloats = 16384;

    /// <summary>
    /// The pool rows one band computes: as many as their stem rows (two per pool row and the one above them) fit in
    /// <see cref="MaxScratchFloats"/>, at least one; 0 when even one does not fit.
    /// </summary>
    public static int PoolRowsPerBand(TensorNode stem, int poolHeight)
    {
        long rows = MaxScratchFloats / ((long)stem.Channels * stem.Width);
        return (int)System.Math.Min(poolHeight, System.Math.Max(0, (rows - 1) / 2));
    }

    /// <summary>Stem rows of scratch a band needs: its pool rows' two each and the row above them.</summary>
    public static int ScratchRows(int poolRowsPerBand) => 2 * poolRowsPerBand + 1;

    /// <summary>The scratch rows of a fused stem's band (<see cref="WindowOp.Pools"/> set).</summary>
    public static int ScratchRows(WindowOp stem) => ScratchRows(PoolRowsPerBand(stem.Output, stem.Pools!.Output.Height));

    /// <summary>
    /// Fuses each stem convolution whose output only a stride-2 max pool reads, both over all planes in order, where a
    /// band of at least one pool row fits the scratch: the stem gets <see cref="WindowOp.Pools"/>, the pool is no step, and
    /// the stem's output leaves the arena.
    /// </summary>
    public static void Fuse(List<OpNode> ops, List<TensorNode> tensors)
    {
        for (int i = 0; i + 1 < ops.Count; i++)
        {
            if (ops[i] is not WindowOp { Kind: WindowKind.Convolution, Pools: null } stem || ops[i + 1] is not WindowOp { Kind: WindowKind.MaxPool, Stride: 2 } pool) continue;
            var output = stem.Output;
            if (!ReferenceEquals(pool.Input, output) || !output.InArena) continue;
            if (!Whole(stem.OutputPlanes, output) || !Whole(pool.InputPlanes, output) || !Whole(pool.OutputPlanes, pool.Output)) continue;
            if (ReadByOthers(ops, output, pool) || PoolRowsPerBand(output, pool.Output.Height) == 0) continue;

            var stackOnly = new TensorNode(output.Name, output.Channels, output.Height, output.Width, inArena: false);
            tensors[tensors.IndexOf(output)] = stackOnly;
            var pooled = new WindowOp(pool.Name, pool.Section, pool.Kind, stackOnly, pool.Output, pool.OutputPlanes, pool.Channels, pool.Stride, pool.Relu, pool.BatchNorm)
            {
                Step = pool.Step, InputPlanes = pool.InputPlanes, PooledBy = stem.Name,
            };
            ops[i] = new WindowOp(stem.Name, stem.Section, stem.Kind, stem.Input, stackOnly, stem.OutputPlanes, stem.Channels, stem.Stride, stem.Relu, stem.BatchNorm)
            {
                Step = stem.Step, InputPlanes = stem.InputPlanes, Pools = pooled,
            };
            ops[i + 1] = pooled;
        }
    }

    private static bool Whole(PlaneMap planes, TensorNode tensor) => planes.IsContiguous && planes.Start == 0 && planes.Count == tensor.Channels;

    private static bool ReadByOthers(List<OpNode> ops, TensorNode tensor, OpNode pool)
    {
        foreach (var op in ops)
        {
            if (ReferenceEquals(op, pool)) continue;
            foreach (var read in op.Reads)
                if (ReferenceEquals(read, tensor)) return true;
        }
        return false;
    }
}
