namespace ShuffleNetGen;

/// <summary>
/// Which permutation the channel shuffle after each unit's first pointwise convolution applies. Both send every group
/// of the first convolution to every group of the second; they differ in which channel goes where, so weights trained
/// with one are wrong under the other (for more than one group).
/// </summary>
public enum ShuffleOrder
{
    /// <summary>
    /// The paper's shuffle: reshape the C channels to (g, C/g), transpose, flatten. Channel <c>i·(C/g) + j</c> of group
    /// <c>i</c> moves to <c>j·g + i</c>. tools/shufflenet.py and most re-implementations use this order.
    /// </summary>
    Paper = 0,

    /// <summary>
    /// The order of megvii's official ShuffleNet v1 code (megvii-model/ShuffleNet-Series): reshape to (C/g, g), transpose,
    /// flatten, the inverse of <see cref="Paper"/>. Channel <c>i·g + j</c> moves to <c>j·(C/g) + i</c>. Their checkpoints
    /// load into a model declared with this order after tools/megvii_convert.py renames the tensors.
    /// </summary>
    Official = 1,
}
