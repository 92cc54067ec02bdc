using System.Collections.Concurrent;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Reference;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Generated models against the independent scalar references (v1's and v2's), over a matrix of group counts, scales,
/// input shapes, stage counts and stem variants. Each case is generated, compiled and loaded in-process.
/// </summary>
public class ReferenceMatrixTests
{
    private readonly ITestOutputHelper _output;

    public ReferenceMatrixTests(ITestOutputHelper output) => _output = output;

    public const double Tolerance = ReferenceCases.Tolerance;

    /// <summary>Attribute and its arguments of each case (<see cref="ReferenceCases.All"/>); the class is always named Model.</summary>
    public static readonly TheoryData<string, string, string> Cases = ToTheoryData(ReferenceCases.All);

    private static TheoryData<string, string, string> ToTheoryData(IEnumerable<(string Name, string Attribute, string Arguments)> cases)
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (name, attribute, arguments) in cases) data.Add(name, attribute, arguments);
        return data;
    }

    public static string Source(string attribute, string arguments) => $$"""
        using ShuffleNetGen;
        namespace Matrix;
        [{{attribute}}({{arguments}})]
        public partial class Model;
        """;

    /// <summary>
    /// One compile per case, shared by both theories: the description (all the plan test reads) does not depend on
    /// SkipLocalsInit. The cached models' collectible contexts stay loaded until the test process ends. The images go
    /// through <see cref="CompiledImages"/>, so the width children of <see cref="VectorWidthTests"/> load them.
    /// </summary>
    private static readonly ConcurrentDictionary<string, Lazy<LoadedModel>> s_compiled = new();

    internal static LoadedModel Compiled(string name, string attribute, string arguments) =>
        s_compiled.GetOrAdd(name, _ => new Lazy<LoadedModel>(() => LoadedModel.CompileShared(Source(attribute, arguments), skipLocalsInit: true))).Value;

    /// <summary>Compiles every case not compiled yet (in parallel: the cases are independent).</summary>
    private static readonly ConcurrentDictionary<string, Lazy<float[]>> s_references = new();

    /// <summary>
    /// The scalar reference's logits for a case (v1's or v2's reference, by the model's family), with its weights and
    /// input; computed once per process.
    /// </summary>
    internal static float[] ReferenceLogits(string name, string attribute, string arguments) =>
        s_references.GetOrAdd(name, _ => new Lazy<float[]>(() =>
        {
            var compiled = Compiled(name, attribute, arguments);
            var d = compiled.Description;
            var weights = RandomWeights.Create(compiled.WeightLayout, seed: ReferenceCases.WeightSeed(name));
            var input = ReferenceCases.Input(d.InputChannels * d.InputHeight * d.InputWidth);
            return ReferenceCases.ReferenceLogits(d, n => weights[n].Data, input);
        })).Value;

    internal static void CompileEveryCase() =>
        Parallel.ForEach(ReferenceCases.All, c => Compiled(c.Name, c.Attribute, c.Arguments));

    /// <summary>
    /// Every case is compiled into a module with <c>[module: SkipLocalsInit]</c> and run on a stack dirtied with NaN
    /// first, so a kernel that reads scratch it did not write (assuming <c>stackalloc</c> zeroes) fails here
    /// deterministically instead of depending on what the stack happened to hold. The width children of
    /// <see cref="VectorWidthTests"/> run this too, so every vector variant is checked this way.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsMatchTheScalarReference(string name, string attribute, string arguments)
    {
        var compiled = Compiled(name, attribute, arguments);
        var d = compiled.Description;
        var weights = RandomWeights.Create(compiled.WeightLayout, seed: ReferenceCases.WeightSeed(name));
        var model = compiled.FromTensors(weights);

        var input = ReferenceCases.Input(d.InputChannels * d.InputHeight * d.InputWidth);

        var logits = new float[d.Classes];
        DirtyStack();
        model.Forward(input, logits);

        var expected = ReferenceLogits(name, attribute, arguments);

        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = logits.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        _output.WriteLine($"{name}: max |logit| {scale:G4}, max relative error {worst:E2}");
        Assert.True(scale > 1e-3, "reference logits are all near zero: the test would not see errors");
        Assert.True(worst <= Tolerance, $"{name}: max error {worst:E3} relative to the largest logit {scale:G4}");
        Assert.DoesNotContain(logits, float.IsNaN);

        // Same input twice: the arena holds no state between calls.
        var again = new float[d.Classes];
        DirtyStack();
        model.Forward(input, again);
        Assert.Equal(logits, again);
    }

    /// <summary>
    /// Fills the stack below the caller's frame with NaN bit patterns; the next call from the same frame (Forward)
    /// gets its frames, and any <c>stackalloc</c> in them, in this memory. 128 KB covers the deepest kernel scratch
    /// (a padded plane is at most 64 KB).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal static void DirtyStack()
    {
        Span<float> junk = stackalloc float[32 * 1024];
        junk.Fill(float.NaN);
        GC.KeepAlive(junk[junk.Length - 1]);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MemoryPlanNeverOverlapsLiveTensors(string name, string attribute, string arguments)
    {
        AssertPlanIsSound(Compiled(name, attribute, arguments).Description);
    }

    internal static void AssertPlanIsSound(ModelDescription d)
    {
        foreach (var slot in d.MemoryPlan)
        {
            Assert.InRange(slot.Offset, 0, d.ArenaLength - slot.Length);
            Assert.True(slot.FirstStep <= slot.LastStep, slot.Tensor);
        }
        for (int i = 0; i < d.MemoryPlan.Count; i++)
        {
            for (int j = i + 1; j < d.MemoryPlan.Count; j++)
            {
                var a = d.MemoryPlan[i];
                var b = d.MemoryPlan[j];
                bool aliveTogether = a.FirstStep <= b.LastStep && b.FirstStep <= a.LastStep;
                bool shareMemory = a.Offset < b.Offset + b.Length && b.Offset < a.Offset + a.Length;
                Assert.False(aliveTogether && shareMemory, $"{a.Tensor} [{a.Offset}, +{a.Length}) steps {a.FirstStep}-{a.LastStep} overlaps {b.Tensor} [{b.Offset}, +{b.Length}) steps {b.FirstStep}-{b.LastStep}");
            }
        }
        Assert.True(d.ArenaLength >= d.LiveLowerBound);
        Assert.True(d.ArenaLength <= d.NaiveActivationLength);
    }
}
