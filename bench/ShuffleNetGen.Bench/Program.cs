using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using System.Text.Json;
using BenchmarkDotNet.Running;
using Microsoft.ML.OnnxRuntime;
using ShuffleNetGen;
using ShuffleNetGen.Bench;
using ShuffleNetGen.Weights;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args.Contains("--bdn"))
{
    // BenchmarkDotNet: whole-model and per-op timings (see Benchmarks.cs); remaining arguments go to BDN.
    BenchmarkSwitcher.FromAssembly(typeof(WholeModel).Assembly).Run(args.Where(a => a != "--bdn").ToArray());
    return;
}

if (args.Contains("--peak"))
{
    Console.WriteLine($"FMA peak, one core, 12 independent chains, best of 7 x 50 ms: Vector512 {FmaPeak.Gmacs512():F1}, Vector256 {FmaPeak.Gmacs256():F1}, Vector128 {FmaPeak.Gmacs128():F1} GMAC/s");
    var (widest, fp32) = FmaPeak.Widest();
    Console.WriteLine($"int8 family the kernels run here: {ShuffleNetGen.Kernels.Int8Family.Description}");
    foreach (var (family, gmacs) in Int8Peak.Measure())
        Console.WriteLine($"int8 peak, {family}: {gmacs:F1} GMAC/s, {gmacs / fp32:F2}x the fp32 {widest} FMA peak ({fp32:F1})");
    return;
}

if (args.Contains("--int8-accuracy"))
{
    // int8 against float at 224 with random weights: --int8-accuracy [calibration images] [test images].
    var counts = args.SkipWhile(a => a != "--int8-accuracy").Skip(1).TakeWhile(a => int.TryParse(a, out _)).Select(int.Parse).ToArray();
    Int8Accuracy.Run(counts.Length > 0 ? counts[0] : 16, counts.Length > 1 ? counts[1] : 100, 2024);
    return;
}

if (args.Contains("--int8-file-size"))
{
    // The int8 model's calibrated F32 file against its int8 weight file (docs/int8.md, "Weights at rest").
    Int8FileSize.Run(2024);
    return;
}

if (args.Contains("--qdq-anchor"))
{
    // The torch.ao route's QDQ fixture run by ONNX Runtime and by ShuffleNetGen (OnnxWeights.Read) side by side.
    QdqAnchor.Run(RepoRoot.Find());
    return;
}

if (args.Contains("--trace"))
{
    // Where a team's pass spends its time: per op and thread, the wait for the op before, the work, and the hand-over.
    int threads = args.SkipWhile(a => a != "--threads").Skip(1).Select(int.Parse).DefaultIfEmpty(2).First();
    if (args.SkipWhile(a => a != "--trace").Skip(1).FirstOrDefault() == "g3_1x_224_int8")
        ThreadScaling.Trace(G3One224Int8.CreateRandom(2024), G3One224Int8.InputLength, G3One224Int8.Classes, G3One224Int8.BenchmarkOpNames, threads);
    else
        ThreadScaling.Trace(G3One224.CreateRandom(2024), G3One224.InputLength, G3One224.Classes, G3One224.BenchmarkOpNames, threads);
    return;
}

if (args.Contains("--ops") && args.Contains("--threads"))
{
    // Per-op parallel efficiency: each op alone at one thread and split on a team, alternated (1x g = 3, its int8 twin, or v2_x1_0_224).
    int threads = args.SkipWhile(a => a != "--threads").Skip(1).Select(int.Parse).First();
    if (args.SkipWhile(a => a != "--ops").Skip(1).FirstOrDefault() == "v2_x1_0_224")
        ThreadScaling.Ops(V2X1_0_224.CreateRandom(2024), V2X1_0_224.InputLength, V2X1_0_224.Classes, V2X1_0_224.BenchmarkOpNames, threads, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    else if (args.SkipWhile(a => a != "--ops").Skip(1).FirstOrDefault() == "g3_1x_224_int8")
        ThreadScaling.Ops(G3One224Int8.CreateRandom(2024), G3One224Int8.InputLength, G3One224Int8.Classes, G3One224Int8.BenchmarkOpNames, threads, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    else
        ThreadScaling.Ops(G3One224.CreateRandom(2024), G3One224.InputLength, G3One224.Classes, G3One224.BenchmarkOpNames, threads, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    return;
}

if (args.Contains("--ops"))
{
    // Quick per-op profile of 1x g = 3 (Stopwatch, median of repeats); --bdn --filter *PerOp* for BenchmarkDotNet's.
    // --ops [config]: 1x g = 3 by default; also g3_0.5x_224, g3_1x_224_int8 and v2_x1_0_224.
    string? opsConfig = args.SkipWhile(a => a != "--ops").Skip(1).FirstOrDefault();
    if (opsConfig == "g3_0.5x_224")
        OpProfile.Run(G3Half224.CreateRandom(2024), G3Half224.InputLength, G3Half224.Classes, G3Half224.BenchmarkOpNames, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    else if (opsConfig == "g3_1x_224_int8")
        OpProfile.Run(G3One224Int8.CreateRandom(2024), G3One224Int8.InputLength, G3One224Int8.Classes, G3One224Int8.BenchmarkOpNames, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    else if (opsConfig == "v2_x1_0_224")
        OpProfile.Run(V2X1_0_224.CreateRandom(2024), V2X1_0_224.InputLength, V2X1_0_224.Classes, V2X1_0_224.BenchmarkOpNames, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    else
        OpProfile.Run(G3One224.CreateRandom(2024), G3One224.InputLength, G3One224.Classes, G3One224.BenchmarkOpNames, (m, i, x, l) => m.RunOpForBenchmark(i, x, l));
    return;
}

bool quick = args.Contains("--quick");
string? only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
var cpu = CpuInfo.Read();
var candidates = new ICandidate[]
{
    new Candidate<G3Half224>("g3_0.5x_224"),
    new Candidate<G3One224>("g3_1x_224"),
    new Candidate<G3One224Int8>("g3_1x_224_int8", G3One224.WeightLayout),
    new Candidate<G3One224Int8>("g3_1x_224_int8_vs_ort_int8", G3One224.WeightLayout, ortInt8: true),
    new Candidate<G3Two224>("g3_2x_224"),
    new Candidate<G8One224>("g8_1x_224"),
    new Candidate<G3Quarter64>("g3_0.25x_64"),
    new Candidate<V2X1_0_224>("v2_x1_0_224"),
}.Where(c => only is null || c.Name == only || c.Name == only + "_int8" || c.Name == only + "_int8_vs_ort_int8").ToArray();

// Debugging ORT's side (each takes effect for every ORT session of the run):
//   --save-ort-optimized DIR  writes each session's optimized graph (SessionOptions.OptimizedModelFilePath) to
//                             DIR/{config}.optimized.onnx, to check which kernels ORT fused the model into;
//   --ort-profile DIR         ORT's per-node profile (SessionOptions.EnableProfiling) as DIR/{config}_*.json;
//   --qdq-args "ARGS"         extra arguments for make_qdq_onnx.py (e.g. "--mode depthwise"; part of the cache key);
//   --qdq-level LEVEL         graph optimization level of the QDQ session: basic, extended (default) or all;
//   --qdq-model FILE          time ORT on FILE instead of the generated QDQ model (must take the same input);
//   --qdq-x64-quant-precision the QDQ session with ORT's "session.x64quantprecision" = 1: int8 products widened to
//                             int16 pairs that cannot saturate on x64 without VNNI (slower; for checking agreement).
CandidateOptions.SaveOptimizedTo = args.SkipWhile(a => a != "--save-ort-optimized").Skip(1).FirstOrDefault();
CandidateOptions.ProfileTo = args.SkipWhile(a => a != "--ort-profile").Skip(1).FirstOrDefault();
CandidateOptions.QdqArgs = args.SkipWhile(a => a != "--qdq-args").Skip(1).FirstOrDefault()?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
CandidateOptions.QdqLevel = args.SkipWhile(a => a != "--qdq-level").Skip(1).FirstOrDefault() switch
{
    null or "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all" => GraphOptimizationLevel.ORT_ENABLE_ALL,
    "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
    var other => throw new ArgumentException($"--qdq-level {other}: expected basic, extended or all"),
};
CandidateOptions.QdqModel = args.SkipWhile(a => a != "--qdq-model").Skip(1).FirstOrDefault();
CandidateOptions.QdqX64Precision = args.Contains("--qdq-x64-quant-precision");

Console.WriteLine($"CPU: {cpu.Model}, {Environment.ProcessorCount} logical cores; clock {cpu.ClockGHz:F3} GHz ({cpu.ClockSource})");
Console.WriteLine($".NET {Environment.Version}; Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, Vector128 {Vector128.IsHardwareAccelerated}; ONNX Runtime CPU EP, IntraOpNumThreads = 1, ORT_ENABLE_ALL");
var (peakWidth, peakGmacs) = FmaPeak.Widest();
Console.WriteLine($"FMA peak, measured ({peakWidth}, the width the generated kernels use; 12 independent chains): {peakGmacs:F1} GMAC/s"
    + $" (for comparison, {cpu.Lanes} lanes x {CpuInfo.FmaUnits} pipes x the reported {cpu.ClockGHz:F3} GHz would be {cpu.PeakGmacs:F1})");
Console.WriteLine($"Mode: {(quick ? "--quick" : "full")}; SNG and ORT alternate within each config; latencies in ms, one image, one thread");

string cache = Path.Combine(Path.GetTempPath(), "shufflenetgen-bench");
Directory.CreateDirectory(cache);
string repo = RepoRoot.Find();
var results = new List<(string Name, double Ratio)>();
var rows = new List<string>();
int nameWidth = Math.Max(13, candidates.Select(c => c.Name.Length).DefaultIfEmpty(0).Max());
string header = $"{"config".PadRight(nameWidth)} {"MMAC",7} {"sng_med",8} {"sng_p90",8} {"ort_med",8} {"ort_p90",8} {"ratio",6} {"max|dlogit|",12} {"agree",5} {"GMAC/s",7} {"%peak",6} {"ort_GMAC/s",10} {"0.5x_needs",10}";
foreach (var c in candidates)
{
    c.Setup(repo, cache);
    var r = c.Measure(quick);
    results.Add((c.Name, r.MedianRatio));
    double gmacs = c.MultiplyAdds / (r.SngMedian * 1e-3) / 1e9;
    double ortGmacs = c.MultiplyAdds / (r.OrtMedian * 1e-3) / 1e9;
    string row = $"{c.Name.PadRight(nameWidth)} {c.MultiplyAdds / 1e6,7:F1} {r.SngMedian,8:F3} {r.SngP90,8:F3} {r.OrtMedian,8:F3} {r.OrtP90,8:F3} {r.MedianRatio,6:F3} {r.MaxAbsDiff,12:E2} {(r.Agree ? "yes" : "NO"),5} {gmacs,7:F1} {gmacs / peakGmacs,6:P1} {ortGmacs,10:F1} {2 * ortGmacs / peakGmacs,10:P0}";
    rows.Add(row);
    Console.WriteLine($"  measured {c.Name}: {r.Pairs} alternating pairs");
    c.Dispose();
}
Console.WriteLine();
Console.WriteLine(header);
foreach (var row in rows) Console.WriteLine(row);
Console.WriteLine("ratio = median over pairs of SNG/ORT (_int8: SNG int8 against ORT float on the same float weights; _int8_vs_ort_int8: SNG int8 against ORT on the QDQ model of tools/make_qdq_onnx.py,"
    + $" same calibration, 1x1 convs uint8 x int8 (ORT quantizes the depthwise convs too), session at {CandidateOptions.QdqLevel});"
    + " agree = max |dlogit| <= 1e-4 x largest |logit| (int8 rows: same top-1); %peak = GMAC/s over the measured FMA peak above;"
    + " 0.5x_needs = the share of that peak a model running at half ORT's time would need (over 100%: impossible on this core)");

if (only is null || only == "g3_1x_224")
{
    // Batch throughput: one model instance per worker, images handed out from a shared counter.
    int images = quick ? 64 : 256;
    var seq = Batch<G3One224>.Measure(1, images);
    var par = Batch<G3One224>.Measure(Math.Min(2, Environment.ProcessorCount), images);
    Console.WriteLine($"batch g3_1x_224 ({images} images, ShuffleNetBatch.Run): 1 worker {seq:F1} images/s, {Math.Min(2, Environment.ProcessorCount)} workers {par:F1} images/s, scaling {par / seq:F2}x");
}

if (only is null || only == "g3_1x_224")
{
    int threads = args.SkipWhile(a => a != "--threads").Skip(1).Select(int.Parse).DefaultIfEmpty(2).First();
    ThreadScaling.Run<G3One224>("g3_1x_224", repo, cache, quick, threads);
}

var main = results.FirstOrDefault(r => r.Name == "g3_1x_224");
var int8 = results.FirstOrDefault(r => r.Name == "g3_1x_224_int8");
var int8Int8 = results.FirstOrDefault(r => r.Name == "g3_1x_224_int8_vs_ort_int8");
if (int8.Name is not null) Console.WriteLine($"ratio_int8_vs_onnxruntime_fp32 g3_1x_224 {int8.Ratio:F3}");
if (int8Int8.Name is not null) Console.WriteLine($"ratio_int8_vs_onnxruntime_int8 g3_1x_224 {int8Int8.Ratio:F3}");
var v2 = results.FirstOrDefault(r => r.Name == "v2_x1_0_224");
if (v2.Name is not null) Console.WriteLine($"ratio_vs_onnxruntime v2_x1_0_224 {v2.Ratio:F3}");
if (main.Name is not null) Console.WriteLine($"ratio_vs_onnxruntime g3_1x_224 {main.Ratio:F3}");

internal readonly record struct Measurement(double SngMedian, double SngP90, double OrtMedian, double OrtP90, double MedianRatio, double MaxAbsDiff, bool Agree, int Pairs);

internal interface ICandidate : IDisposable
{
    string Name { get; }
    long MultiplyAdds { get; }
    void Setup(string repo, string cache);
    Measurement Measure(bool quick);
}

internal static class CandidateOptions
{
    /// <summary>When set, a directory each ORT session writes its optimized graph to, as {config}.optimized.onnx.</summary>
    public static string? SaveOptimizedTo;

    /// <summary>Whether the QDQ session sets ORT's session.x64quantprecision (no VPMADDUBSW saturation).</summary>
    public static bool QdqX64Precision;

    /// <summary>When set, a directory ORT writes a per-node profile to.</summary>
    public static string? ProfileTo;

    /// <summary>Extra arguments for make_qdq_onnx.py.</summary>
    public static string[] QdqArgs = [];

    /// <summary>
    /// The QDQ session's graph optimization level. EXTENDED already fuses the QDQ groups into QLinearConv; ALL adds the
    /// NHWC layout transformer, which on this network wraps the QLinearConvs in 64 Transposes (the channel shuffle's
    /// Reshape stops them from cancelling) and made ORT int8 about 1.7x slower, so the faster level is the anchor.
    /// </summary>
    public static GraphOptimizationLevel QdqLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED;

    /// <summary>When set, the QDQ model to use instead of make_qdq_onnx.py's.</summary>
    public static string? QdqModel;
}

internal sealed class Candidate<T> : ICandidate where T : class, IShuffleNetModel<T>
{
    private const int Seed = 2024;
    private T? _model;
    private InferenceSession? _session;
    private OrtValue? _ortInput, _ortOutput;
    private RunOptions? _runOptions;
    private readonly float[] _input = new float[T.InputElementCount];
    private readonly float[] _sngLogits = new float[T.ClassCount];
    private readonly float[] _ortLogits = new float[T.ClassCount];
    private string[] _inputNames = { "input" }, _outputNames = { "logits" };

    private const int CalibrationImages = 8;

    /// <summary>
    /// <paramref name="floatLayout"/>: T is an int8 model, and this is its float twin's layout. The random float weights
    /// of that layout go to ONNX Runtime as they are and to T after calibration on eight random images.
    /// <paramref name="ortInt8"/> (int8 T only): ONNX Runtime gets the QDQ model tools/make_qdq_onnx.py makes from the
    /// float export and T's calibrated tensors instead, so both sides run their 1x1 convolutions in integers.
    /// </summary>
    public Candidate(string name, IReadOnlyList<TensorShape>? floatLayout = null, bool ortInt8 = false, int ortThreads = 1)
    {
        _ortThreads = ortThreads;
        if (ortInt8 && floatLayout is null) throw new ArgumentException("ortInt8 needs an int8 model.", nameof(ortInt8));
        Name = name;
        _floatLayout = floatLayout;
        _ortInt8 = ortInt8;
    }

    private readonly IReadOnlyList<TensorShape>? _floatLayout;
    private readonly bool _ortInt8;
    private readonly int _ortThreads;

    public string Name { get; }
    public long MultiplyAdds => T.Description.MultiplyAdds;

    public void Setup(string repo, string cache)
    {
        var d = T.Description;
        var tensors = RandomWeights.Create(_floatLayout ?? d.WeightLayout, Seed);
        var calibrated = _floatLayout is null ? null
            : ShuffleNetGen.Quantization.Int8Calibration.Calibrate(d, tensors, RandomWeights.Images(T.InputElementCount, CalibrationImages, Seed));
        _model = T.FromTensors(calibrated ?? tensors);

        // The ONNX model comes from exactly these weights: saved with Safetensors.Write, exported by tools/export_onnx.py.
        var config = new Dictionary<string, object>
        {
            ["groups"] = d.Groups, ["stem_channels"] = d.StemChannels, ["stage_channels"] = d.StageChannels,
            ["stage_repeats"] = d.StageRepeats, ["input_channels"] = d.InputChannels, ["input_height"] = d.InputHeight,
            ["input_width"] = d.InputWidth, ["classes"] = d.Classes, ["stem_stride"] = d.StemStride, ["stem_max_pool"] = d.StemMaxPool,
        };
        if (d.Version != 1)
        {
            config["version"] = d.Version;
            config["final_channels"] = d.FinalChannels;
        }
        string json = JsonSerializer.Serialize(config);
        using var weightsStream = new MemoryStream();
        Safetensors.Write(weightsStream, tensors);
        byte[] weightBytes = weightsStream.ToArray();
        string key = Convert.ToHexString(SHA256.HashData([.. System.Text.Encoding.UTF8.GetBytes(json), .. weightBytes]))[..16].ToLowerInvariant();
        string stem = Path.Combine(cache, $"{Name}-{key}");
        string onnx = stem + ".onnx";
        if (!File.Exists(onnx))
        {
            File.WriteAllText(stem + ".json", json);
            File.WriteAllBytes(stem + ".safetensors", weightBytes);
            var sw = Stopwatch.StartNew();
            RunPython(repo, "export_onnx.py", "--config", stem + ".json", "--weights", stem + ".safetensors", "--out", onnx + ".tmp");
            File.Move(onnx + ".tmp", onnx, overwrite: true);
            Console.WriteLine($"  exported {Path.GetFileName(onnx)} in {sw.Elapsed.TotalSeconds:F1} s");
        }

        if (_ortInt8)
        {
            // The QDQ model: the float export plus the calibrated set (Safetensors.Write, as an application would save it),
            // quantized by tools/make_qdq_onnx.py with output ranges from the same eight calibration images. Cached by the
            // float model's key, the calibrated bytes and the script itself.
            using var calibratedStream = new MemoryStream();
            Safetensors.Write(calibratedStream, calibrated!);
            byte[] calibratedBytes = calibratedStream.ToArray();
            byte[] script = File.ReadAllBytes(Path.Combine(repo, "tools", "make_qdq_onnx.py"));
            string flags = string.Join(' ', CandidateOptions.QdqArgs);
            string qdqKey = Convert.ToHexString(SHA256.HashData([.. System.Text.Encoding.UTF8.GetBytes(key + flags), .. calibratedBytes, .. script]))[..16].ToLowerInvariant();
            string qdqStem = Path.Combine(cache, $"{Name}-{qdqKey}");
            string qdq = qdqStem + ".qdq.onnx";
            if (!File.Exists(qdq))
            {
                File.WriteAllBytes(qdqStem + ".calibrated.safetensors", calibratedBytes);
                var sw = Stopwatch.StartNew();
                var arguments = new List<string> { "--onnx", onnx, "--calibrated", qdqStem + ".calibrated.safetensors", "--out", qdq + ".tmp",
                    "--calibration-seed", Seed.ToString(CultureInfo.InvariantCulture), "--calibration-count", CalibrationImages.ToString(CultureInfo.InvariantCulture) };
                arguments.AddRange(CandidateOptions.QdqArgs);
                string report = RunPython(repo, "make_qdq_onnx.py", [.. arguments]);
                File.Move(qdq + ".tmp", qdq, overwrite: true);
                Console.WriteLine($"  quantized {Path.GetFileName(qdq)} in {sw.Elapsed.TotalSeconds:F1} s");
                foreach (var line in report.Split('\n', StringSplitOptions.RemoveEmptyEntries)) Console.WriteLine("    " + line);
            }
            onnx = CandidateOptions.QdqModel ?? qdq;
            Console.WriteLine($"  ORT runs {onnx}");
        }

        var options = new SessionOptions
        {
            IntraOpNumThreads = _ortThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = _ortInt8 ? CandidateOptions.QdqLevel : GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        if (_ortInt8 && CandidateOptions.QdqX64Precision) options.AddSessionConfigEntry("session.x64quantprecision", "1");
        if (CandidateOptions.SaveOptimizedTo is { } dir)
        {
            Directory.CreateDirectory(dir);
            options.OptimizedModelFilePath = Path.Combine(dir, Name + ".optimized.onnx");
            Console.WriteLine($"  ORT writes its optimized graph to {options.OptimizedModelFilePath}");
        }
        if (CandidateOptions.ProfileTo is { } profileDir)
        {
            Directory.CreateDirectory(profileDir);
            options.ProfileOutputPathPrefix = Path.Combine(profileDir, Name); // before EnableProfiling, which passes it to ORT
            options.EnableProfiling = true;
        }
        _session = new InferenceSession(onnx, options);
        _runOptions = new RunOptions();

        var rng = new Random(7);
        for (int i = 0; i < _input.Length; i++) _input[i] = (float)(rng.NextDouble() * 2 - 1);
        _ortInput = OrtValue.CreateTensorValueFromMemory(_input, new long[] { 1, d.InputChannels, d.InputHeight, d.InputWidth });
        _ortOutput = OrtValue.CreateTensorValueFromMemory(_ortLogits, new long[] { 1, d.Classes });
    }

    /// <summary>Runs tools/<paramref name="tool"/> with /usr/bin/python3 (torch, onnx, numpy) and returns its standard output.</summary>
    private static string RunPython(string repo, string tool, params string[] arguments)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repo };
        psi.ArgumentList.Add(Path.Combine(repo, "tools", tool));
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = stderrTask.Result;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{tool} failed ({p.ExitCode}):\n{stdout}\n{stderr}");
        return stdout;
    }

    private void RunSng() => _model!.Forward(_input, _sngLogits);

    public void RunSngAlone() => RunSng();

    /// <summary>This candidate's model on <paramref name="team"/>'s threads.</summary>
    public void RunSng(ShuffleNetTeam team) => _model!.Forward(_input, _sngLogits, team);

    public float[] SngLogits => _sngLogits;

    public void RunOrt() => _session!.Run(_runOptions!, _inputNames, new[] { _ortInput! }, _outputNames, new[] { _ortOutput! });

    public Measurement Measure(bool quick)
    {
        RunSng();
        RunOrt();
        double scale = _ortLogits.Max(v => Math.Abs((double)v));
        double maxDiff = 0;
        for (int i = 0; i < _sngLogits.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs((double)_sngLogits[i] - _ortLogits[i]));
        // int8 cannot match float to 1e-4, nor ORT's int8 (other rounding, requantized outputs); it agrees when it picks the same class.
        bool agree = _floatLayout is null ? maxDiff <= 1e-4 * scale : Array.IndexOf(_sngLogits, _sngLogits.Max()) == Array.IndexOf(_ortLogits, _ortLogits.Max());

        // Warm up both (the JIT's tiers, ORT's allocator arenas), then alternate one SNG and one ORT call per pair.
        double warmup = quick ? 0.6 : 2.0, budget = quick ? 4.0 : 15.0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 40 || clock.Elapsed.TotalSeconds < warmup; i++) { RunSng(); RunOrt(); }
        var sng = new List<double>();
        var ort = new List<double>();
        clock.Restart();
        while ((clock.Elapsed.TotalSeconds < budget || sng.Count < 30) && sng.Count < 5000)
        {
            long t0 = Stopwatch.GetTimestamp();
            RunSng();
            long t1 = Stopwatch.GetTimestamp();
            RunOrt();
            long t2 = Stopwatch.GetTimestamp();
            sng.Add((t1 - t0) * 1e3 / Stopwatch.Frequency);
            ort.Add((t2 - t1) * 1e3 / Stopwatch.Frequency);
        }
        var ratios = sng.Zip(ort, (a, b) => a / b).ToList();
        return new Measurement(Percentile(sng, 0.5), Percentile(sng, 0.9), Percentile(ort, 0.5), Percentile(ort, 0.9), Percentile(ratios, 0.5), maxDiff, agree, sng.Count);
    }

    private static double Percentile(List<double> values, double q)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }

    public void Dispose()
    {
        if (CandidateOptions.ProfileTo is not null && _session is not null) Console.WriteLine($"  ORT profile: {_session.EndProfiling()}");
        _ortInput?.Dispose();
        _ortOutput?.Dispose();
        _runOptions?.Dispose();
        _session?.Dispose();
    }
}

internal static class Batch<T> where T : class, IShuffleNetModel<T>
{
    /// <summary>Images per second over <paramref name="images"/> images with <paramref name="workers"/> model instances.</summary>
    public static double Measure(int workers, int images)
    {
        var models = Enumerable.Range(0, workers).Select(_ => T.CreateRandom(2024)).ToArray();
        var input = new float[images * T.InputElementCount];
        var rng = new Random(1);
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
        var logits = new float[images * T.ClassCount];
        int warm = Math.Min(images, 8 * workers);
        ShuffleNetBatch.Run(models, input.AsMemory(0, warm * T.InputElementCount), logits.AsMemory(0, warm * T.ClassCount)); // warm up
        var times = new List<double>();
        for (int r = 0; r < 3; r++)
        {
            var sw = Stopwatch.StartNew();
            ShuffleNetBatch.Run(models, input, logits);
            times.Add(images / sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[1];
    }
}

internal sealed record CpuInfo(string Model, double ClockGHz, string ClockSource, int Lanes)
{
    /// <summary>Two FMA pipes per core: Zen 4/5 and recent Intel server cores (an assumption, stated in the output).</summary>
    public const int FmaUnits = 2;

    public double PeakGflops => Lanes * FmaUnits * 2 * ClockGHz;
    public double PeakGmacs => Lanes * FmaUnits * ClockGHz;

    public static CpuInfo Read()
    {
        string model = "unknown";
        double mhz = 0;
        string source = "assumed";
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                var parts = line.Split(':', 2);
                if (parts.Length != 2) continue;
                string k = parts[0].Trim(), v = parts[1].Trim();
                if (k == "model name" && model == "unknown") model = v;
                if (k == "cpu MHz" && mhz == 0 && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var m)) { mhz = m; source = "/proc/cpuinfo 'cpu MHz'"; }
            }
        }
        catch (IOException) { }
        if (mhz == 0) mhz = 2500;
        int lanes = Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 4;
        return new CpuInfo(model, mhz / 1000, source, lanes);
    }
}

internal static class RepoRoot
{
    public static string Find()
    {
        foreach (var start in new[] { Environment.GetEnvironmentVariable("SHUFFLENETGEN_REPO"), Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "tools", "export_onnx.py"))) return dir.FullName;
        }
        throw new InvalidOperationException("tools/export_onnx.py not found: run from the repository or set SHUFFLENETGEN_REPO.");
    }
}

internal static class OpProfile
{
    public delegate void RunOp<T>(T model, int index, ReadOnlySpan<float> input, Span<float> logits);

    public static void Run<T>(T model, int inputLength, int classes, string[] names, RunOp<T> runOp) where T : class, IShuffleNetModel, IShuffleNetTeamModel
    {
        var input = new float[inputLength];
        for (int i = 0; i < input.Length; i++) input[i] = MathF.Sin(i * 0.01f);
        var logits = new float[classes];
        for (int i = 0; i < 200; i++) model.Forward(input, logits);
        // "alone": each op repeated by itself, its weights and operands hot in cache. "in order": whole forward passes
        // op by op, so each op meets the caches the previous ops left, as in Forward; the two differ by what the
        // model's traffic through L2 costs.
        var alone = new double[names.Length];
        for (int op = 0; op < names.Length; op++)
        {
            var t = new List<double>();
            for (int rep = 0; rep < 200; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runOp(model, op, input, logits);
                t.Add((Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency);
            }
            t.Sort();
            alone[op] = t[t.Count / 2];
        }
        var inOrder = Enumerable.Range(0, names.Length).Select(_ => new List<double>()).ToArray();
        for (int rep = 0; rep < 200; rep++)
        {
            for (int op = 0; op < names.Length; op++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runOp(model, op, input, logits);
                inOrder[op].Add((Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency);
            }
        }
        var medians = inOrder.Select(t => { t.Sort(); return t[t.Count / 2]; }).ToArray();
        double total = medians.Sum();
        Console.WriteLine("op   in order          alone     name");
        for (int op = 0; op < names.Length; op++) Console.WriteLine($"{op,3} {medians[op],9:F1} us {medians[op] / total,6:P1} {alone[op],9:F1} us  {names[op]}");
        Console.WriteLine($"sum {total:F1} us in order, {alone.Sum():F1} us alone");
        Roofline(names, medians, model.TeamCosts.ToArray());
    }

    /// <summary>
    /// The in-order times by op kind against this core's peaks measured now (the FMA chains of <see cref="FmaPeak"/>,
    /// the int8 family the kernels run), and what the pass would take with every convolution and classifier at its
    /// peak and the other ops as measured: how far kernel work alone could take the pass on this CPU.
    /// </summary>
    private static void Roofline(string[] names, double[] medians, int[] costs)
    {
        var (width, fp32) = FmaPeak.Widest();
        string family = ShuffleNetGen.Kernels.Int8Family.Description.Split(':')[0].Split(' ')[^1]; // "int8 family madd256: ..."
        double int8 = names.Any(n => n.Contains(": Int8", StringComparison.Ordinal))
            ? Int8Peak.Measure().First(f => f.Family.StartsWith(family + ":", StringComparison.Ordinal)).Gmacs : double.NaN;
        Console.WriteLine($"peaks measured now: fp32 {width} FMA {fp32:F1} GMAC/s{(double.IsNaN(int8) ? "" : $", int8 {family} {int8:F1} GMAC/s")}");
        Console.WriteLine("kind                     in order  share      MMAC  GMAC/s  % of peak  at peak");
        double total = medians.Sum(), bound = 0;
        foreach (var kind in names.Select((n, op) => (Kind: KindOf(n), Op: op)).GroupBy(x => x.Kind).OrderByDescending(g => g.Sum(x => medians[x.Op])))
        {
            var (label, counted, bounded, isInt8) = kind.Key;
            double us = kind.Sum(x => medians[x.Op]);
            double macs = kind.Sum(x => (double)costs[x.Op]) * 1e3;
            double peak = isInt8 ? int8 : fp32;
            double atPeak = bounded ? macs / peak / 1e3 : us;
            bound += atPeak;
            Console.WriteLine(counted
                ? $"{label,-24} {us,8:F1} us {us / total,6:P1} {macs / 1e6,9:F2} {macs / us / 1e3,7:F1} {macs / us / 1e3 / peak,9:P1} {atPeak,8:F1} us"
                : $"{label,-24} {us,8:F1} us {us / total,6:P1}                                {atPeak,8:F1} us");
        }
        Console.WriteLine($"bound: {bound:F1} us with every convolution and classifier at its peak, the rest as measured ({bound / total:P1} of the measured {total:F1} us)");
    }

    /// <summary>
    /// An op kind of the table: whether its team cost counts multiply-adds, and whether the bound takes it at its peak.
    /// Depthwise is counted (nine multiply-adds an output) but not bounded: its loads limit it, not the FMA pipes.
    /// </summary>
    private sealed record OpKind(string Label, bool CountsMacs, bool Bounded, bool Int8);

    private static OpKind KindOf(string name)
    {
        string kernel = name[(name.IndexOf(": ", StringComparison.Ordinal) + 2)..];
        bool int8 = kernel.StartsWith("Int8", StringComparison.Ordinal);
        string prefix = int8 ? "int8 " : "";
        if (kernel.Contains("Pointwise", StringComparison.Ordinal))
            return new(prefix + (kernel.Contains("_49px", StringComparison.Ordinal) ? "1x1 convolution 7x7" : "1x1 convolution"), true, true, int8);
        if (kernel.Contains("Linear", StringComparison.Ordinal)) return new(prefix + "classifier", true, true, int8);
        if (kernel.StartsWith("Conv3x3", StringComparison.Ordinal)) return new("stem", true, true, false);
        if (kernel.StartsWith("Depthwise", StringComparison.Ordinal)) return new("depthwise", true, false, false);
        if (kernel.Contains("Pool", StringComparison.Ordinal)) return new("pools", false, false, false);
        return new(kernel.StartsWith("Quantize", StringComparison.Ordinal) ? "quantize" : "other", false, false, false);
    }
}
