using System.Diagnostics;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Conformance;
using ShuffleNetGen;
using ShuffleNetGen.Kernels;
using ShuffleNetGen.Tests;
using ShuffleNetGen.Tests.Reference;
using ShuffleNetGen.Weights;

// Conformance runner: the reference matrix of tests/ShuffleNetGen.Tests/ReferenceMatrixTests.cs (same cases, weights,
// inputs and tolerance, from the shared ReferenceCases.cs: ShuffleNet v1 and v2 cases) run by a NativeAOT-compiled
// program against the same scalar references (ReferenceShuffleNet, ReferenceShuffleNetV2), so that the kernels the
// target CPU actually selects are the ones checked (linux-arm64 under
// qemu-user in CI: eng/verify-arm64.sh). Usage: Conformance [--require-advsimd] [--int8-only] [--expect-dp|--expect-no-dp]
// [--compute-reference] [case name ...]; exit code 0 = all conform, 1 = a mismatch, 2 = the case list does not match ReferenceCases.All (or an
// unknown case), 3 = --require-advsimd given but AdvSimd is not running, or Dp.IsSupported is not what --expect-(no-)dp says.
//
// Beside the matrix, a few int8 models (Int8Models.cs) are checked against the same scalar reference by their top-1
// and centred cosine, and each prints "Int8 hash <case> <FNV-1a of its logits' bits>". eng/verify-arm64.sh runs the
// arm64 binary with SDOT (qemu -cpu max, --expect-dp) and without (-cpu cortex-a53, --int8-only --expect-no-dp) and
// requires the same hashes: both int8 dot-product paths must compute the same integers.

var cases = new (string Name, Func<Outcome> Run, IReadOnlyList<KernelPath> Paths)[]
{
    Check<Case_g1_1x_224>(Case_g1_1x_224.CaseName),
    Check<Case_g3_1x_224>(Case_g3_1x_224.CaseName),
    Check<Case_g8_0_5x_224>(Case_g8_0_5x_224.CaseName),
    Check<Case_g2_0_5x_96x128>(Case_g2_0_5x_96x128.CaseName),
    Check<Case_g4_0_25x_65_gray>(Case_g4_0_25x_65_gray.CaseName),
    Check<Case_g8_1x_96>(Case_g8_1x_96.CaseName),
    Check<Case_g3_0_25x_65_two_stage>(Case_g3_0_25x_65_two_stage.CaseName),
    Check<Case_g2_1x_64_four_stage>(Case_g2_1x_64_four_stage.CaseName),
    Check<Case_g8_0_25x_28_stride1>(Case_g8_0_25x_28_stride1.CaseName),
    Check<Case_g1_0_5x_33x47_gray>(Case_g1_0_5x_33x47_gray.CaseName),
    Check<Case_g4_1x_96x128>(Case_g4_1x_96x128.CaseName),
    Check<Case_g3_0_5x_28_fashion>(Case_g3_0_5x_28_fashion.CaseName),
    Check<Case_g2_0_25x_65>(Case_g2_0_25x_65.CaseName),
    Check<Case_g3_explicit_40x30>(Case_g3_explicit_40x30.CaseName),
    Check<Case_g4_four_stage_stride1_32>(Case_g4_four_stage_stride1_32.CaseName),
    Check<Case_g1_tiny_16_two_stage>(Case_g1_tiny_16_two_stage.CaseName),
    Check<Case_g2_1_5x_56>(Case_g2_1_5x_56.CaseName),
    Check<Case_g8_0_5x_7x9_no_pool>(Case_g8_0_5x_7x9_no_pool.CaseName),
    Check<Case_g1_official_0_5x_40>(Case_g1_official_0_5x_40.CaseName),
    Check<Case_g2_official_0_5x_48>(Case_g2_official_0_5x_48.CaseName),
    Check<Case_g3_official_0_5x_64>(Case_g3_official_0_5x_64.CaseName),
    Check<Case_g4_official_1x_48>(Case_g4_official_1x_48.CaseName),
    Check<Case_g8_official_0_5x_64>(Case_g8_official_0_5x_64.CaseName),
    Check<Case_v2_0_5x_48>(Case_v2_0_5x_48.CaseName),
    Check<Case_v2_gray_four_stage_33x35>(Case_v2_gray_four_stage_33x35.CaseName),
    Check<Case_v2_one_stage_51x45>(Case_v2_one_stage_51x45.CaseName),
};

var int8Cases = new (string Name, Func<Int8Outcome> Run, IReadOnlyList<KernelPath> Paths)[]
{
    CheckInt8<Int8_g3_0_25x_64>(Int8_g3_0_25x_64.CaseName),
    CheckInt8<Int8_g2_odd_33>(Int8_g2_odd_33.CaseName),
    CheckInt8<Int8_g8_official_0_5x_40_gray>(Int8_g8_official_0_5x_40_gray.CaseName),
    CheckInt8<Int8_v2_35x27>(Int8_v2_35x27.CaseName),
};

bool int8Only = args.Contains("--int8-only");
bool expectDp = args.Contains("--expect-dp"), expectNoDp = args.Contains("--expect-no-dp");
CommittedReference.ComputeHere = args.Contains("--compute-reference");
args = args.Where(a => a is not ("--int8-only" or "--expect-dp" or "--expect-no-dp" or "--compute-reference")).ToArray();
var reported = (int8Only ? int8Cases.SelectMany(c => c.Paths) : cases.SelectMany(c => c.Paths).Concat(int8Cases.SelectMany(c => c.Paths))).ToList();
// The v2 cases' kernels on their own: their plane-table kernels (named …_Planes: they read and write channels through
// the plane tables of split, concat and shuffle) exist in no v1 model.
var v2Reported = int8Only ? new List<KernelPath>() : cases.Where(c => ReferenceCases.V2.Any(v => v.Name == c.Name)).SelectMany(c => c.Paths).ToList();

Console.WriteLine($"ShuffleNetGen conformance: {RuntimeInformation.ProcessArchitecture}, {RuntimeInformation.OSDescription}, "
    + $"{(JitInfo.GetCompiledMethodCount() > 0 ? "JIT" : "NativeAOT")}, .NET {Environment.Version}");
Console.WriteLine("ISA flags that decide the kernels' branches (runtime/Kernels/Simd.cs; NativeAOT fixes them at publish: target baseline, or IlcInstructionSet):");
Console.WriteLine($"  AdvSimd.IsSupported={AdvSimd.IsSupported}  AdvSimd.Arm64.IsSupported={AdvSimd.Arm64.IsSupported}");
Console.WriteLine($"  Vector128.IsHardwareAccelerated={Vector128.IsHardwareAccelerated}  Vector256.IsHardwareAccelerated={Vector256.IsHardwareAccelerated}  Vector512.IsHardwareAccelerated={Vector512.IsHardwareAccelerated}");
Console.WriteLine($"  Sse.IsSupported={Sse.IsSupported}  Avx2.IsSupported={Avx2.IsSupported}  Fma.IsSupported={Fma.IsSupported}  Avx512F.IsSupported={Avx512F.IsSupported}");
Console.WriteLine($"  Dp.IsSupported={Dp.IsSupported}  AvxVnni.IsSupported={AvxVnni.IsSupported}  (int8 dot product, 128-bit: Int8Simd.DotPath128 = {Int8Simd.DotPath128})");
Console.WriteLine($"Code path per kernel family, as the generated models report it (KernelPaths; count of distinct kernels over {(int8Only ? "the int8 cases" : "all cases")}):");
foreach (var (family, path, count) in KernelPathReport.ByFamily(reported))
    Console.WriteLine($"  {family,-16} {count,3} x {path}");
if (v2Reported.Count > 0)
{
    Console.WriteLine("Of those, the ShuffleNet v2 cases' kernels (\"tables\": the plane-table kernels only v2 has):");
    foreach (var (family, path, count) in KernelPathReport.ByFamily(v2Reported, markTables: true))
        Console.WriteLine($"  {family,-20} {count,3} x {path}");
}
Console.WriteLine("Multiply-add inside the portable Vector128 code (runtime/Kernels/Simd.MulAdd): " + KernelPathReport.MulAdd128);

// --require-advsimd (eng/verify-arm64.sh passes it for linux-arm64): fail unless the AdvSimd variants are the ones running,
// so an emulator or publish setting that silently falls back to the portable code cannot pass as an ARM64 check.
bool requireAdvSimd = args.Contains("--require-advsimd");
args = args.Where(a => a != "--require-advsimd").ToArray();
if (requireAdvSimd)
{
    var advSimdKernels = reported.Count(p => p.Path.Contains("AdvSimd", StringComparison.Ordinal));
    if (!AdvSimd.Arm64.IsSupported || advSimdKernels == 0)
    {
        Console.WriteLine($"FAIL: --require-advsimd, but AdvSimd.Arm64.IsSupported={AdvSimd.Arm64.IsSupported} and {advSimdKernels} kernels report an AdvSimd path");
        return 3;
    }
    Console.WriteLine($"AdvSimd required and active: {advSimdKernels} kernel paths report AdvSimd instructions.");
    // And the v2 plane-table kernels take theirs: a 1x1 convolution and a stride-2 depthwise (stride 1 has no AdvSimd
    // variant, in v1 either). A v2 case too small for them would otherwise leave them unchecked here.
    if (v2Reported.Count > 0)
    {
        bool Neon(KernelPath p, string prefix) =>
            p.Kernel.StartsWith(prefix, StringComparison.Ordinal) && p.Kernel.EndsWith("_Planes", StringComparison.Ordinal) && p.Path.Contains("AdvSimd", StringComparison.Ordinal);
        int pointwise = v2Reported.DistinctBy(p => p.Kernel).Count(p => Neon(p, "Pointwise_"));
        int depthwise = v2Reported.DistinctBy(p => p.Kernel).Count(p => Neon(p, "Depthwise3x3_s2_"));
        if (pointwise == 0 || depthwise == 0)
        {
            Console.WriteLine($"FAIL: --require-advsimd, but of the v2 plane-table kernels {pointwise} 1x1 convolutions and {depthwise} stride-2 depthwise report an AdvSimd path");
            return 3;
        }
        Console.WriteLine($"v2 plane-table kernels on AdvSimd: {pointwise} 1x1 convolutions, {depthwise} stride-2 depthwise.");
    }
}

if ((expectDp && !Dp.IsSupported) || (expectNoDp && Dp.IsSupported))
{
    Console.WriteLine($"FAIL: {(expectDp ? "--expect-dp" : "--expect-no-dp")}, but Dp.IsSupported={Dp.IsSupported}: the int8 hashes would not compare the two dot-product paths");
    return 3;
}

// The declared models must be exactly the table's cases, in order (ConformanceCasesTests checks their arguments).
var expectedNames = ReferenceCases.All.Select(c => c.Name).ToArray();
if (!cases.Select(c => c.Name).SequenceEqual(expectedNames))
{
    Console.WriteLine($"FAIL: declared cases [{string.Join(", ", cases.Select(c => c.Name))}] differ from ReferenceCases.All [{string.Join(", ", expectedNames)}]");
    return 2;
}
var unknown = args.Except(expectedNames).Except(int8Cases.Select(c => c.Name)).ToArray();
if (unknown.Length > 0)
{
    Console.WriteLine($"FAIL: unknown case [{string.Join(", ", unknown)}]; cases: {string.Join(", ", expectedNames.Concat(int8Cases.Select(c => c.Name)))}");
    return 2;
}
var selected = int8Only ? cases[..0] : args.Length == 0 ? cases : cases.Where(c => args.Contains(c.Name)).ToArray();
var selectedInt8 = args.Length == 0 ? int8Cases : int8Cases.Where(c => args.Contains(c.Name)).ToArray();
int exitCode = 0;
if (selected.Length > 0) exitCode |= RunMatrix(selected);
if (selectedInt8.Length > 0) exitCode |= RunInt8Cases(selectedInt8);
return exitCode;

static int RunMatrix((string Name, Func<Outcome> Run, IReadOnlyList<KernelPath> Paths)[] selected)
{
    Console.WriteLine("Reference logits: " + CommittedReference.Describe());
    Console.WriteLine($"{"case",-26} {"input",-10} {"max |ref|",10} {"rel. error",10} {"generated",10} {"reference",10}  {"path",-22} result");
    int passed = 0, failed = 0;
    var total = Stopwatch.StartNew();
    foreach (var (name, run, _) in selected)
    {
        Outcome o;
        try { o = run(); }
        catch (Exception e) { o = new Outcome("?", double.NaN, double.NaN, 0, 0, $"{e.GetType().Name}: {e.Message}"); }
        bool ok = o.Problem is null;
        if (ok) passed++; else failed++;
        Console.WriteLine($"{name,-26} {o.Input,-10} {o.Scale,10:G4} {o.Error,10:E2} {o.GeneratedMs,8:F1}ms {o.ReferenceMs,8:F1}ms  {KernelPathReport.Short,-22} {(ok ? "ok" : "FAIL: " + o.Problem)}");
    }
    Console.WriteLine($"Conformance ({RuntimeInformation.ProcessArchitecture}, tolerance {ReferenceCases.Tolerance:E0} of the largest reference logit): "
        + $"{passed} passed, {failed} failed in {total.Elapsed.TotalSeconds:F1} s");
    return failed == 0 ? 0 : 1;
}

// The int8 cases: each against the scalar reference on its float weights (the int8 model must follow it, not match
// it), then one hash per case over the bits of all its logits, which verify-arm64.sh compares between runs.
static int RunInt8Cases((string Name, Func<Int8Outcome> Run, IReadOnlyList<KernelPath> Paths)[] selected)
{
    Console.WriteLine();
    Console.WriteLine($"int8 cases: {Int8Check.Inputs} inputs each, against the scalar reference on the same float weights (calibration: Int8Ranges); "
        + $"int8 dot product here: {Int8Simd.DotPath128}, Dp.IsSupported={Dp.IsSupported}");
    Console.WriteLine($"{"case",-30} {"input",-10} {"top-1",6} {"margin",7} {"min cos",9} {"generated",10} {"reference",10}  {"logits hash (FNV-1a 64)",-23} result");
    int passed = 0, failed = 0;
    var total = Stopwatch.StartNew();
    var hashes = new List<string>();
    // The quantize rule for NaN (the lowest value, as on x64) on the paths this CPU runs: a NaN pixel reaches the
    // quantize steps as NaN, and none of the cases' images has one.
    string? nan = Int8Check.NaNQuantizeProblem();
    if (nan is null) passed++; else failed++;
    Console.WriteLine($"{"NaN activation -> lowest value",-30} {(nan is null ? "ok" : "FAIL: " + nan)}");
    foreach (var (name, run, _) in selected)
    {
        Int8Outcome o;
        try { o = run(); }
        catch (Exception e) { o = new Int8Outcome("?", 0, double.NaN, double.NaN, 0, 0, "-", $"{e.GetType().Name}: {e.Message}"); }
        bool ok = o.Problem is null;
        if (ok) passed++; else failed++;
        Console.WriteLine($"{name,-30} {o.Input,-10} {o.Agree,2}/{Int8Check.Inputs,-3} {o.Margin,7:F3} {o.WorstCosine,9:F6} {o.GeneratedMs,8:F1}ms {o.ReferenceMs,8:F1}ms  {o.Hash,-23} {(ok ? "ok" : "FAIL: " + o.Problem)}");
        hashes.Add($"Int8 hash {name} {o.Hash}");
    }
    // One line per case for eng/verify-arm64.sh to compare; the path is in the line so a log says which run it came from.
    foreach (var line in hashes) Console.WriteLine($"{line} ({Int8Simd.DotPath128})");
    Console.WriteLine($"Conformance ({RuntimeInformation.ProcessArchitecture} int8, {Int8Simd.DotPath128}, same top-1 and centred cosine > {Int8Check.MinCosine} vs the reference): "
        + $"{passed} passed, {failed} failed in {total.Elapsed.TotalSeconds:F1} s");
    return failed == 0 ? 0 : 1;
}

static (string, Func<Outcome>, IReadOnlyList<KernelPath>) Check<T>(string name) where T : class, IShuffleNetModel<T> =>
    (name, () => Run<T>(name), T.KernelPaths);

// The body of ReferenceMatrixTests.LogitsMatchTheScalarReference, for a model compiled into this program.
static Outcome Run<T>(string name) where T : class, IShuffleNetModel<T>
{
    var d = T.Description;
    var weights = RandomWeights.Create(d.WeightLayout, seed: ReferenceCases.WeightSeed(name));
    var model = T.FromTensors(weights);
    var input = ReferenceCases.Input(d.InputChannels * d.InputHeight * d.InputWidth);

    var logits = new float[d.Classes];
    long start = Stopwatch.GetTimestamp();
    model.Forward(input, logits);
    double generatedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;

    // The reference's logits: committed (computed on the host and checked by ConformanceCasesTests), unless
    // --compute-reference asks for them to be computed here, on the target.
    float[]? expected = CommittedReference.ComputeHere ? null : CommittedReference.For(name, d.Classes);
    double referenceMs = 0;
    if (expected is null)
    {
        start = Stopwatch.GetTimestamp();
        expected = ReferenceCases.ReferenceLogits(d, n => weights[n].Data, input);   // v1's or v2's reference, by d.Version
        referenceMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    double scale = expected.Max(v => Math.Abs((double)v));
    double worst = logits.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max() / scale;
    string shape = $"{d.InputChannels}x{d.InputHeight}x{d.InputWidth}";

    string? problem = null;
    if (logits.Any(float.IsNaN)) problem = "NaN logit";
    else if (!(scale > 1e-3)) problem = "reference logits are all near zero: the check would not see errors";
    else if (!(worst <= ReferenceCases.Tolerance)) problem = $"max error {worst:E3} relative to the largest logit {scale:G4} exceeds {ReferenceCases.Tolerance:E0}";
    else
    {
        // Same input twice: the arena holds no state between calls.
        var again = new float[d.Classes];
        model.Forward(input, again);
        if (!again.AsSpan().SequenceEqual(logits)) problem = "a second Forward on the same input gave other logits";
        // The same pass split across two threads: no sum is split, so the bits must be the one-thread pass's.
        else if (!TeamCheck.SameOnTwoThreads(model, input, logits)) problem = "Forward on a 2-thread ShuffleNetTeam gave other logits than one thread";
    }
    return new Outcome(shape, scale, worst, generatedMs, referenceMs, problem);
}

static (string, Func<Int8Outcome>, IReadOnlyList<KernelPath>) CheckInt8<T>(string name) where T : class, IShuffleNetModel<T> =>
    (name, () => Int8Check.Run<T>(name), T.KernelPaths);

internal sealed record Outcome(string Input, double Scale, double Error, double GeneratedMs, double ReferenceMs, string? Problem);

/// <summary>Every model's pass on a two-thread team, against its one-thread logits, bit for bit.</summary>
internal static class TeamCheck
{
    private static readonly ShuffleNetTeam s_two = new(2);

    public static bool SameOnTwoThreads(IShuffleNetModel model, float[] input, float[] oneThread)
    {
        var logits = new float[oneThread.Length];
        model.Forward(input, logits, s_two);
        return logits.AsSpan().SequenceEqual(oneThread);
    }
}
