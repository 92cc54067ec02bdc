using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator;
using ShuffleNetGen.Generator.Attributes;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;
using ShuffleNetGen.Generator.Passes;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The parse step checks size limits on <see cref="ModelSizes"/>, computed from the declaration's shapes; Generate
/// lowers and plans. Both must arrive at the same figures, or a declaration would pass the check and then emit an
/// arena or weight array past int indexing (or be refused for a size it does not have).
/// </summary>
public class ModelSizesTests
{
    public static readonly TheoryData<string, string> ReferenceMatrix = ReferenceMatrixTests.Cases;

    [Theory]
    [MemberData(nameof(ReferenceMatrix))]
    public void ClosedFormMatchesThePlanForTheReferenceMatrix(string name, string arguments)
    {
        var settings = AttributeSettings(arguments);
        var (network, errors) = NetworkResolver.Resolve(settings);
        Assert.True(network is not null, name + ": " + string.Join("; ", errors.Select(e => e.Descriptor.Id)));
        AssertClosedFormMatchesThePlan(network!);
    }

    /// <summary>
    /// A spread the matrix does not reach: every group count, scales from 0.25x to 4x, one to four stages of one to
    /// six units, odd and tiny inputs, both stems, explicit widths and int8. The greedy planner's arena is not the live
    /// lower bound for many of these (alignment and fragmentation), so the comparison is with the placement itself.
    /// </summary>
    [Fact]
    public void ClosedFormMatchesThePlanForASpreadOfConfigurations()
    {
        var random = new Random(20261129);
        int checkedCount = 0;
        for (int i = 0; i < 400; i++)
        {
            int groups = new[] { 1, 2, 3, 4, 8 }[random.Next(5)];
            int stageCount = random.Next(1, 5);
            var settings = NetworkSettings.Default with
            {
                Groups = groups,
                Scale = new[] { 0.25, 0.5, 1.0, 1.5, 2.0, 4.0 }[random.Next(6)],
                Stages = Enumerable.Range(0, stageCount).Select(_ => random.Next(1, 7)).ToEquatableArray(),
                InputChannels = random.Next(1, 5),
                InputHeight = random.Next(1, 300),
                InputWidth = random.Next(1, 300),
                Classes = random.Next(1, 2000),
                StemStride = random.Next(1, 3),
                StemMaxPool = random.Next(2) == 0,
                // int8 adds a quantize step and a packed tensor before every 1x1 convolution, and packs weights differently.
                Precision = random.Next(3) == 0 ? (int)NumericPrecision.Int8 : (int)NumericPrecision.Float32,
            };
            if (random.Next(4) == 0)
            {
                int quantum = 4 * groups, stem = groups * random.Next(1, 8);
                int first = (stem / quantum + 1 + random.Next(4)) * quantum;
                settings = settings with { StemChannels = stem, StageChannels = Enumerable.Range(0, stageCount).Select(s => first << s).ToEquatableArray() };
            }
            var (network, _) = NetworkResolver.Resolve(settings);
            if (network is null) continue;
            AssertClosedFormMatchesThePlan(network);
            checkedCount++;
        }
        Assert.True(checkedCount > 300, $"only {checkedCount} of the generated configurations were valid");
    }

    [Fact]
    public void TheOversizedDeclarationGetsThePlannedArenaInItsMessage()
    {
        // The declaration DiagnosticLocationTests pins SNG0011's message with: its figure is the placement's.
        var settings = NetworkSettings.Default with { InputHeight = 4096, InputWidth = 4096, StemStride = 1, StemMaxPool = false, StemChannels = 240, Scale = 4 };
        var (network, errors) = NetworkResolver.Resolve(settings);
        Assert.Empty(errors);
        Assert.Equal(12079595520, ArenaPlanner.Plan(ModelSizes.ArenaTensors(network!)).ArenaLength);
        Assert.Equal(ModelPipeline.Build(network!).ArenaLength, ArenaPlanner.Plan(ModelSizes.ArenaTensors(network!)).ArenaLength);
    }

    private static void AssertClosedFormMatchesThePlan(NetworkSpec network)
    {
        var graph = ModelPipeline.Build(network);
        var arena = graph.Tensors.Where(t => t.InArena).ToList();
        var closedForm = ModelSizes.ArenaTensors(network);

        Assert.Equal(arena.Select(t => (t.Length, t.FirstStep, t.LastStep)), closedForm.Select(t => (t.Length, t.Live.First, t.Live.Last)));
        Assert.Equal(graph.ArenaLength, ArenaPlanner.Plan(closedForm).ArenaLength);
        Assert.InRange(graph.ArenaLength, 0, ArenaPlanner.UpperBound(closedForm.Select(t => t.Length)));
        Assert.Equal(graph.PackedWeightLength, ModelSizes.PackedWeightLength(network));
        Assert.Equal((long)graph.Tensors[0].Channels * graph.Tensors[0].Height * graph.Tensors[0].Width, ModelSizes.InputLength(network));
    }

    /// <summary>The settings a <c>[ShuffleNet(arguments)]</c> declaration reads, through the generator's own attribute reader.</summary>
    private static NetworkSettings AttributeSettings(string arguments)
    {
        var compilation = GeneratorHarness.CreateCompilation($"using ShuffleNetGen; [ShuffleNet({arguments})] public partial class Model;");
        var model = compilation.GetTypeByMetadataName("Model")!;
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        return AttributeDeclarationParser.ReadSettings(model.GetAttributes().Single());
    }
}
