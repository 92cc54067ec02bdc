using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using ShuffleNetGen;

namespace ShuffleNetGen.Bench;

/// <summary>Whole-model latency of each benchmarked configuration (one image, one thread).</summary>
[Config(typeof(Config))]
public class WholeModel
{
    private Action _run = () => { };

    [Params("g3_0.5x_224", "g3_1x_224", "g3_2x_224", "g8_1x_224", "g3_0.25x_64")]
    public string Model { get; set; } = "g3_1x_224";

    [GlobalSetup]
    public void Setup() => _run = Model switch
    {
        "g3_0.5x_224" => Runner<G3Half224>(),
        "g3_1x_224" => Runner<G3One224>(),
        "g3_2x_224" => Runner<G3Two224>(),
        "g8_1x_224" => Runner<G8One224>(),
        _ => Runner<G3Quarter64>(),
    };

    [Benchmark]
    public void Forward() => _run();

    private static Action Runner<T>() where T : class, IShuffleNetModel<T>
    {
        var model = T.CreateRandom(2024);
        var input = new float[T.InputElementCount];
        for (int i = 0; i < input.Length; i++) input[i] = MathF.Sin(i * 0.01f);
        var logits = new float[T.ClassCount];
        return () => model.Forward(input, logits);
    }

    internal sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithId("short"));
    }
}

/// <summary>
/// Each op (kernel call) of the 1x g = 3 224x224 model on its own, through the generated benchmark hook, so kernel work
/// can be targeted: <c>--bdn --filter *PerOp*</c>.
/// </summary>
[Config(typeof(WholeModel.Config))]
public class PerOp
{
    private readonly G3One224 _model = G3One224.CreateRandom(2024);
    private readonly float[] _input = new float[G3One224.InputLength];
    private readonly float[] _logits = new float[G3One224.Classes];

    public static IEnumerable<int> Ops => Enumerable.Range(0, G3One224.BenchmarkOpNames.Length);

    [ParamsSource(nameof(Ops))]
    public int Op { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < _input.Length; i++) _input[i] = MathF.Sin(i * 0.01f);
        _model.Forward(_input, _logits); // fills the arena with realistic activations
        Console.WriteLine($"// op {Op}: {G3One224.BenchmarkOpNames[Op]}");
    }

    [Benchmark]
    public void Run() => _model.RunOpForBenchmark(Op, _input, _logits);
}
