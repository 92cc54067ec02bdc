using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using ShuffleNetGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// ShuffleNet v2's memory, counted with each half as a tensor of its own: a plane holds a value from the op that writes
/// it to the last op that reads it before it is written again, so the most planes alive at one step (times their
/// sizes) is what any plan of this op order needs. The arena is compared with that bound, not with the planner's
/// per-tensor one, in which a stage's tensor counts whole while its free planes wait.
/// </summary>
public class V2ArenaTests
{
    private readonly ITestOutputHelper _output;

    public V2ArenaTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string, double, int, int, int[]?, int[]?, int> Configurations => new()
    {
        { "x0.5 224", 0.5, 224, 224, null, null, 0 },
        { "x1.0 224", 1.0, 224, 224, null, null, 0 },
        { "x1.5 224", 1.5, 224, 224, null, null, 0 },
        { "x2.0 224", 2.0, 224, 224, null, null, 0 },
        { "custom 57x41", 1.0, 57, 41, new[] { 32, 64, 128 }, new[] { 2, 3, 2 }, 16 },
        { "odd halves 17x13", 1.0, 17, 13, new[] { 20, 44, 92 }, new[] { 3, 1, 2 }, 12 },
        { "four stages 80x72", 1.0, 80, 72, new[] { 16, 32, 48, 64 }, new[] { 1, 2, 2, 1 }, 12 },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void TheArenaIsAtMostThePlanesAliveAtOnce(string name, double scale, int height, int width, int[]? stages, int[]? repeats, int stem)
    {
        var config = stages is null ? ReferenceV2Config.ForScale(scale, height, width)
            : new ReferenceV2Config(stem, stages, repeats!, 64, 3, height, width, 10);
        var graph = ModelPipeline.Build(V2LoweringTests.Spec(config));
        long bound = PlanesAliveBound(graph, out int peakStep);
        var peaks = StrideOnePeaks(graph);
        _output.WriteLine($"{name}: ArenaLength {graph.ArenaLength}, planes-alive bound {bound} (at {graph.Ops[peakStep].Name}), planner's per-tensor bound {graph.LiveLowerBound}; "
            + $"stride-1 unit peaks (planes): {string.Join(", ", peaks.Select(p => $"{p.Stage} {p.Planes} of width {p.Width}"))}");
        Assert.True(graph.ArenaLength <= bound, $"{name}: arena {graph.ArenaLength} > bound {bound}");
        // A stride-1 unit holds its two halves and its branch's output: 1.5 widths, where the stage's input is at most
        // half its width (torchvision's widths); a wider input keeps room for branch1's depthwise output.
        Assert.All(peaks, p => Assert.Equal(p.Width * 3 / 2 + Math.Max(0, p.StageInput - p.Width / 2), p.Planes));
    }

    /// <summary>The most floats of planes holding a value some later op still reads, at any step.</summary>
    private static long PlanesAliveBound(NetworkGraph graph, out int peakStep)
    {
        // For each tensor plane, the steps of its writes and reads in order; a value lives from a write to its last read.
        var events = new Dictionary<(TensorNode, int), List<(int Step, bool Write)>>();
        void Add(TensorNode t, int plane, int step, bool write)
        {
            if (!t.InArena) return;
            if (!events.TryGetValue((t, plane), out var list)) events[(t, plane)] = list = new();
            list.Add((step, write));
        }
        foreach (var op in graph.Ops)
        {
            var reads = new List<(TensorNode, PlaneMap)> { (op.Input, op.InputPlanes) };
            if (op is PointwiseOp { Residual: { } residual }) reads.Add((residual, PlaneMap.Contiguous(0, op.OutputPlanes.Count)));
            foreach (var (t, map) in reads)
                foreach (int plane in map.ToArray()) Add(t, plane, op.Step, write: false);
            // A quantized tensor's slots are not planes: the op writes all of them.
            foreach (int plane in op.Output.Quantized ? Enumerable.Range(0, op.Output.Channels) : op.OutputPlanes.ToArray())
                Add(op.Output, plane, op.Step, write: true);
        }
        // Per tensor and step, the floats of its planes holding a value; each tensor's rounded up to the 16-float
        // alignment every plan keeps tensors at.
        var perTensor = new Dictionary<TensorNode, long[]>();
        foreach (var ((tensor, _), list) in events)
        {
            if (!perTensor.TryGetValue(tensor, out var floats)) perTensor[tensor] = floats = new long[graph.Ops.Count];
            int start = -1, last = -1;
            foreach (var (step, write) in list.OrderBy(e => e.Step).ThenBy(e => e.Write ? 1 : 0))
            {
                if (write)
                {
                    if (start >= 0) for (int s = start; s <= last; s++) floats[s] += tensor.Pixels;
                    start = last = step;
                }
                else last = step;
            }
            if (start >= 0) for (int s = start; s <= last; s++) floats[s] += tensor.Pixels;
        }
        var alive = new long[graph.Ops.Count];
        foreach (var floats in perTensor.Values)
            for (int s = 0; s < alive.Length; s++) alive[s] += (floats[s] + ArenaPlanner.Alignment - 1) / ArenaPlanner.Alignment * ArenaPlanner.Alignment;
        peakStep = Array.IndexOf(alive, alive.Max());
        return alive.Max();
    }

    private static List<(string Stage, int Planes, int Width, int StageInput)> StrideOnePeaks(NetworkGraph graph)
    {
        var peaks = new List<(string, int, int, int)>();
        foreach (var section in graph.Sections.Where(s => s.Summary?.Contains("stride 1") == true))
        {
            var op = graph.Ops.First(o => o.Section.Equals(section));
            var live = graph.Tensors.Where(t => t.InArena && t.FirstStep <= op.Step && op.Step <= t.LastStep).ToList();
            var stage = Assert.Single(live);
            // The unit's first op, its branch's 1x1 convolution, reads the second half.
            // The stage's downsampling unit's branch1 depthwise read the stage's input.
            var stageInput = graph.Ops.OfType<WindowOp>().First(o => o.Kind == WindowKind.Depthwise && o.Output == stage && o.Name.Contains(".branch1.", StringComparison.Ordinal));
            peaks.Add((stage.Name, stage.Channels, 2 * op.InputPlanes.Count, stageInput.Channels));
        }
        return peaks;
    }
}
