namespace ShuffleNetGen;

/// <summary>The arithmetic a generated model computes in.</summary>
public enum Precision
{
    /// <summary>32-bit floats throughout (the default).</summary>
    Float32 = 0,

    /// <summary>
    /// The 1x1 group convolutions, which hold nearly all multiply-adds, in 8-bit integers: weights symmetric with one
    /// scale per output channel, their input activations quantized to 0..127 with a per-tensor scale and zero point
    /// from calibration, accumulation in 32-bit integers. The stem, depthwise convolutions, pools and classifier stay
    /// float. The weights need the calibration tensors that <c>ShuffleNetGen.Quantization.Int8Calibration</c> adds.
    /// </summary>
    Int8 = 1,
}
