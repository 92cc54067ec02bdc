using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using ShuffleNetGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Which producers pack an int8 convolution's slots in their epilogues (<c>SlotFusion</c>), on lowered graphs: every
/// slot of every quantize layer is packed exactly once, by its own step or by one producer whose channels are exactly
/// that slot's; the v1 unit outputs that line up go to their producers (a stride-1 unit's conv3 packs all of the next
/// conv1's slots, a stride-2 unit's conv3 its half of the concat); the rest keep their step.
/// </summary>
public class SlotFusionTests
{
    private readonly ITestOutputHelper _output;

    public SlotFusionTests(ITestOutputHelper output) => _output = output;

    private static NetworkSpec V1(int groups, int stem, int[] channels, int[] repeats, int inputChannels = 3, int size = 64, int stemStride = 2, bool maxPool = true,
        ChannelShuffleOrder order = ChannelShuffleOrder.Paper) =>
        new(groups, inputChannels, size, size, 10, stem, stemStride, maxPool, new EquatableArray<int>(channels), new EquatableArray<int>(repeats), order, NumericPrecision.Int8);

    public static readonly TheoryData<string> Specs = new() { "g3_1x_224", "g3_small_64", "g8_official_48", "fashion", "g2_odd_33", "v2_x1_0" };

    private static NetworkSpec Spec(string name) => name switch
    {
        "g3_1x_224" => V1(3, 24, new[] { 240, 480, 960 }, new[] { 4, 8, 4 }, size: 224),
        "g3_small_64" => V1(3, 12, new[] { 60, 120, 240 }, new[] { 2, 3, 2 }),
        "g8_official_48" => V1(8, 16, new[] { 64, 128 }, new[] { 2, 2 }, inputChannels: 1, size: 48, stemStride: 1, maxPool: false, order: ChannelShuffleOrder.Official),
        "fashion" => V1(3, 12, new[] { 120, 240, 480 }, new[] { 4, 8, 4 }, inputChannels: 1, size: 28, stemStride: 1, maxPool: false),
        "g2_odd_33" => V1(2, 24, new[] { 48, 96, 192, 384 }, new[] { 1, 2, 2, 1 }, size: 33),
        _ => V2LoweringTests.Spec(ReferenceV2Config.ForScale(1.0)) with { Precision = NumericPrecision.Int8 },
    };

    /// <summary>
    /// The int8 arena: two tensors alive at one step share memory only where a residual 1x1 convolution writes its
    /// output over its residual (<see cref="ArenaPlanner.InPlaceOver"/>): same offset and length, the residual's last
    /// step and the output's first being the convolution's. 1x g=3 224 and the Fashion-MNIST model run such units, and
    /// their arenas are then shorter than the same tensors planned apart.
    /// </summary>
    [Theory]
    [MemberData(nameof(Specs))]
    public void Int8TensorsShareMemoryOnlyWhereAConvolutionWritesOverItsLastReadResidual(string name)
    {
        var graph = ModelPipeline.Build(Spec(name));
        var tensors = graph.Tensors.Where(t => t.InArena).ToList();
        int inPlace = 0;
        for (int i = 0; i < tensors.Count; i++)
            for (int j = i + 1; j < tensors.Count; j++)
            {
                var (a, b) = (tensors[i], tensors[j]);
                bool aliveTogether = a.FirstStep <= b.LastStep && b.FirstStep <= a.LastStep;
                bool shareMemory = a.Offset < b.Offset + b.Length && b.Offset < a.Offset + a.Length;
                if (!aliveTogether || !shareMemory) continue;
                var conv = graph.Ops.OfType<PointwiseOp>().SingleOrDefault(c => c.Residual is { } r
                    && (c.Output.Name == a.Name && r.Name == b.Name || c.Output.Name == b.Name && r.Name == a.Name));
                Assert.True(conv is not null, $"{a.Name} [{a.Offset}, +{a.Length}) steps {a.FirstStep}-{a.LastStep} overlaps {b.Name} [{b.Offset}, +{b.Length}) steps {b.FirstStep}-{b.LastStep}");
                var (output, residual) = conv!.Output.Name == a.Name ? (a, b) : (b, a);
                Assert.True(conv.Int8);
                Assert.Equal(residual.Offset, output.Offset);
                Assert.Equal(residual.Length, output.Length);
                Assert.Equal(conv.Step, residual.LastStep);
                Assert.Equal(conv.Step, output.FirstStep);
                inPlace++;
            }
        long apart = ArenaPlanner.Plan(tensors.Select(t => new ArenaTensor(t.Length, new LiveRange(t.FirstStep, t.LastStep))).ToList()).ArenaLength;
        _output.WriteLine($"{name}: {inPlace} outputs written over their residual; arena {graph.ArenaLength * 4} bytes, {apart * 4} with every tensor apart");
        if (name is "g3_1x_224" or "fashion")
        {
            Assert.True(inPlace > 0);
            Assert.True(graph.ArenaLength < apart, $"{name}: arena {graph.ArenaLength} not below {apart}");
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void EverySlotIsPackedOnceByItsStepOrTheProducerOfItsChannels(string name)
    {
        var graph = ModelPipeline.Build(Spec(name));
        int packedByProducers = 0, steps = 0;
        foreach (var quantize in graph.Ops.OfType<QuantizeOp>())
        {
            var packers = graph.Ops.Select(Packer).Where(p => p.Packs?.QuantizeName == quantize.Name).ToList();
            Assert.Equal(packers.Select(p => p.Op.Name).Order(StringComparer.Ordinal), quantize.PackedBy.Order(StringComparer.Ordinal));
            var owner = new string?[quantize.SlotCount];
            for (int s = 0; s < quantize.OwnSlots; s++) owner[s] = quantize.Name;
            int quads = QuantizeOp.Quads(quantize.InPerGroup);
            foreach (var (producer, packs, channels) in packers)
            {
                Assert.Same(quantize.Output, packs!.Slots);
                Assert.True(producer.Step < quantize.Step);
                Assert.Same(quantize.Input, producer.Output);
                // A depthwise output packed on the stack is in no arena and read by nothing that runs.
                if (producer is WindowOp)
                {
                    Assert.False(producer.Output.InArena);
                    Assert.DoesNotContain(graph.Ops.Where(o => o.Runs), o => o.Reads.Contains(producer.Output));
                }
                // The producer's channels are exactly the planes the consumer reads in those slots.
                for (int o = 0; o < channels; o++)
                {
                    int c = packs.ChannelOffset + o;
                    Assert.Equal(quantize.InputPlanes[c], producer.OutputPlanes[o]);
                    int slot = packs.SlotOf(c);
                    Assert.True(owner[slot] is null || owner[slot] == producer.Name, $"{quantize.Name}: slot {slot} packed by {owner[slot]} and {producer.Name}");
                    owner[slot] = producer.Name;
                }
                packedByProducers++;
            }
            for (int s = 0; s < owner.Length; s++) Assert.True(owner[s] is not null, $"{quantize.Name}: slot {s} packed by no one");
            // Every channel's slot is its owner's: no slot mixes a producer's channels with the step's.
            for (int c = 0; c < quantize.InputChannels; c++)
            {
                int slot = c / quantize.InPerGroup * quads + c % quantize.InPerGroup / 4;
                var producer = packers.SingleOrDefault(p => c >= p.Packs!.ChannelOffset && c < p.Packs.ChannelOffset + p.Channels);
                Assert.Equal(producer.Op?.Name ?? quantize.Name, owner[slot]);
            }
            if (quantize.Runs) steps++;
        }
        _output.WriteLine($"{name}: {packedByProducers} producers pack slots; {steps} quantize steps of {graph.Ops.OfType<QuantizeOp>().Count()} remain; arena {graph.ArenaLength * 4} bytes");
    }

    /// <summary>An op that can pack slots, what it packs and how many channels it computes.</summary>
    private static (OpNode Op, SlotPacking? Packs, int Channels) Packer(OpNode op) => op switch
    {
        PointwiseOp p => (p, p.Packs, p.OutChannels),
        WindowOp d => (d, d.Packs, d.Channels),
        _ => (op, null, 0),
    };

    /// <summary>
    /// The 1x g=3 model: each unit's conv3 packs the next unit's conv1 slots (all of them after a stride-1 unit, its
    /// half of the concat after a stride-2 unit, the pool's half still quantized by the step); units.0.conv1 (after the
    /// max pool) keeps its step; each depthwise convolution packs its conv3's. G=8's stride-2 units put 6 channels of a group next to a
    /// pool's, which do not fill whole slots of the next conv1's 8-channel groups: that step stays whole.
    /// </summary>
    [Fact]
    public void UnitOutputsArePackedWhereTheirChannelsLineUpWithTheSlots()
    {
        var graph = ModelPipeline.Build(Spec("g3_1x_224"));
        var quantizes = graph.Ops.OfType<QuantizeOp>().ToDictionary(q => q.Convolution);
        for (int unit = 1; unit < 16; unit++)
        {
            var q = quantizes[$"units.{unit}.conv1"];
            Assert.Equal(new[] { $"units.{unit - 1}.conv3" }, q.PackedBy);
            // After a stride-2 unit (0, 4, 12) the pool's 240/480 channels are the first slots of the concat's groups.
            bool afterConcat = unit - 1 is 0 or 4 or 12;
            int poolChannels = unit - 1 == 0 ? 24 : unit - 1 == 4 ? 240 : 480;
            Assert.Equal(afterConcat ? poolChannels / 4 : 0, q.OwnSlots);
        }
        Assert.Empty(quantizes["units.0.conv1"].PackedBy);
        // Each depthwise output lives on the stack, packed by the depthwise convolution for conv3.
        for (int unit = 0; unit < 16; unit++)
        {
            Assert.Equal(new[] { $"units.{unit}.dw" }, quantizes[$"units.{unit}.conv3"].PackedBy);
            Assert.False(quantizes[$"units.{unit}.conv3"].Runs);
        }

        var g8 = ModelPipeline.Build(Spec("g8_official_48"));
        var afterStride2 = g8.Ops.OfType<QuantizeOp>().Single(q => q.Convolution == "units.1.conv1");
        Assert.Empty(afterStride2.PackedBy);
        Assert.Equal(afterStride2.SlotCount, afterStride2.OwnSlots);
    }
}
