using System.Reflection;
using System.Runtime.Intrinsics.Arm;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Passes;
using ShuffleNetGen.Kernels;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The stem convolution and the max pool in one step (<c>StemPoolFusion</c>, <c>StemPoolKernel</c>): the stem's output
/// leaves the arena, and the fused step computes what a 3x3 convolution, ReLU and 3x3 max pool compute by their
/// definitions, with the same bits however a team splits its pool rows.
/// </summary>
public class StemPoolTests
{
    private readonly ITestOutputHelper _output;

    public StemPoolTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void TheStemOutputLeavesTheArenaWhereAMaxPoolFollows()
    {
        var graph = ModelPipeline.Build(V2LoweringTests.Spec(ReferenceV2Config.ForScale(1.0)));
        var stem = graph.Tensors.Single(t => t.Name == "stem");
        Assert.False(stem.InArena);
        var conv = Assert.IsType<WindowOp>(graph.Ops.Single(op => ReferenceEquals(op.Output, stem)));
        var pool = Assert.IsType<WindowOp>(graph.Ops.Single(op => op.Name == "maxpool"));
        Assert.Same(pool.Output, conv.Pools!.Output);
        Assert.False(pool.Runs);
        // The pool's output is written at the stem's step, so it is alive from there.
        Assert.Equal(conv.Step, graph.Tensors.Single(t => t.Name == "maxpool").FirstStep);
        Assert.Equal(-1, stem.Offset);
        Assert.True(graph.ArenaLength <= graph.LiveLowerBound, $"arena {graph.ArenaLength} above the live bound {graph.LiveLowerBound}");
    }

    /// <summary>
    /// A stem of 24 channels on 23 x 225 (45 x 450 input): a band of one pool row (three stem rows), so twelve bands with
    /// a row carried between them; a bottom pool row without its lower taps (23 stem rows) and a right column without its
    /// right taps (225 stem columns). Each variant (but AdvSimd off ARM64) is run whole and in uneven parts, on a stack not
    /// cleared (SkipLocalsInit), against the definition.
    /// </summary>
    [Fact]
    public void TheFusedStepMatchesTheDefinitionInAnySplit()
    {
        const int inC = 3, inH = 45, inW = 450, channels = 24;
        var compilation = GeneratorHarness.Generate(skipLocalsInit: true,
            $"using ShuffleNetGen;\nnamespace Fused;\n[ShuffleNet(Groups = 3, Scale = 0.25, StemChannels = {channels}, InputHeight = {inH}, InputWidth = {inW}, Classes = 5)]\npublic partial class Model;");
        var type = GeneratorHarness.EmitAndLoad(compilation).GetTypes().Single(t => t.Name == "Model");
        var methods = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static);
        var bands = methods.Single(m => m.Name.StartsWith("Conv3x3_", StringComparison.Ordinal) && m.Name.EndsWith("_MaxPool_Bands", StringComparison.Ordinal));
        var widths = type.GetNestedTypes(BindingFlags.NonPublic).Where(t => t.Name.StartsWith(bands.Name[..^"Bands".Length], StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(widths);

        var random = new Random(11);
        float[] input = Enumerable.Range(0, inC * inH * inW).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] weights = Enumerable.Range(0, channels * (inC * 9 + 1)).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var expected = Definition(input, weights, inC, inH, inW, channels, out int poolH, out int poolW);

        foreach (var width in widths)
        {
            if (width.Name.EndsWith("_AdvSimd", StringComparison.Ordinal) && !AdvSimd.Arm64.IsSupported) continue;
            var run = bands.MakeGenericMethod(width).CreateDelegate<Fused>();
            float[] Run(params int[] cuts)
            {
                var output = new float[channels * poolH * poolW];
                Array.Fill(output, float.NaN);
                for (int k = 0; k + 1 < cuts.Length; k++) run(ref input[0], ref output[0], ref weights[0], new WorkPart(cuts[k], cuts[k + 1]));
                return output;
            }
            var whole = Run(0, poolH);
            for (int i = 0; i < whole.Length; i++)
                Assert.True(Math.Abs(whole[i] - expected[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"{width.Name}: {whole[i]} at {i}, the definition {expected[i]}");
            foreach (var cuts in new[] { new[] { 0, 1, poolH }, new[] { 0, 5, 6, poolH - 1, poolH }, new[] { 0, 3, 7, 8, poolH } })
            {
                var parts = Run(cuts);
                for (int i = 0; i < whole.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(parts[i]) == BitConverter.SingleToInt32Bits(whole[i]), $"{width.Name} in parts {string.Join(",", cuts)}: {parts[i]} at {i}, whole {whole[i]}");
            }
            _output.WriteLine($"{width.Name}: matches in {poolH} pool rows, whole and in parts");
        }
    }

    private delegate void Fused(ref float source, ref float destination, ref float weights, WorkPart part);

    /// <summary>Stride-2 3x3 convolution with zero padding, bias, ReLU, then the stride-2 3x3 max pool over the cells that exist.</summary>
    private static float[] Definition(float[] input, float[] weights, int inC, int inH, int inW, int channels, out int poolH, out int poolW)
    {
        int h = (inH - 1) / 2 + 1, w = (inW - 1) / 2 + 1;
        var stem = new double[channels, h, w];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double sum = weights[c * (inC * 9 + 1) + inC * 9];
                    for (int ci = 0; ci < inC; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++)
                            {
                                int iy = 2 * y + ky - 1, ix = 2 * x + kx - 1;
                                if (iy >= 0 && iy < inH && ix >= 0 && ix < inW)
                                    sum += (double)input[(ci * inH + iy) * inW + ix] * weights[c * (inC * 9 + 1) + ci * 9 + ky * 3 + kx];
                            }
                    stem[c, y, x] = Math.Max(sum, 0);
                }
        poolH = (h - 1) / 2 + 1;
        poolW = (w - 1) / 2 + 1;
        var pooled = new float[channels * poolH * poolW];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < poolH; y++)
                for (int x = 0; x < poolW; x++)
                {
                    double max = double.NegativeInfinity;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int sy = 2 * y + ky - 1, sx = 2 * x + kx - 1;
                            if (sy >= 0 && sy < h && sx >= 0 && sx < w) max = Math.Max(max, stem[c, sy, sx]);
                        }
                    pooled[(c * poolH + y) * poolW + x] = (float)max;
                }
        return pooled;
    }
}
