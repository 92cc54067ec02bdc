using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.RegularExpressions;
using ShuffleNetGen.Kernels;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// The generated int8 kernels against an integer reference written here: integer arithmetic is exact, so every
/// quantize kernel and every int8 1x1 convolution of the int8 test models must give the reference's bits exactly, on
/// whichever dot-product path this process runs (the width children of <see cref="VectorWidthTests"/> and
/// <see cref="Int8NarrowerPathTests"/> rerun this class with the wider paths switched off). Each kernel is called directly, through a delegate to the private generated method, on
/// random packed inputs, so float layers around it cannot blur the comparison. The ShuffleNet v2 models add kernels
/// with plane tables (a quantize step reading its convolution's input where the shuffles left it, an int8 convolution
/// storing through one): their tables are read from the kernel's own shape struct and must be the ones the model's
/// <c>Description.Layers</c> states, and the planes outside a table must be left alone.
/// </summary>
public class Int8KernelTests
{
    private delegate void PointwiseCall(ref float source, ref float destination, ref float weights, WorkPart part);
    private delegate void PointwiseResidualCall(ref float source, ref float destination, ref float weights, ref float residual, WorkPart part);
    private delegate void QuantizeCall(ref float source, ref float destination, ref float parameters, WorkPart part);

    /// <summary>Set in a child of <see cref="Int8NarrowerPathTests"/>: where to write the paths this process ran.</summary>
    internal const string ReportVariable = "SNG_INT8_PATH_REPORT";

    private readonly ITestOutputHelper _output;

    public Int8KernelTests(ITestOutputHelper output) => _output = output;

    public static readonly TheoryData<string> Models = new()
    {
        nameof(ShuffleNetGen.Tests.Models.G3Small64Int8), nameof(ShuffleNetGen.Tests.Models.G2Odd33Int8), nameof(ShuffleNetGen.Tests.Models.G8Gray48x40OfficialInt8), nameof(ShuffleNetGen.Tests.Models.G2Tiny12x20Int8),
        nameof(ShuffleNetGen.Tests.Models.V2Custom57x41Int8), nameof(ShuffleNetGen.Tests.Models.V2OddHalves17x13Int8),
    };

    /// <summary>The v2 models, whose kernels must include table ones (or the table checks below would check nothing).</summary>
    private static bool HasPlaneTables(string model) => model.StartsWith("V2", StringComparison.Ordinal);

    /// <summary>
    /// A table kernel's table, from its shape struct's <c>InputPlane</c> or <c>OutputPlane</c> (the generated literals
    /// the kernel reads), or null when the shape declares none (the kernel addresses a slice).
    /// </summary>
    private static int[]? PlaneTable(Type shape, string member, int channels)
    {
        var method = shape.GetMethod(member, BindingFlags.Public | BindingFlags.Static, new[] { typeof(int) });
        if (method is null || method.DeclaringType != shape) return null;
        return Enumerable.Range(0, channels).Select(c => (int)method.Invoke(null, new object[] { c })!).ToArray();
    }

    /// <summary>
    /// The tables the model's <c>Description.Layers</c> (what the lowering states, and calibration's float pass
    /// follows) gives layers of <paramref name="kind"/> on their input or output side. The kernels' literals must be
    /// exactly these: the checks against the kernels' own tables prove the kernels follow their literals, and this
    /// proves the literals are the network's.
    /// </summary>
    private static HashSet<string> LayerTables(Type type, LayerKind kind, bool input)
    {
        var description = (ModelDescription)type.GetProperty("Description", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
        var tables = new HashSet<string>(StringComparer.Ordinal);
        foreach (var layer in description.Layers.Where(l => l.Kind == kind))
        {
            var planes = input ? layer.InputPlanes : layer.OutputPlanes;
            if (planes is { Start: -1 }) tables.Add(TableText(Enumerable.Range(0, planes.Count).Select(c => planes[c])));
        }
        return tables;
    }

    private static string TableText(IEnumerable<int> planes) => string.Join(",", planes);

    private static Type ModelType(string name) => typeof(ShuffleNetGen.Tests.Models.G3Small64Int8).Assembly.GetType("ShuffleNetGen.Tests.Models." + name)!;

    private static readonly Regex PointwiseName = new(@"^Int8Pointwise_g(\d+)_(\d+)to(\d+)_(\d+)px(?:_(Official)?Shuffle(\d+))?(_Residual)?(_Relu)?(_P[0-9a-f]{8})?$");

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryInt8PointwiseKernelMatchesTheIntegerReferenceExactly(string model)
    {
        var type = ModelType(model);
        var dispatchers = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Where(m => PointwiseName.IsMatch(m.Name)).ToList();
        Assert.NotEmpty(dispatchers);
        var random = new Random(model.Length * 31 + 7);
        int tables = 0;
        var kernelTables = new HashSet<string>(StringComparer.Ordinal);
        var variantsRun = new List<string>();
        int inPlaceRuns = 0;
        foreach (var method in dispatchers)
        {
            var m = PointwiseName.Match(method.Name);
            int groups = Int(m.Groups[1]), inChannels = Int(m.Groups[2]), outChannels = Int(m.Groups[3]), pixels = Int(m.Groups[4]);
            int shuffle = m.Groups[6].Success ? Int(m.Groups[6]) : 1;
            bool official = m.Groups[5].Success, residual = m.Groups[7].Success, relu = m.Groups[8].Success;
            int inPerGroup = inChannels / groups, outPerGroup = outChannels / groups, slots = (inPerGroup + 3) / 4;
            // A table kernel's stores go where its shape's OutputPlane says, among the other planes of its tensor (a
            // v2 stage's), which it must not touch; its input is always its quantize step's packed copy, a slice.
            int[]? outputTable = null;
            if (m.Groups[9].Success)
            {
                var shape = type.GetNestedType(method.Name + "_Shape", BindingFlags.NonPublic)!;
                Assert.Null(PlaneTable(shape, "InputPlane", inChannels));
                outputTable = PlaneTable(shape, "OutputPlane", outChannels);
                Assert.NotNull(outputTable);
                Assert.Equal(outChannels, outputTable!.Distinct().Count());
                kernelTables.Add(TableText(outputTable));
                tables++;
            }
            int planes = outputTable is null ? outChannels : Math.Max(outChannels, outputTable.Max() + 1) + 3;

            // Random float weights, batch norm and calibration, packed as the model packs them.
            var tensors = new TensorSet();
            tensors.Add("c.weight", new[] { outChannels, inPerGroup, 1, 1 }, Floats(random, outChannels * inPerGroup, -0.5f, 0.5f));
            tensors.Add("bn.weight", new[] { outChannels }, Floats(random, outChannels, 0.5f, 1.5f));
            tensors.Add("bn.bias", new[] { outChannels }, Floats(random, outChannels, -0.2f, 0.2f));
            tensors.Add("bn.running_mean", new[] { outChannels }, Floats(random, outChannels, -0.2f, 0.2f));
            tensors.Add("bn.running_var", new[] { outChannels }, Floats(random, outChannels, 0.5f, 1.5f));
            tensors.Add("c.input_scale", new[] { 1 }, new[] { 0.03f });
            tensors.Add("c.input_zero_point", new[] { 1 }, new[] { (float)random.Next(0, 128) });
            var packed = new float[outChannels * (2 + slots)];
            WeightPacker.Int8Pointwise(tensors, "c", "bn", inChannels, outChannels, groups, 8, packed);

            // Random 7-bit activations, padding bytes zero as the quantize kernel leaves them.
            var source = new int[groups * slots * pixels];
            for (int k = 0; k < groups; k++)
                for (int s = 0; s < slots; s++)
                    for (int p = 0; p < pixels; p++)
                    {
                        int word = 0;
                        for (int b = 0; b < 4 && 4 * s + b < inPerGroup; b++) word |= random.Next(0, 128) << (8 * b);
                        source[(k * slots + s) * pixels + p] = word;
                    }
            var residualPlanes = Floats(random, outChannels * pixels, -1f, 1f);
            var expected = Reference(source, packed, residual ? residualPlanes : null, groups, inPerGroup, outPerGroup, pixels, shuffle, official, relu, outputTable, planes);

            // The dispatcher, then each variant this core accelerates: a family's walk (V256Vnni's 4 × 24 tiles) is
            // checked here even where the dispatcher never picks it, since every dot product gives the same integers.
            foreach (var kernel in VariantsAcceleratedHere(type, method, m.Groups[9].Success).Prepend(method))
            {
                var destination = new float[planes * pixels];
                Array.Fill(destination, float.NaN);
                var src = MemoryMarshal.Cast<int, float>(source.AsSpan());
                // Every packed block of every group, in two parts as a two-thread team runs them.
                int blocks = groups * ((outPerGroup + 7) / 8);
                foreach (var part in new[] { new WorkPart(0, blocks / 2), new WorkPart(blocks / 2, blocks) })
                {
                    if (residual)
                        kernel.CreateDelegate<PointwiseResidualCall>()(ref src[0], ref destination[0], ref packed[0], ref residualPlanes[0], part);
                    else
                        kernel.CreateDelegate<PointwiseCall>()(ref src[0], ref destination[0], ref packed[0], part);
                }
                for (int i = 0; i < expected.Length; i++)
                {
                    if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(destination[i]))
                        Assert.Fail($"{method.Name} ({kernel.Name}): plane {i / pixels}, pixel {i % pixels}: expected {expected[i]:R}, kernel wrote {destination[i]:R}");
                }
                // Where the arena planner may put the output over the residual, the same kernel run in place.
                if (residual && outputTable is null && shuffle == 1 && RunsInPlace(pixels))
                {
                    var inPlace = (float[])residualPlanes.Clone();
                    foreach (var part in new[] { new WorkPart(0, blocks / 2), new WorkPart(blocks / 2, blocks) })
                        kernel.CreateDelegate<PointwiseResidualCall>()(ref src[0], ref inPlace[0], ref packed[0], ref inPlace[0], part);
                    for (int i = 0; i < expected.Length; i++)
                        if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(inPlace[i]))
                            Assert.Fail($"{method.Name} ({kernel.Name}) in place: plane {i / pixels}, pixel {i % pixels}: expected {expected[i]:R}, kernel wrote {inPlace[i]:R}");
                    inPlaceRuns++;
                }
                if (kernel != method) variantsRun.Add(kernel.Name);
            }
        }
        Assert.Contains(variantsRun, v => v.EndsWith("_V128", StringComparison.Ordinal));
        // Planes of 24 pixels or more have a 4 × 24 walk of their own (smaller ones walk as V256 does, and share its variant).
        if (Vector256.IsHardwareAccelerated && dispatchers.Any(d => Int(PointwiseName.Match(d.Name).Groups[4]) >= 24))
            Assert.Contains(variantsRun, v => v.EndsWith("_V256Vnni", StringComparison.Ordinal));
        _output.WriteLine($"variants run directly besides the dispatchers: {string.Join(", ", variantsRun.Select(v => v[(v.LastIndexOf('_') + 1)..]).Distinct())}");
        if (HasPlaneTables(model)) Assert.True(tables > 0, $"{model} has no int8 pointwise kernel storing through a plane table");
        Assert.Equal(LayerTables(type, LayerKind.Pointwise, input: false).Order(StringComparer.Ordinal), kernelTables.Order(StringComparer.Ordinal));
        _output.WriteLine($"{inPlaceRuns} residual kernel runs in place exact");
        _output.WriteLine($"{dispatchers.Count} int8 pointwise kernels of {model} exact ({tables} storing through a plane table); dot product here: 512 {Int8Simd.DotPath512}, 256 {Int8Simd.DotPath256}, 128 {Int8Simd.DotPath128}");
        if (Environment.GetEnvironmentVariable(ReportVariable) is { } report)
            File.WriteAllLines(report, new[] { Vector512.IsHardwareAccelerated ? "512" : Vector256.IsHardwareAccelerated ? "256" : "128", Int8Simd.DotPath256, Int8Simd.DotPath128 });
    }

    /// <summary>
    /// Integer sums from the packed bytes, one fused multiply-add to float, residual, ReLU, stored at the shuffled
    /// plane (or the plane its table names; every other plane of the <paramref name="planes"/> keeps its NaN): the
    /// kernels' documented arithmetic, written plainly.
    /// </summary>
    private static float[] Reference(int[] source, float[] packed, float[]? residual, int groups, int inPerGroup, int outPerGroup, int pixels, int shuffle, bool official, bool relu,
        int[]? outputTable, int planes)
    {
        int slots = (inPerGroup + 3) / 4;
        int outChannels = groups * outPerGroup;
        var words = MemoryMarshal.Cast<float, int>(packed.AsSpan()).ToArray();
        var output = new float[planes * pixels];
        Array.Fill(output, float.NaN);
        for (int o = 0; o < outChannels; o++)
        {
            int k = o / outPerGroup, j = o % outPerGroup;
            int block = j / 8 * 8, rows = Math.Min(8, outPerGroup - block), r = j - block;
            int at = (k * outPerGroup + block) * (2 + slots);
            float scale = packed[at + r], bias = packed[at + rows + r];
            int plane = o;
            if (shuffle > 1)
            {
                int n = outChannels / shuffle;
                plane = official ? o % shuffle * n + o / shuffle : o % n * shuffle + o / n;
            }
            if (outputTable is not null) plane = outputTable[o];
            for (int p = 0; p < pixels; p++)
            {
                int sum = 0;
                for (int ci = 0; ci < inPerGroup; ci++)
                {
                    int s = ci / 4, b = ci % 4;
                    int x = (source[(k * slots + s) * pixels + p] >> (8 * b)) & 0xFF;
                    int w = (sbyte)(words[at + 2 * rows + s * rows + r] >> (8 * b));
                    sum += x * w;
                }
                float y = MathF.FusedMultiplyAdd(sum, scale, bias);
                if (residual is not null) y += residual[o * pixels + p];
                if (relu) y = MathF.Max(y, 0f);
                output[plane * pixels + p] = y;
            }
        }
        return output;
    }

    private static readonly Regex QuantizeShapeName = new(@"^Quantize_g(\d+)_(\d+)ch_(\d+)px(_P[0-9a-f]{8})?_Shape$");

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryQuantizeKernelMatchesTheReferenceExactly(string model)
    {
        var type = ModelType(model);
        var shapes = type.GetNestedTypes(BindingFlags.NonPublic).Where(t => QuantizeShapeName.IsMatch(t.Name)).ToList();
        Assert.NotEmpty(shapes);
        var random = new Random(model.Length * 17 + 3);
        int tables = 0;
        var kernelTables = new HashSet<string>(StringComparer.Ordinal);
        var variantsRun = new List<string>();
        foreach (var shape in shapes)
        {
            var m = QuantizeShapeName.Match(shape.Name);
            int groups = Int(m.Groups[1]), channels = Int(m.Groups[2]), pixels = Int(m.Groups[3]);
            int inPerGroup = channels / groups, slots = (inPerGroup + 3) / 4;
            // A table kernel reads channel c from the plane its shape's InputPlane names, among other planes of its
            // tensor; a slice kernel reads planes 0..channels-1 of what the call site passes.
            var inputPlanes = PlaneTable(shape, "InputPlane", channels);
            Assert.Equal(m.Groups[4].Success, inputPlanes is not null);
            if (inputPlanes is not null)
            {
                kernelTables.Add(TableText(inputPlanes));
                tables++;
            }
            inputPlanes ??= Enumerable.Range(0, channels).ToArray();
            int planes = inputPlanes.Max() + 1;
            float scale = 0.02f + (float)random.NextDouble() * 0.05f;
            int zeroPoint = random.Next(0, 128);
            // Values well past both ends of the range, so clamping is exercised, and exact ties of the rounding.
            var input = Floats(random, planes * pixels, -6f, 6f);
            for (int i = 0; i < input.Length; i += 7) input[i] = (random.Next(-300, 300) + 0.5f) * scale;
            var parameters = new[] { 1f / scale, zeroPoint };
            // The kernel's dispatcher, then each width's variant it can pick for this plane size, called directly (the
            // runtime's Int8Simd falls back to software where a width is not accelerated), so every width is checked here.
            var calls = new List<(string Name, MethodInfo Method)> { (shape.Name[..^"_Shape".Length], type.GetMethod(shape.Name[..^"_Shape".Length], BindingFlags.NonPublic | BindingFlags.Static)!) };
            foreach (var (suffix, lanes) in new[] { ("V512", 16), ("V256", 8), ("V128", 4), ("Scalar", 1) })
                if (pixels >= lanes && type.GetMethod("Quantize_Planes_" + suffix, BindingFlags.NonPublic | BindingFlags.Static) is { } variant)
                    calls.Add(("Quantize_Planes_" + suffix, variant.MakeGenericMethod(shape)));
            Assert.Equal(5, calls.Count + (pixels < 16 ? 1 : 0) + (pixels < 8 ? 1 : 0) + (pixels < 4 ? 1 : 0));
            foreach (var (name, method) in calls)
                CheckQuantized(shape.Name + " " + name, method, input, inputPlanes, parameters, groups, inPerGroup, slots, pixels, scale, zeroPoint);
        }
        if (HasPlaneTables(model)) Assert.True(tables > 0, $"{model} has no quantize kernel reading through a plane table");
        Assert.Equal(LayerTables(type, LayerKind.Quantize, input: true).Order(StringComparer.Ordinal), kernelTables.Order(StringComparer.Ordinal));
        _output.WriteLine($"{shapes.Count} quantize kernels of {model} exact ({tables} reading through a plane table)");
    }

    private static void CheckQuantized(string what, MethodInfo method, float[] input, int[] inputPlanes, float[] parameters, int groups, int inPerGroup, int slots, int pixels, float scale, int zeroPoint)
    {
        var output = new int[groups * slots * pixels];
        Array.Fill(output, unchecked((int)0xDEADBEEF));
        var outFloats = MemoryMarshal.Cast<int, float>(output.AsSpan());
        // Every slot of every group, in two parts as a two-thread team runs them.
        int items = groups * slots;
        foreach (var part in new[] { new WorkPart(0, items / 2), new WorkPart(items / 2, items) })
            method.CreateDelegate<QuantizeCall>()(ref input[0], ref outFloats[0], ref parameters[0], part);

        for (int k = 0; k < groups; k++)
            for (int s = 0; s < slots; s++)
                for (int p = 0; p < pixels; p++)
                {
                    int expected = 0;
                    for (int b = 0; b < 4 && 4 * s + b < inPerGroup; b++)
                    {
                        float x = input[inputPlanes[k * inPerGroup + 4 * s + b] * pixels + p];
                        float t = Math.Clamp(x * (1f / scale), -zeroPoint, 127 - zeroPoint);
                        expected |= ((int)MathF.Round(t, MidpointRounding.ToEven) + zeroPoint) << (8 * b);
                    }
                    int got = output[(k * slots + s) * pixels + p];
                    if (got != expected) Assert.Fail($"{what}: group {k}, slot {s}, pixel {p}: expected 0x{expected:X8}, kernel wrote 0x{got:X8}");
                }
    }

    /// <summary>Whether the arena planner may write a residual convolution's output over its residual on planes of <paramref name="pixels"/>.</summary>
    private static bool RunsInPlace(int pixels) => ShuffleNetGen.Generator.Passes.ArenaPlanner.WalksWithoutOverlap(pixels);

    private delegate void PackingCall(ref float source, ref float destination, ref float weights, ref float slots, ref float quantize, WorkPart part);
    private delegate void PackingResidualCall(ref float source, ref float destination, ref float weights, ref float residual, ref float slots, ref float quantize, WorkPart part);

    private static readonly Regex PackingName = new(@"^Int8Pointwise_g(\d+)_(\d+)to(\d+)_(\d+)px(?:_(Official)?Shuffle(\d+))?(_Residual)?(_Relu)?_PacksSlots(\d+)(?:_From(\d+))?(_V512|_V256Vnni|_V256|_V128)?$");

    /// <summary>
    /// Each int8 convolution that packs the next convolution's slots in its epilogue (instead of that convolution's
    /// quantize step reading its float output back): its floats must be the integer reference's, as for every int8
    /// convolution, and its slots exactly what the quantize step packs from those floats (the reference of
    /// <see cref="CheckQuantized"/>, which every quantize kernel matches): same rounding, same clamp, the same channel
    /// in the same byte of the same slot, a group's missing channels zero, and no slot of another producer touched.
    /// The dispatcher and each width's variant run, every one split into 1, 2 and 3 parts as teams split it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void EveryPackingInt8PointwiseKernelPacksTheSlotsItsQuantizeStepWould(string model)
    {
        var type = ModelType(model);
        var methods = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Where(m => PackingName.IsMatch(m.Name) && !m.IsGenericMethodDefinition).ToList();
        // The v1 models' unit outputs line up with the next unit's slots; v2's halves are read through tables and keep their step.
        if (HasPlaneTables(model)) Assert.Empty(methods);
        else Assert.NotEmpty(methods);
        var random = new Random(model.Length * 13 + 5);
        int inPlaceRuns = 0;
        foreach (var method in methods)
        {
            var m = PackingName.Match(method.Name);
            int groups = Int(m.Groups[1]), inChannels = Int(m.Groups[2]), outChannels = Int(m.Groups[3]), pixels = Int(m.Groups[4]);
            bool residual = m.Groups[7].Success, relu = m.Groups[8].Success;
            int consumerPerGroup = Int(m.Groups[9]), offset = m.Groups[10].Success ? Int(m.Groups[10]) : 0;
            Assert.False(m.Groups[6].Success, "a packing convolution stores a slice, not a shuffle");
            int inPerGroup = inChannels / groups, outPerGroup = outChannels / groups, slots = (inPerGroup + 3) / 4;

            var tensors = new TensorSet();
            tensors.Add("c.weight", new[] { outChannels, inPerGroup, 1, 1 }, Floats(random, outChannels * inPerGroup, -0.5f, 0.5f));
            tensors.Add("bn.weight", new[] { outChannels }, Floats(random, outChannels, 0.5f, 1.5f));
            tensors.Add("bn.bias", new[] { outChannels }, Floats(random, outChannels, -0.2f, 0.2f));
            tensors.Add("bn.running_mean", new[] { outChannels }, Floats(random, outChannels, -0.2f, 0.2f));
            tensors.Add("bn.running_var", new[] { outChannels }, Floats(random, outChannels, 0.5f, 1.5f));
            tensors.Add("c.input_scale", new[] { 1 }, new[] { 0.03f });
            tensors.Add("c.input_zero_point", new[] { 1 }, new[] { (float)random.Next(0, 128) });
            var packed = new float[outChannels * (2 + slots)];
            WeightPacker.Int8Pointwise(tensors, "c", "bn", inChannels, outChannels, groups, 8, packed);
            // The next convolution's calibration: a scale small enough that the top of the range clamps.
            float scale = 0.005f + (float)random.NextDouble() * 0.02f;
            int zeroPoint = random.Next(0, 128);
            var quantize = new[] { 1f / scale, zeroPoint };

            var source = new int[groups * slots * pixels];
            for (int k = 0; k < groups; k++)
                for (int s = 0; s < slots; s++)
                    for (int p = 0; p < pixels; p++)
                    {
                        int word = 0;
                        for (int b = 0; b < 4 && 4 * s + b < inPerGroup; b++) word |= random.Next(0, 128) << (8 * b);
                        source[(k * slots + s) * pixels + p] = word;
                    }
            var residualPlanes = Floats(random, outChannels * pixels, -1f, 1f);
            var src = MemoryMarshal.Cast<int, float>(source.AsSpan());
            var expected = Reference(source, packed, residual ? residualPlanes : null, groups, inPerGroup, outPerGroup, pixels, 1, false, relu, null, outChannels);

            // The consumer's slots this producer owns, from the floats as stored: the quantize step's arithmetic.
            int consumerQuads = (consumerPerGroup + 3) / 4;
            int consumerGroups = (offset + outChannels + consumerPerGroup - 1) / consumerPerGroup;
            var expectedSlots = new int[consumerGroups * consumerQuads * pixels];
            Array.Fill(expectedSlots, unchecked((int)0xDEADBEEF));
            for (int o = 0; o < outChannels; o++)
            {
                int c = offset + o, slot = c / consumerPerGroup * consumerQuads + c % consumerPerGroup / 4, b = c % consumerPerGroup % 4;
                for (int p = 0; p < pixels; p++)
                {
                    if (b == 0 || expectedSlots[slot * pixels + p] == unchecked((int)0xDEADBEEF)) expectedSlots[slot * pixels + p] = 0;
                    float t = Math.Clamp(expected[o * pixels + p] * (1f / scale), -zeroPoint, 127 - zeroPoint);
                    expectedSlots[slot * pixels + p] |= ((int)MathF.Round(t, MidpointRounding.ToEven) + zeroPoint) << (8 * b);
                }
            }

            int items = groups * ((outPerGroup + 7) / 8);
            foreach (int parts in new[] { 1, 2, 3 })
            {
                var destination = new float[outChannels * pixels];
                Array.Fill(destination, float.NaN);
                var consumerSlots = new int[expectedSlots.Length];
                Array.Fill(consumerSlots, unchecked((int)0xDEADBEEF));
                var slotFloats = MemoryMarshal.Cast<int, float>(consumerSlots.AsSpan());
                for (int part = 0; part < parts; part++)
                {
                    var range = new WorkPart(items * part / parts, items * (part + 1) / parts);
                    if (residual)
                        method.CreateDelegate<PackingResidualCall>()(ref src[0], ref destination[0], ref packed[0], ref residualPlanes[0], ref slotFloats[0], ref quantize[0], range);
                    else
                        method.CreateDelegate<PackingCall>()(ref src[0], ref destination[0], ref packed[0], ref slotFloats[0], ref quantize[0], range);
                }
                string what = $"{method.Name}, {parts} part(s)";
                for (int i = 0; i < expected.Length; i++)
                    if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(destination[i]))
                        Assert.Fail($"{what}: plane {i / pixels}, pixel {i % pixels}: expected {expected[i]:R}, kernel wrote {destination[i]:R}");
                for (int i = 0; i < expectedSlots.Length; i++)
                    if (expectedSlots[i] != consumerSlots[i])
                        Assert.Fail($"{what}: slot {i / pixels}, pixel {i % pixels}: expected 0x{expectedSlots[i]:X8}, kernel wrote 0x{consumerSlots[i]:X8}");
            }
            // Where the arena planner may put the output over the residual, the same kernel run in place.
            if (residual && RunsInPlace(pixels))
            {
                var inPlace = (float[])residualPlanes.Clone();
                var slotsInPlace = new int[expectedSlots.Length];
                Array.Fill(slotsInPlace, unchecked((int)0xDEADBEEF));
                var slotFloats = MemoryMarshal.Cast<int, float>(slotsInPlace.AsSpan());
                foreach (var range in new[] { new WorkPart(0, items / 2), new WorkPart(items / 2, items) })
                    method.CreateDelegate<PackingResidualCall>()(ref src[0], ref inPlace[0], ref packed[0], ref inPlace[0], ref slotFloats[0], ref quantize[0], range);
                for (int i = 0; i < expected.Length; i++)
                    if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(inPlace[i]))
                        Assert.Fail($"{method.Name} in place: plane {i / pixels}, pixel {i % pixels}: expected {expected[i]:R}, kernel wrote {inPlace[i]:R}");
                for (int i = 0; i < expectedSlots.Length; i++)
                    if (expectedSlots[i] != slotsInPlace[i])
                        Assert.Fail($"{method.Name} in place: slot {i / pixels}, pixel {i % pixels}: expected 0x{expectedSlots[i]:X8}, kernel wrote 0x{slotsInPlace[i]:X8}");
                inPlaceRuns++;
            }
        }
        _output.WriteLine($"{inPlaceRuns} of them also exact in place");
        _output.WriteLine($"{methods.Count} packing int8 pointwise kernels and variants of {model} exact: {string.Join(", ", methods.Select(m => m.Name))}");
    }

    private delegate void DepthwiseCall(ref float source, ref float destination, ref float weights, WorkPart part);
    private delegate void DepthwisePackingCall(ref float source, ref float slots, ref float weights, ref float quantize, WorkPart part);

    private static readonly Regex DepthwisePackingName = new(@"^(Depthwise3x3_s(\d)_(\d+)ch_(\d+)x(\d+)(?:_Relu)?)_PacksSlots(\d+)(_V512|_V256|_V128|_Scalar)?$");

    /// <summary>
    /// Each depthwise convolution that packs its conv3's slots from planes on its stack (its float output in no arena):
    /// its slots must be exactly what the separate quantize step packs (the reference of <see cref="CheckQuantized"/>)
    /// from the floats the model's plain depthwise kernel of the same geometry stores, a group's last slot zero past its
    /// channels (5 or 10 channels per group in the small v1 models), every variant, split into 1, 2 and 3 parts.
    /// </summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void EveryPackingDepthwiseKernelPacksTheSlotsItsQuantizeStepWould(string model)
    {
        var type = ModelType(model);
        var methods = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Where(m => DepthwisePackingName.IsMatch(m.Name)).ToList();
        Assert.NotEmpty(methods);
        var random = new Random(model.Length * 7 + 11);
        int partialSlots = 0;
        foreach (var method in methods)
        {
            var m = DepthwisePackingName.Match(method.Name);
            int stride = Int(m.Groups[2]), channels = Int(m.Groups[3]), height = Int(m.Groups[4]), width = Int(m.Groups[5]), inPerGroup = Int(m.Groups[6]);
            int pixels = ((height - 1) / stride + 1) * ((width - 1) / stride + 1);
            int groups = channels / inPerGroup, quads = (inPerGroup + 3) / 4;
            if (inPerGroup % 4 != 0) partialSlots++;
            var source = Floats(random, channels * height * width, -2f, 2f);
            var weights = Floats(random, channels * 10, -0.6f, 0.6f);
            float scale = 0.01f + (float)random.NextDouble() * 0.03f;
            int zeroPoint = random.Next(0, 128);
            var quantize = new[] { 1f / scale, zeroPoint };

            // The separate steps: the plain kernel's floats, then the quantize step's bytes.
            var floats = new float[channels * pixels];
            type.GetMethod(m.Groups[1].Value, BindingFlags.NonPublic | BindingFlags.Static)!.CreateDelegate<DepthwiseCall>()(ref source[0], ref floats[0], ref weights[0], new WorkPart(0, channels));
            var expected = new int[groups * quads * pixels];
            for (int k = 0; k < groups; k++)
                for (int s = 0; s < quads; s++)
                    for (int p = 0; p < pixels; p++)
                    {
                        int word = 0;
                        for (int b = 0; b < 4 && 4 * s + b < inPerGroup; b++)
                        {
                            float t = Math.Clamp(floats[(k * inPerGroup + 4 * s + b) * pixels + p] * (1f / scale), -zeroPoint, 127 - zeroPoint);
                            word |= ((int)MathF.Round(t, MidpointRounding.ToEven) + zeroPoint) << (8 * b);
                        }
                        expected[(k * quads + s) * pixels + p] = word;
                    }

            int items = groups * quads;
            foreach (int parts in new[] { 1, 2, 3 })
            {
                var slots = new int[expected.Length];
                Array.Fill(slots, unchecked((int)0xDEADBEEF));
                var slotFloats = MemoryMarshal.Cast<int, float>(slots.AsSpan());
                for (int part = 0; part < parts; part++)
                    method.CreateDelegate<DepthwisePackingCall>()(ref source[0], ref slotFloats[0], ref weights[0], ref quantize[0], new WorkPart(items * part / parts, items * (part + 1) / parts));
                for (int i = 0; i < expected.Length; i++)
                    if (expected[i] != slots[i])
                        Assert.Fail($"{method.Name}, {parts} part(s): slot {i / pixels}, pixel {i % pixels}: expected 0x{expected[i]:X8}, kernel wrote 0x{slots[i]:X8}");
            }
        }
        _output.WriteLine($"{methods.Count} packing depthwise kernels and variants of {model} exact ({partialSlots} with a part-filled last slot per group)");
    }

    private delegate void FeatureQuantizeCall(ref float source, ref float destination);
    private delegate void ClassifierCall(ref float source, ref float weights, ref float logits, WorkPart part);

    private static readonly Regex ClassifierName = new(@"^Int8Linear_(\d+)to(\d+)$");

    /// <summary>
    /// The int8 classifier of each model, fed by its own feature quantizer, against the integer reference: features
    /// to 7-bit activations on their own scale, int32 sums with the int8 rows, one fused multiply-add per class. Also
    /// the quantizer's two special cases: all-zero features give scale 0 (the biases), a NaN gives NaN logits.
    /// </summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void TheInt8ClassifierAndItsFeatureQuantizerMatchTheIntegerReferenceExactly(string model)
    {
        var type = ModelType(model);
        var method = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Single(m => ClassifierName.IsMatch(m.Name));
        var match = ClassifierName.Match(method.Name);
        int features = Int(match.Groups[1]), classes = Int(match.Groups[2]);
        var quantize = type.GetMethod("QuantizeFeatures_" + features, BindingFlags.NonPublic | BindingFlags.Static)!.CreateDelegate<FeatureQuantizeCall>();
        // The dispatcher, then each variant this core accelerates (VNNI's four-classes-at-a-time one too, where the
        // dispatcher never picks it: its integers are the same on any dot product).
        var suffixes = new List<string> { "V128" };
        if (Vector256.IsHardwareAccelerated) suffixes.AddRange(new[] { "V256", "V256Vnni" });
        if (Vector512.IsHardwareAccelerated) suffixes.Add("V512");
        var kernels = suffixes.Select(suffix => type.GetMethod($"{method.Name}_{suffix}", BindingFlags.NonPublic | BindingFlags.Static))
            .OfType<MethodInfo>().Prepend(method).ToList();
        Assert.Equal(suffixes.Count + 1, kernels.Count);
        int rowSlots = (((features + 3) / 4) + 15) / 16 * 16;
        var random = new Random(model.Length * 13 + 5);

        var tensors = new TensorSet();
        tensors.Add("fc.weight", new[] { classes, features }, Floats(random, classes * features, -0.3f, 0.3f));
        tensors.Add("fc.bias", new[] { classes }, Floats(random, classes, -0.1f, 0.1f));
        var packed = new float[classes * (rowSlots + 2)];
        WeightPacker.Int8Linear(tensors, "fc", features, classes, rowSlots, packed);
        var words = MemoryMarshal.Cast<float, int>(packed.AsSpan()).ToArray();
        // The packer's rows: each weight within half a step of its class's scale, the largest at ±127, padding zero.
        var weights = tensors["fc.weight"].Data;
        for (int o = 0; o < classes; o++)
        {
            float step = packed[classes * rowSlots + o];
            var row = Enumerable.Range(0, rowSlots * 4).Select(i => (int)(sbyte)(words[o * rowSlots + i / 4] >> (8 * (i % 4)))).ToArray();
            Assert.Equal(127, row.Take(features).Max(Math.Abs));
            Assert.All(row.Skip(features), v => Assert.Equal(0, v));
            for (int i = 0; i < features; i++) Assert.InRange(Math.Abs(row[i] * (double)step - weights[o * features + i]), 0, step * 0.5000001);
        }

        foreach (var kind in new[] { "random", "ties", "zero", "nan" })
        {
            // Global-pool features are means of ReLU outputs: never negative; "ties" puts some exactly between two steps.
            var x = Floats(random, features, 0f, 3f);
            if (kind == "ties") for (int i = 1; i < features; i += 3) x[i] = (random.Next(0, 127) + 0.5f) * (x.Max() / 127f);
            if (kind == "zero") Array.Clear(x);
            if (kind == "nan") x[features / 2] = float.NaN;

            var quantized = new float[rowSlots + 1];
            Array.Fill(quantized, BitConverter.Int32BitsToSingle(unchecked((int)0xDEADBEEF)));
            quantize(ref x[0], ref quantized[0]);
            // Every class, in two parts (blocks of four classes) as a two-thread team runs them.
            int blocks = (classes + 3) / 4;
            var logitsOf = kernels.Select(kernel =>
            {
                var logits = new float[classes];
                var call = kernel.CreateDelegate<ClassifierCall>();
                foreach (var part in new[] { new WorkPart(0, blocks / 2), new WorkPart(blocks / 2, blocks) })
                    call(ref quantized[0], ref packed[0], ref logits[0], part);
                return (kernel.Name, Logits: logits);
            }).ToList();

            // The reference, written plainly.
            float largest = x.Where(float.IsFinite).DefaultIfEmpty(0f).Max();
            bool finite = x.All(float.IsFinite);
            float scale = !finite ? float.NaN : largest < Int8Simd.SmallestFeatureRange ? 0f : largest / 127f;
            var q = new int[rowSlots * 4];
            if (finite && scale > 0)
                for (int i = 0; i < features; i++)
                    q[i] = (int)MathF.Round(Math.Clamp(x[i] * (127f / largest), 0f, 127f), MidpointRounding.ToEven);
            var slots = MemoryMarshal.Cast<float, int>(quantized.AsSpan());
            for (int s = 0; s < rowSlots; s++)
            {
                int expected = q[4 * s] | q[4 * s + 1] << 8 | q[4 * s + 2] << 16 | q[4 * s + 3] << 24;
                if (slots[s] != expected) Assert.Fail($"{model} {kind}: feature slot {s}: expected 0x{expected:X8}, kernel wrote 0x{slots[s]:X8}");
            }
            Assert.Equal(BitConverter.SingleToInt32Bits(scale), BitConverter.SingleToInt32Bits(quantized[rowSlots]));

            foreach (var (kernel, logits) in logitsOf)
            {
                for (int o = 0; o < classes; o++)
                {
                    int sum = 0;
                    for (int i = 0; i < features; i++) sum += q[i] * (sbyte)(words[o * rowSlots + i / 4] >> (8 * (i % 4)));
                    float expected = MathF.FusedMultiplyAdd(sum, scale * packed[classes * rowSlots + o], packed[classes * rowSlots + classes + o]);
                    if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(logits[o]) && !(float.IsNaN(expected) && float.IsNaN(logits[o])))
                        Assert.Fail($"{kernel} {kind}: class {o}: expected {expected:R}, kernel wrote {logits[o]:R}");
                }
                if (kind == "zero") Assert.Equal(packed.AsSpan(classes * rowSlots + classes, classes).ToArray(), logits);
                if (kind == "nan") Assert.All(logits, l => Assert.True(float.IsNaN(l)));
            }
        }
    }

    /// <summary>PackLowBytes on this process's path (VPERMT2B, or masks and shifts) against byte arithmetic, negative values included.</summary>
    [Fact]
    public void PackLowBytesPutsEachPlanesLowByteInItsSlotByte()
    {
        var random = new Random(41);
        for (int round = 0; round < 200; round++)
        {
            var planes = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(_ => random.Next(-128, 128)).ToArray()).ToArray();
            var packed = Int8Simd.PackLowBytes(Vector512.Create(planes[0]), Vector512.Create(planes[1]), Vector512.Create(planes[2]), Vector512.Create(planes[3]));
            for (int p = 0; p < 16; p++)
            {
                int expected = (planes[0][p] & 0xFF) | (planes[1][p] & 0xFF) << 8 | (planes[2][p] & 0xFF) << 16 | (planes[3][p] & 0xFF) << 24;
                Assert.Equal(expected, packed.GetElement(p));
            }
        }
    }

    /// <summary>Each width's dot product on this process's path against the plain sum of byte products, at the extremes too.</summary>
    [Fact]
    public void DotAddIsTheExactSumOfByteProductsAtEveryWidth()
    {
        var random = new Random(5);
        for (int round = 0; round < 200; round++)
        {
            var x = new int[16];
            var w = new int[16];
            var acc = new int[16];
            for (int i = 0; i < 16; i++)
            {
                // Extremes first: 127 × -127 pairs are where pmaddubsw would saturate if activations had 8 bits.
                x[i] = round == 0 ? 0x7F7F7F7F : Bytes(random, 0, 128);
                w[i] = round == 0 ? unchecked((int)0x81818181) : Bytes(random, -127, 128);
                acc[i] = random.Next(-1 << 20, 1 << 20);
            }
            var expected = new int[16];
            for (int i = 0; i < 16; i++)
            {
                expected[i] = acc[i];
                for (int b = 0; b < 4; b++) expected[i] += ((x[i] >> (8 * b)) & 0xFF) * (sbyte)(w[i] >> (8 * b));
                Assert.Equal(expected[i], Int8Simd.DotAdd(acc[i], x[i], w[i]));
            }
            Assert.Equal(expected, ToArray(Int8Simd.DotAdd(Vector512.Create(acc), Vector512.Create(x), Vector512.Create(w))));
            Assert.Equal(expected[..8], ToArray(Int8Simd.DotAdd(Vector256.Create(acc), Vector256.Create(x), Vector256.Create(w))));
            Assert.Equal(expected[..4], ToArray(Int8Simd.DotAdd(Vector128.Create(acc), Vector128.Create(x), Vector128.Create(w))));
            // The path of cores with no dot-product instruction, called directly: a child process with hardware
            // intrinsics off would reach it too, at a minute and a half of emulated test start-up.
            var sums = expected.Zip(acc, (e, a) => e - a).ToArray();
            Assert.Equal(sums, ToArray(Int8Simd.PortableDot(Vector512.Create(x), Vector512.Create(w))));
            Assert.Equal(sums[..8], ToArray(Int8Simd.PortableDot(Vector256.Create(x), Vector256.Create(w))));
            Assert.Equal(sums[..4], ToArray(Int8Simd.PortableDot(Vector128.Create(x), Vector128.Create(w))));
        }
    }

    /// <summary>Dequantize is one rounding at every width: bit-equal to MathF.FusedMultiplyAdd, including sums past 2^24.</summary>
    [Fact]
    public void DequantizeRoundsOnceAtEveryWidth()
    {
        var random = new Random(9);
        var acc = new int[16];
        var scale = new float[16];
        var bias = new float[16];
        for (int round = 0; round < 200; round++)
        {
            for (int i = 0; i < 16; i++)
            {
                acc[i] = random.Next(-(1 << 26), 1 << 26);
                scale[i] = (float)(random.NextDouble() * 1e-3);
                bias[i] = (float)(random.NextDouble() - 0.5);
            }
            var expected = acc.Select((a, i) => MathF.FusedMultiplyAdd(a, scale[i], bias[i])).ToArray();
            Assert.Equal(expected, ToArray(Int8Simd.Dequantize(Vector512.Create(acc), Vector512.Create(scale), Vector512.Create(bias))));
            Assert.Equal(expected[..8], ToArray(Int8Simd.Dequantize(Vector256.Create(acc), Vector256.Create(scale), Vector256.Create(bias))));
            Assert.Equal(expected[..4], ToArray(Int8Simd.Dequantize(Vector128.Create(acc), Vector128.Create(scale), Vector128.Create(bias))));
        }
    }

    private static int Bytes(Random random, int low, int high)
    {
        int word = 0;
        for (int b = 0; b < 4; b++) word |= (random.Next(low, high) & 0xFF) << (8 * b);
        return word;
    }

    private static T[] ToArray<T>(Vector512<T> v) => Enumerable.Range(0, Vector512<T>.Count).Select(i => v.GetElement(i)).ToArray();

    private static T[] ToArray<T>(Vector256<T> v) => Enumerable.Range(0, Vector256<T>.Count).Select(i => v.GetElement(i)).ToArray();

    private static T[] ToArray<T>(Vector128<T> v) => Enumerable.Range(0, Vector128<T>.Count).Select(i => v.GetElement(i)).ToArray();

    private static float[] Floats(Random random, int count, float low, float high)
    {
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = low + (high - low) * (float)random.NextDouble();
        return data;
    }

    private static int Int(Group g) => int.Parse(g.Value, CultureInfo.InvariantCulture);

    /// <summary>
    /// A dispatcher's width variants whose vector this core accelerates (a wider one would run in the runtime's software
    /// emulation, slowly, testing that rather than our code): <c>{dispatcher}_{V…}</c>, or for a table kernel the generic
    /// variants of its geometry, closed over its shape struct.
    /// </summary>
    private static IEnumerable<MethodInfo> VariantsAcceleratedHere(Type type, MethodInfo dispatcher, bool table)
    {
        var suffixes = new List<string> { "V128" };
        if (Vector256.IsHardwareAccelerated) suffixes.AddRange(new[] { "V256", "V256Vnni" });
        if (Vector512.IsHardwareAccelerated) suffixes.Add("V512");
        string stem = table ? dispatcher.Name[..dispatcher.Name.LastIndexOf('_')] : dispatcher.Name;
        foreach (string suffix in suffixes)
        {
            // A geometry may have both: a plain variant for a slice kernel and a generic one shared by table kernels.
            var variant = type.GetMethods(BindingFlags.NonPublic | BindingFlags.Static)
                .SingleOrDefault(v => v.Name == $"{stem}_{suffix}" && v.IsGenericMethodDefinition == table);
            if (variant is null) continue;
            yield return table ? variant.MakeGenericMethod(type.GetNestedType(dispatcher.Name + "_Shape", BindingFlags.NonPublic)!) : variant;
        }
    }
}

/// <summary>
/// <see cref="Int8KernelTests"/> again in child processes with the wider dot-product paths switched off, each child
/// reporting the path it ran so a knob the runtime ignores cannot pass by rerunning the widest one.
/// </summary>
public class Int8NarrowerPathTests
{
    private readonly ITestOutputHelper _output;

    public Int8NarrowerPathTests(ITestOutputHelper output) => _output = output;

    /// <remarks>
    /// The 256-bit path with AVX-VNNI and the 128-bit one are already run by <see cref="VectorWidthTests"/>' width
    /// children, whose filter includes this class; this child adds the Avx2 pair on a core with AVX-VNNI. The
    /// portable path is checked in-process (<see cref="Int8KernelTests.DotAddIsTheExactSumOfByteProductsAtEveryWidth"/>).
    /// </remarks>
    [Theory]
    [Trait("Category", "Slow")]
    [InlineData("DOTNET_EnableAVXVNNI,DOTNET_EnableAVX512", "256", "Avx2 vpmaddubsw")]
    public void Int8KernelsMatchTheReferenceOnNarrowerPaths(string knobs, string widest, string expectedPath)
    {
        string work = Path.Combine(Path.GetTempPath(), "sng-int8-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            string report = Path.Combine(work, "paths.txt");
            var environment = new Dictionary<string, string?> { [Int8KernelTests.ReportVariable] = report };
            foreach (var knob in knobs.Split(',')) environment[knob] = "0";
            var (exitCode, stdout, stderr) = ProcessRunner.Run("dotnet",
                new[] { "test", typeof(Int8KernelTests).Assembly.Location, "--filter", "FullyQualifiedName~Int8KernelTests" },
                work, environment, TimeSpan.FromMinutes(10));
            string text = stdout + stderr;
            Assert.True(exitCode == 0, $"{knobs}=0 child run failed:\n{text}");
            var summary = Regex.Match(text, @"Failed:\s*(\d+),\s*Passed:\s*(\d+),\s*Skipped:\s*(\d+)");
            Assert.True(summary.Success, $"{knobs}=0 child printed no test summary:\n{text}");
            Assert.Equal("0", summary.Groups[1].Value);
            Assert.True(int.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture) >= 8, $"{knobs}=0 child passed only {summary.Groups[2].Value} tests");
            var lines = File.ReadAllLines(report);
            _output.WriteLine($"{knobs}=0: widest {lines[0]}, 256-bit dot {lines[1]}, 128-bit dot {lines[2]}");
            if (widest == "256" && !Regex.IsMatch(lines[1], "vpdpbusd|vpmaddubsw"))
                Assert.Fail($"{knobs}=0: expected a 256-bit x64 path, the child ran {lines[1]}");
            Assert.Equal(widest, lines[0]);
            Assert.Matches(expectedPath, widest == "256" ? lines[1] : lines[2]);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
