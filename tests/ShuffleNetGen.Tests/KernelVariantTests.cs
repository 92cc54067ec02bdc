using System.Reflection;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ShuffleNetGen.Kernels;
using ShuffleNetGen.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// Every variant a window or float pointwise kernel's dispatcher can pick computes what its last, portable variant
/// computes, each called directly rather than through the dispatcher. So the Vector512 and Vector256 variants are run
/// on every machine, including one whose dispatcher would never pick them (the reference matrix checks only the variant
/// the machine picks): where Vector512 is not accelerated, the runtime's <c>Simd</c> helpers fall back to software.
/// AdvSimd variants run only on ARM64. The edge-split window bodies (Vector512, Vector256, AdvSimd) must match the
/// portable one bit for bit where their width is accelerated: each lane sums its taps in the same order, which keeps
/// logits identical across widths (a width emulated in software may multiply and add apart where the portable code
/// fuses them).
/// </summary>
public class KernelVariantTests
{
    private readonly ITestOutputHelper _output;

    public KernelVariantTests(ITestOutputHelper output) => _output = output;

    private delegate void Unweighted(ref float source, ref float destination);

    private delegate void Weighted(ref float source, ref float destination, ref float weights);

    private delegate void WithResidual(ref float source, ref float destination, ref float weights, ref float residual);

    private delegate void UnweightedPart(ref float source, ref float destination, WorkPart part);

    private delegate void WeightedPart(ref float source, ref float destination, ref float weights, WorkPart part);

    private delegate void WithResidualPart(ref float source, ref float destination, ref float weights, ref float residual, WorkPart part);

    private static readonly string[] s_prefixes = { "Conv3x3_", "Depthwise3x3_", "MaxPool3x3_", "AvgPool3x3_", "Pointwise_" };

    [Theory]
    [InlineData("Groups = 3, Scale = 1.0")] // the paper's: wide interiors, row vectors, flat planes, the blocked stem
    [InlineData("Groups = 4, Scale = 0.25, InputChannels = 1, InputHeight = 65, InputWidth = 65, Classes = 10")] // odd planes: bottom rows, right edges
    [InlineData("Groups = 8, Scale = 0.5, Stages = new[] { 2, 2 }, InputHeight = 7, InputWidth = 9, Classes = 4, StemMaxPool = false")] // planes down to 1x1
    [InlineData("Groups = 8, Scale = 0.25, InputChannels = 1, InputHeight = 28, InputWidth = 28, Classes = 10, StemStride = 1, StemMaxPool = false")]
    [InlineData("Groups = 3, Scale = 0.5, InputHeight = 40, InputWidth = 30, Classes = 9")]
    [InlineData("Groups = 3, Scale = 0.25, StemChannels = 12, InputHeight = 33, InputWidth = 36, Classes = 5")] // blocked stem of 8 + 4 channels (Vector512), a bottom row without its lower taps
    [InlineData("Groups = 3, Scale = 0.25, StemChannels = 15, InputHeight = 40, InputWidth = 38, Classes = 5")] // blocked stem of 6 + 6 + 3 channels (Vector256) on 19 columns: its last 16 overlap its first
    [InlineData("Groups = 1, Scale = 0.25, InputHeight = 72, InputWidth = 72, Classes = 5")] // ungrouped 1x1 convolutions with a residual on 9x9, 5x5 and 3x3 planes: lane tails of 1 pixel, a 4-channel last block
    public void EveryVariantMatchesThePortableOne(string arguments) => CompareVariants($"ShuffleNet({arguments})");

    /// <summary>
    /// ShuffleNet v2's table kernels, which call dispatchers their kind and stride share: planes with Vector256 and
    /// Vector512 interiors that are no multiple of the vector (a last vector overlapping its neighbour), odd widths,
    /// and planes down to one pixel.
    /// </summary>
    [Theory]
    [InlineData("Scale = 0.5, InputHeight = 123, InputWidth = 99, Classes = 7")] // interiors of 30, 14 (two vectors of 8, overlapping) and 6 columns
    [InlineData("StemChannels = 12, StageChannels = new[] { 20, 44, 92 }, Stages = new[] { 3, 1, 2 }, FinalChannels = 60, InputHeight = 17, InputWidth = 13, Classes = 7")] // planes down to 1x1
    [InlineData("StemChannels = 8, StageChannels = new[] { 16, 32 }, Stages = new[] { 2, 2 }, FinalChannels = 32, InputChannels = 1, InputHeight = 150, InputWidth = 75, Classes = 3")] // interiors of 36, 17 (8 + 8 + 1) and 8 columns
    [InlineData("StemChannels = 8, StageChannels = new[] { 24, 464, 480 }, Stages = new[] { 1, 2, 1 }, FinalChannels = 64, InputHeight = 224, InputWidth = 224, Classes = 3")] // Vector256 sums of over 200 inputs in parts within 24-pixel chunks: 232 to 232 and 464 to 240 on 14x14; packed 24-pixel chunks on 7x7: 240 to 240 and 480 to 64
    [InlineData("StemChannels = 8, StageChannels = new[] { 24, 48, 976 }, Stages = new[] { 1, 1, 1 }, FinalChannels = 16, InputHeight = 224, InputWidth = 224, Classes = 3")] // x2.0's widest packed chunk: 976 to 16 on 7x7 (92 KB on the stack)
    [InlineData("Scale = 1.0, Classes = 3")] // torchvision's x1.0 at 224: every geometry the bench times, packed chunks on 7x7, 14x14 and 28x28, 58-channel blocks ending in two rows
    public void EveryV2VariantMatchesThePortableOne(string arguments) => CompareVariants($"ShuffleNetV2({arguments})");

    /// <summary>
    /// The edge-split window bodies, and the depthwise on a zero-padded copy (a padding tap adds a fused zero
    /// product where they skip the tap, and their scalar edges fuse as the vectors do), which must match their portable
    /// variant exactly.
    /// </summary>
    private static readonly System.Text.RegularExpressions.Regex s_edgeSplitBody = new(@"^(?:Depthwise3x3|MaxPool3x3|AvgPool3x3)_(?:s\d|Padded)_(V512|V256|AdvSimd)$");

    /// <summary>A float 1x1 convolution's width variants: each output sums its bias and inputs in the portable variant's order.</summary>
    private static readonly System.Text.RegularExpressions.Regex s_pointwiseBody = new(@"^Pointwise_g\d+_\w+_(V512|V256)$");

    private void CompareVariants(string attribute)
    {
        var compilation = GeneratorHarness.Generate(skipLocalsInit: false, $"using ShuffleNetGen;\nnamespace Variants;\n[{attribute}]\npublic partial class Model;");
        var generated = compilation.SyntaxTrees.Single(t => t.FilePath.EndsWith(".g.cs", StringComparison.Ordinal)).GetRoot();
        var type = GeneratorHarness.EmitAndLoad(compilation).GetTypes().Single(t => t.Name == "Model");
        int arena = (int)type.GetField("ArenaLength")!.GetValue(null)! + (int)type.GetField("InputLength")!.GetValue(null)!;
        int packed = (int)type.GetField("PackedWeightLength", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;

        var random = new Random(7);
        float[] Random(int length) => Enumerable.Range(0, length + 256).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] source = Random(arena), weights = Random(packed), residual = Random(arena);

        var workItems = WorkItems(generated);
        int compared = 0;
        foreach (var (kernel, variants) in Dispatchers(generated))
        {
            // A kernel a team splits runs here in two parts, as two threads would run it: each variant's ranges are
            // checked too, against the portable variant's.
            int items = workItems[kernel];
            float[]? expected = null;
            foreach (var variant in variants.AsEnumerable().Reverse())
            {
                // The fused stem and pool's variants are one generic method over a struct per width, which names it.
                bool neon = variant.Method.EndsWith("_AdvSimd", StringComparison.Ordinal) || variant.Shape?.EndsWith("_AdvSimd", StringComparison.Ordinal) == true;
                if (neon && !AdvSimd.Arm64.IsSupported) continue;
                var destination = new float[source.Length];
                Array.Fill(destination, -1234.5f);
                Run(type, variant, source, destination, weights, residual, 0, items / 2);
                Run(type, variant, source, destination, weights, residual, items / 2, items);
                if (expected is null)
                {
                    expected = destination;
                    continue;
                }
                // Bit for bit where the width runs in hardware: emulated, Simd.MulAdd multiplies and adds in two roundings.
                string? exactWidth = s_edgeSplitBody.Match(variant.Method) is { Success: true } body ? body.Groups[1].Value
                    : s_pointwiseBody.Match(variant.Method) is { Success: true } pointwise ? pointwise.Groups[1].Value : null;
                bool exact = exactWidth switch
                {
                    null => false,
                    "V512" => Vector512.IsHardwareAccelerated,
                    "V256" => Vector256.IsHardwareAccelerated,
                    _ => true,
                };
                for (int i = 0; i < expected.Length; i++)
                {
                    // The message is formatted only on a mismatch: Assert.True's would be built for every float of the arena.
                    float tolerance = exact ? 0f : 1e-5f * (1 + Math.Abs(expected[i]));
                    if (!(Math.Abs(destination[i] - expected[i]) <= tolerance) && !(exact && BitConverter.SingleToInt32Bits(destination[i]) == BitConverter.SingleToInt32Bits(expected[i])))
                        Assert.Fail($"{kernel}: {variant.Method}<{variant.Shape}> writes {destination[i]} at {i}, the portable variant {expected[i]}{(exact ? " (must be bit for bit)" : "")}");
                }
                _output.WriteLine($"{kernel}: {variant.Method}{(variant.Shape is null ? "" : $"<{variant.Shape}>")} matches");
                compared++;
            }
        }
        Assert.True(compared > 0, "no variant besides the portable ones was compared");
    }

    private sealed record Variant(string Method, string? Shape, int Arguments, bool Part);

    /// <summary>Each kernel's work items, from the generated <c>WorkItems</c> table and the <c>Step</c> case that calls it.</summary>
    private static Dictionary<string, int> WorkItems(SyntaxNode root)
    {
        var table = root.DescendantNodes().OfType<PropertyDeclarationSyntax>().Single(p => p.Identifier.ValueText == "WorkItems");
        var counts = table.DescendantNodes().OfType<LiteralExpressionSyntax>().Select(l => int.Parse(l.Token.ValueText, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var step = root.DescendantNodes().OfType<MethodDeclarationSyntax>().Single(m => m.Identifier.ValueText == "Step");
        var items = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var section in step.DescendantNodes().OfType<SwitchSectionSyntax>())
        {
            int op = int.Parse(((CaseSwitchLabelSyntax)section.Labels.Single()).Value.ToString(), System.Globalization.CultureInfo.InvariantCulture);
            var call = section.DescendantNodes().OfType<InvocationExpressionSyntax>().First();
            items.TryAdd(KernelOf(call), counts[op]);
        }
        return items;
    }

    /// <summary>
    /// The kernel a <c>Step</c> call runs: the method it calls, or for a call of a shared generic dispatcher (a table
    /// kernel's) the shape it is called with.
    /// </summary>
    private static string KernelOf(InvocationExpressionSyntax call) => call.Expression switch
    {
        GenericNameSyntax g => g.TypeArgumentList.Arguments.Single().ToString(),
        IdentifierNameSyntax n => n.Identifier.ValueText,
        var other => throw new InvalidOperationException($"unexpected call {other}"),
    };

    /// <summary>
    /// Each window and float pointwise dispatcher of the generated file, with the variants it calls in its order; a
    /// shared generic dispatcher once for each shape <c>Step</c> calls it with.
    /// </summary>
    private static IEnumerable<(string Kernel, List<Variant> Variants)> Dispatchers(SyntaxNode root)
    {
        var step = root.DescendantNodes().OfType<MethodDeclarationSyntax>().Single(m => m.Identifier.ValueText == "Step");
        foreach (var method in root.DescendantNodes().OfType<MethodDeclarationSyntax>())
        {
            string name = method.Identifier.ValueText;
            if (!s_prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))) continue;
            if (!method.AttributeLists.ToString().Contains("AggressiveInlining", StringComparison.Ordinal)) continue;
            // A dispatcher is only its calls (if / else if / else); an inlined helper of a variant declares locals (the
            // blocked stem's vector of channels) or assigns (a 1x1 tile's epilogue of one accumulator).
            if (!method.Body!.Statements.All(s => s is IfStatementSyntax or ExpressionStatementSyntax)) continue;
            if (method.Body.DescendantNodes().OfType<AssignmentExpressionSyntax>().Any()) continue;
            var variants = method.Body!.DescendantNodes().OfType<InvocationExpressionSyntax>()
                .Select(i => i.Expression switch
                {
                    GenericNameSyntax g => new Variant(g.Identifier.ValueText, g.TypeArgumentList.Arguments.Single().ToString(), i.ArgumentList.Arguments.Count, HasPart(i)),
                    IdentifierNameSyntax n => new Variant(n.Identifier.ValueText, null, i.ArgumentList.Arguments.Count, HasPart(i)),
                    _ => throw new InvalidOperationException($"{name}: unexpected call {i}"),
                })
                .ToList();
            if (method.TypeParameterList is null)
            {
                yield return (name, variants);
                continue;
            }
            // A shared dispatcher calls its variants with its own type parameter: each call site's shape takes its place.
            if (!variants.All(v => v.Shape == "TShape")) continue;
            foreach (var call in step.DescendantNodes().OfType<InvocationExpressionSyntax>())
            {
                if (call.Expression is not GenericNameSyntax g || g.Identifier.ValueText != name) continue;
                string shape = g.TypeArgumentList.Arguments.Single().ToString();
                yield return (shape, variants.Select(v => v with { Shape = shape }).ToList());
            }
        }
    }

    private static bool HasPart(InvocationExpressionSyntax call) => call.ArgumentList.Arguments.Last().ToString() == "part";

    private static void Run(Type type, Variant variant, float[] source, float[] destination, float[] weights, float[] residual, int start, int stop)
    {
        // A table kernel's pointwise variant is generic and may share its name with the slice kernel's.
        var method = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Single(m => m.Name == variant.Method && m.IsGenericMethodDefinition == variant.Shape is not null);
        if (variant.Shape is not null) method = method.MakeGenericMethod(type.GetNestedType(variant.Shape, BindingFlags.NonPublic)!);
        var part = new WorkPart(start, stop);
        if (variant.Part)
        {
            switch (variant.Arguments)
            {
                case 3:
                    method.CreateDelegate<UnweightedPart>()(ref source[0], ref destination[0], part);
                    break;
                case 4:
                    method.CreateDelegate<WeightedPart>()(ref source[0], ref destination[0], ref weights[0], part);
                    break;
                default:
                    method.CreateDelegate<WithResidualPart>()(ref source[0], ref destination[0], ref weights[0], ref residual[0], part);
                    break;
            }
            return;
        }
        if (start > 0) return;
        switch (variant.Arguments)
        {
            case 2:
                method.CreateDelegate<Unweighted>()(ref source[0], ref destination[0]);
                break;
            case 3:
                method.CreateDelegate<Weighted>()(ref source[0], ref destination[0], ref weights[0]);
                break;
            default:
                method.CreateDelegate<WithResidual>()(ref source[0], ref destination[0], ref weights[0], ref residual[0]);
                break;
        }
    }
}
