using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using PuppeteerSharp;
using PuppeteerSharp.Input;
using ShuffleNetGen.Tests.Infrastructure;
using ShuffleNetGen.Tests.Models;
using Xunit;
using Xunit.Abstractions;

namespace ShuffleNetGen.Tests;

/// <summary>
/// samples/Browser in a real browser: publishes the Blazor WebAssembly sample, serves it from 127.0.0.1 (a server in
/// this process; nothing leaves the machine), runs Debian's chromium headless through a DevTools client (PuppeteerSharp)
/// on <c>?selftest=N</c>, and compares the page's predictions with the same model and weights on the desktop JIT. Then
/// the same page under <c>chromium --dump-dom --virtual-time-budget</c>, which must still print the self-test line.
/// Writes a screenshot of the page into the test output folder and prints its path.
/// </summary>
/// <remarks>
/// One publish and two browser runs, so one test. <c>SNG_BROWSER_ROUNDS=K</c> (default 1) loads the self-test K times
/// and times the desktop model K times on the same images, and prints every rate and the medians; it also publishes
/// the precompressed .br files, to report their size. The README's figures come from such a run. <c>SNG_CHROMIUM</c> names another browser executable.
/// </remarks>
[Trait("Category", "Slow")] // publishes a Blazor WebAssembly app, starts a browser twice
public class BrowserSampleTests
{
    /// <summary>Test images the DevTools run classifies: all the sample embeds.</summary>
    private const int Images = 256;

    /// <summary>Test images of the int8 run (in the default single round).</summary>
    private const int Int8Images = 32;

    /// <summary>Test images of the --dump-dom run.</summary>
    private const int DumpDomImages = 100;

    /// <summary>A prediction may differ only where the desktop's two largest logits are this close (WebAssembly has no FMA).</summary>
    private const float NearTie = 1e-4f;

    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);
    private const int BrowserTimeoutMs = 120_000;

    private static readonly string[] ChromiumFlags =
    {
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    };

    private readonly ITestOutputHelper _output;

    public BrowserSampleTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task PublishedSampleClassifiesInHeadlessChromiumAsOnTheDesktop()
    {
        var total = Stopwatch.StartNew();
        string chromium = FindChromium();
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("SNG_BROWSER_ROUNDS"), out int r) && r > 0 ? r : 1;
        string work = Path.Combine(Path.GetTempPath(), "sng-browser-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            // Publish (the README's command). The test host's MSBuild variables must not reach the child SDK. Unless
            // measuring, without the precompressed .br/.gz copies: the server here sends plain files, and compressing
            // at the highest levels took 33 of 80 s of a cold publish (set through the environment, not as a global
            // property, so the referenced projects are not evaluated differently).
            var watch = Stopwatch.StartNew();
            string publish = Path.Combine(work, "publish");
            var environment = new Dictionary<string, string?>(ConsumerProgram.SdkEnvironment);
            if (rounds == 1) environment["CompressionEnabled"] = "false";
            var (code, stdout, stderr) = ProcessRunner.Run("dotnet",
                new[] { "publish", Repository.File("samples/Browser/ShuffleNetGen.Browser.csproj"), "-c", "Release", "-o", publish },
                environment: environment, timeout: PublishTimeout);
            Assert.True(code == 0, $"dotnet publish samples/Browser failed ({code}):\n{stdout}\n{stderr}");
            string wwwroot = Path.Combine(publish, "wwwroot");
            long bytes = Directory.EnumerateFiles(wwwroot, "*", SearchOption.AllDirectories)
                .Where(f => !f.EndsWith(".br", StringComparison.Ordinal) && !f.EndsWith(".gz", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
            _output.WriteLine($"published in {watch.Elapsed.TotalSeconds:F0} s: {bytes:N0} bytes in wwwroot (uncompressed files)");

            var (images, labels) = TestSubset();
            var desktop = DesktopLogits(images);

            using var server = new StaticServer(wwwroot);
            _output.WriteLine($"serving {wwwroot} at {server.Url}");

            // DevTools client: real time, so the page's images_per_second is a measurement.
            watch.Restart();
            var rates = new List<double>();
            var desktopRates = new List<double>();
            string screenshot = Path.Combine(AppContext.BaseDirectory, "browser", "browser-screenshot.png");
            Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
            var launch = new LaunchOptions
            {
                ExecutablePath = chromium,
                Headless = true,
                UserDataDir = Path.Combine(work, "profile"),
                Args = ChromiumFlags.Where(f => f != "--headless").ToArray(),
                Timeout = BrowserTimeoutMs,
                ProtocolTimeout = BrowserTimeoutMs,
            };
            await using (var browser = await Puppeteer.LaunchAsync(launch))
            {
                // Loads ?selftest=N[&model=int8] in a new page and waits for its line; the page stays open for checks.
                async Task<(IPage Page, Match Line)> SelfTest(int n, string model)
                {
                    var page = await browser.NewPageAsync();
                    page.DefaultTimeout = BrowserTimeoutMs;
                    var console = new List<string>();
                    page.Console += (_, e) => { lock (console) console.Add(e.Message.Text); };
                    page.PageError += (_, e) => { lock (console) console.Add("page error: " + e.Message); };
                    await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 1000 });
                    await page.GoToAsync($"{server.Url}?selftest={n}&model={model}", new NavigationOptions { Timeout = BrowserTimeoutMs });
                    try
                    {
                        await page.WaitForFunctionAsync(
                            "() => /^selftest (images|error)/.test(document.getElementById('selftest-result')?.textContent ?? '')",
                            new WaitForFunctionOptions { Timeout = BrowserTimeoutMs, PollingInterval = 100 });
                    }
                    catch (WaitTaskTimeoutException)
                    {
                        Assert.Fail($"no self-test result within {BrowserTimeoutMs / 1000} s; the page's console:\n{string.Join('\n', console)}");
                    }
                    string line = await page.EvaluateExpressionAsync<string>("document.getElementById('selftest-result').textContent");
                    var match = SelfTestLine.Match(line);
                    Assert.True(match.Success && match.Groups[1].Value == n.ToString(CultureInfo.InvariantCulture), $"self-test line: {line}");
                    _output.WriteLine($"chromium, {model}: {line}");
                    return (page, match);
                }

                static async Task<(int Predicted, float[] Logits)[]> Predictions(IPage page)
                {
                    var rows = await page.EvaluateExpressionAsync<string[][]>(
                        "Array.from(document.querySelectorAll('#selftest-predictions li')).map(li => [li.dataset.index, li.dataset.predicted, li.dataset.logits])");
                    return rows.Select((row, i) =>
                    {
                        Assert.Equal(i.ToString(CultureInfo.InvariantCulture), row[0]);
                        var logits = row[2].Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                        int predicted = int.Parse(row[1], CultureInfo.InvariantCulture);
                        Assert.Equal(Logits.ArgMax(logits), predicted);
                        return (predicted, logits);
                    }).ToArray();
                }

                var (first, firstLine) = await SelfTest(Images, "float");
                rates.Add(double.Parse(firstLine.Groups[3].Value, CultureInfo.InvariantCulture));
                desktopRates.Add(DesktopRate(images)); // right after the page's, so both see the same machine load

                // WebAssembly SIMD: Vector128 accelerated, every kernel on its Vector128 code (scalar only where a plane
                // has no vector interior, as on every target), nothing wider, no ARM64 branch.
                Assert.Equal("True", await first.EvaluateExpressionAsync<string>("document.getElementById('vector128-accelerated').textContent"));
                var paths = await first.EvaluateExpressionAsync<string[][]>(
                    "Array.from(document.querySelectorAll('#kernel-paths tr')).map(tr => Array.from(tr.cells).map(c => c.textContent))");
                Assert.NotEmpty(paths);
                Assert.All(paths, p => Assert.Matches(@"^(Vector128|scalar \(|\w+_V128$)", p[1]));
                _output.WriteLine($"Vector128.IsHardwareAccelerated True in the page; {paths.Length} kernels: "
                    + string.Join(", ", paths.GroupBy(p => Regex.Replace(p[1], @"^\w+_V128$", "…_V128")).Select(g => $"{g.Count()} {g.Key}")));

                // What the page downloaded (Resource Timing, fresh profile, no cache): the files and their bytes as served
                // here (uncompressed), and what the publish's precompressed .br files of the same would weigh.
                var fetched = await first.EvaluateExpressionAsync<string[]>(
                    "[location.href, ...performance.getEntriesByType('resource').map(e => e.name)].map(u => new URL(u).pathname)");
                long raw = 0, brotli = 0, app = 0, appBrotli = 0;
                foreach (string file in fetched.Select(u => u == "/" ? "index.html" : u.TrimStart('/')).Distinct())
                {
                    string local = Path.Combine(wwwroot, Uri.UnescapeDataString(file));
                    Assert.True(File.Exists(local), $"the page fetched {file}, which the publish does not have");
                    long size = new FileInfo(local).Length, brSize = File.Exists(local + ".br") ? new FileInfo(local + ".br").Length : size;
                    raw += size;
                    brotli += brSize;
                    if (Path.GetFileName(file).StartsWith("ShuffleNetGen.Browser.", StringComparison.Ordinal)) { app += size; appBrotli += brSize; }
                }
                long weights = new FileInfo(Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors")).Length;
                bool compressed = Directory.EnumerateFiles(wwwroot, "*.br", SearchOption.AllDirectories).Any();
                _output.WriteLine($"download: {fetched.Distinct().Count()} files, {raw:N0} bytes{(compressed ? $" ({brotli:N0} with the publish's .br files)" : "")}; "
                    + $"the app assembly {app:N0}{(compressed ? $" ({appBrotli:N0} .br)" : "")}, of which {weights:N0} are the float weights it embeds"
                    + (compressed ? "" : " (SNG_BROWSER_ROUNDS > 1 publishes the .br files too)"));

                var browserFloat = await Predictions(first);
                Assert.Equal(Images, browserFloat.Length);
                int agree = 0, correct = 0;
                double worst = 0;
                var flips = new List<string>();
                for (int i = 0; i < Images; i++)
                {
                    var (predicted, logits) = browserFloat[i];
                    float[] want = desktop[i];
                    worst = Math.Max(worst, Logits.RelativeError(logits, want));
                    if (predicted == labels[i]) correct++;
                    if (predicted == Logits.ArgMax(want)) { agree++; continue; }
                    var top = want.OrderByDescending(v => v).Take(2).ToArray();
                    flips.Add($"image {i}: desktop {Logits.ArgMax(want)}, browser {predicted}, desktop top-2 gap {top[0] - top[1]:E2}");
                    Assert.True(top[0] - top[1] <= NearTie, flips[^1]);
                }
                _output.WriteLine($"agreement with the desktop JIT: {agree}/{Images} predictions; {flips.Count} near-tie flips{(flips.Count > 0 ? ": " + string.Join("; ", flips) : "")}; "
                    + $"max logit difference {worst:E2} of the largest; accuracy {correct}/{Images}");
                Assert.True(worst <= 1e-3, $"logits differ from the desktop's by {worst:E2} of the largest");

                // An upload: test image 0 inverted (dark on light) and doubled to 56x56, as a BMP. The page scales it back
                // to 28x28 and inverts it, so it must get the test image's class.
                string bmp = Path.Combine(work, "upload.bmp");
                WriteInvertedBmp(images[0], bmp);
                var upload = await first.QuerySelectorAsync("#upload");
                await upload.UploadFileAsync(bmp);
                await first.WaitForFunctionAsync("() => (document.getElementById('source')?.textContent ?? '').startsWith('Your image')",
                    new WaitForFunctionOptions { Timeout = BrowserTimeoutMs, PollingInterval = 100 });
                Assert.Contains("inverted", await first.EvaluateExpressionAsync<string>("document.getElementById('source').textContent"));
                Assert.Equal(ClassNames[Logits.ArgMax(desktop[0])], await first.EvaluateExpressionAsync<string>("document.getElementById('predicted-class').textContent"));

                // A sketch (a pair of trousers, roughly): strokes on the pad are classified when the stroke ends.
                var pad = await (await first.QuerySelectorAsync("#sketch")).BoundingBoxAsync();
                async Task Stroke(params (double X, double Y)[] points)
                {
                    await first.Mouse.MoveAsync((decimal)(pad.X + pad.Width * (decimal)points[0].X), (decimal)(pad.Y + pad.Height * (decimal)points[0].Y));
                    await first.Mouse.DownAsync();
                    foreach (var (x, y) in points.Skip(1))
                        await first.Mouse.MoveAsync(pad.X + pad.Width * (decimal)x, pad.Y + pad.Height * (decimal)y, new MoveOptions { Steps = 8 });
                    await first.Mouse.UpAsync();
                }
                await Stroke((0.3, 0.9), (0.35, 0.1), (0.65, 0.1), (0.7, 0.9));
                await Stroke((0.5, 0.15), (0.5, 0.5));
                await first.WaitForFunctionAsync("() => (document.getElementById('source')?.textContent ?? '').startsWith('Your sketch')",
                    new WaitForFunctionOptions { Timeout = BrowserTimeoutMs, PollingInterval = 100 });
                string sketchClass = await first.EvaluateExpressionAsync<string>("document.getElementById('predicted-class').textContent");
                Assert.Contains(sketchClass, ClassNames);
                _output.WriteLine($"upload of test image 0, inverted: {ClassNames[Logits.ArgMax(desktop[0])]}; the sketch: {sketchClass}");

                await first.ScreenshotAsync(screenshot, new ScreenshotOptions { FullPage = false });
                _output.WriteLine($"screenshot: {screenshot}");
                await first.CloseAsync();

                // int8 (the 1x1 convolutions on the portable dot product: no WebAssembly path yet, so few images): it
                // must agree with the float model as on the desktop (99.3 % of the test set there).
                var (int8Page, _) = await SelfTest(Int8Images, "int8");
                var browserInt8 = await Predictions(int8Page);
                int int8Agree = Enumerable.Range(0, Int8Images).Count(i => browserInt8[i].Predicted == browserFloat[i].Predicted);
                _output.WriteLine($"int8 agrees with float on {int8Agree}/{Int8Images} images");
                Assert.True(int8Agree >= Int8Images - 2, $"int8 agrees with float on {int8Agree}/{Int8Images} images only");
                await int8Page.CloseAsync();

                // SNG_BROWSER_ROUNDS: more rounds for the README's figures, int8 on the whole subset too.
                var int8Rates = new List<double>();
                for (int round = 1; round < rounds; round++)
                {
                    var (page, line) = await SelfTest(Images, "float");
                    rates.Add(double.Parse(line.Groups[3].Value, CultureInfo.InvariantCulture));
                    desktopRates.Add(DesktopRate(images));
                    await page.CloseAsync();
                    (page, line) = await SelfTest(Images, "int8");
                    int8Rates.Add(double.Parse(line.Groups[3].Value, CultureInfo.InvariantCulture));
                    await page.CloseAsync();
                }
                if (int8Rates.Count > 0) _output.WriteLine($"int8 images/s in chromium: {string.Join(", ", int8Rates.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} (median {Median(int8Rates):F1})");
            }
            _output.WriteLine($"DevTools runs: {watch.Elapsed.TotalSeconds:F1} s");

            _output.WriteLine($"images/s, {Images} images after a 16-image warm-up: chromium {string.Join(", ", rates.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} "
                + $"(median {Median(rates):F1}); desktop JIT {string.Join(", ", desktopRates.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))} (median {Median(desktopRates):F0})");

            // The page without a DevTools client: --dump-dom prints the DOM once the virtual time budget is spent.
            // Virtual time freezes the page's clock while it computes, so only the accuracy is meaningful there.
            watch.Restart();
            var dump = ProcessRunner.Run(chromium,
                ChromiumFlags.Concat(new[] { $"--user-data-dir={Path.Combine(work, "profile-dump")}", "--dump-dom", "--virtual-time-budget=60000", $"{server.Url}?selftest={DumpDomImages}" }).ToArray(),
                timeout: TimeSpan.FromMilliseconds(BrowserTimeoutMs));
            var dumped = Regex.Match(dump.Stdout, "id=\"selftest-result\">([^<]*)<");
            Assert.True(dumped.Success, $"chromium --dump-dom (exit {dump.ExitCode}) printed no #selftest-result:\n{dump.Stdout[..Math.Min(2000, dump.Stdout.Length)]}\n{dump.Stderr[^Math.Min(2000, dump.Stderr.Length)..]}");
            var dumpLine = SelfTestLine.Match(dumped.Groups[1].Value);
            Assert.True(dumpLine.Success && dumpLine.Groups[1].Value == DumpDomImages.ToString(CultureInfo.InvariantCulture), $"--dump-dom self-test line: {dumped.Groups[1].Value}");
            int desktopCorrect = Enumerable.Range(0, DumpDomImages).Count(i => Logits.ArgMax(desktop[i]) == labels[i]);
            Assert.InRange(double.Parse(dumpLine.Groups[2].Value, CultureInfo.InvariantCulture), (desktopCorrect - 1.0) / DumpDomImages, (desktopCorrect + 1.0) / DumpDomImages);
            _output.WriteLine($"--dump-dom ({watch.Elapsed.TotalSeconds:F1} s): {dumped.Groups[1].Value}; desktop accuracy {desktopCorrect}/{DumpDomImages}");
            _output.WriteLine($"total {total.Elapsed.TotalSeconds:F0} s");
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static readonly string[] ClassNames = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    /// <summary>A 28x28 image as a 56x56 24-bit BMP, inverted (255 - pixel), so dark on light as a photo would be.</summary>
    private static void WriteInvertedBmp(byte[] image, string path)
    {
        const int Side = 56, Row = Side * 3; // 168 bytes: a multiple of 4, no row padding
        using var file = new BinaryWriter(File.Create(path));
        file.Write((byte)'B');
        file.Write((byte)'M');
        file.Write(54 + Row * Side);
        file.Write(0);
        file.Write(54);
        file.Write(40);
        file.Write(Side);
        file.Write(Side); // positive: rows bottom-up
        file.Write((short)1);
        file.Write((short)24);
        file.Write(0);
        file.Write(Row * Side);
        file.Write(2835);
        file.Write(2835);
        file.Write(0);
        file.Write(0);
        for (int y = Side - 1; y >= 0; y--)
            for (int x = 0; x < Side; x++)
            {
                byte v = (byte)(255 - image[y / 2 * 28 + x / 2]);
                file.Write(v);
                file.Write(v);
                file.Write(v);
            }
    }

    /// <summary>The page's self-test line; its team (asked for 2 threads) must report 1 thread and the one-thread logits.</summary>
    private static readonly Regex SelfTestLine = new(@"^selftest images (\d+) accuracy ([01]\.\d{4}) images_per_second (\S+) team_threads 1 team_identical yes$");

    private static string FindChromium()
    {
        string path = Environment.GetEnvironmentVariable("SNG_CHROMIUM") is { Length: > 0 } set ? set : "/usr/bin/chromium";
        Assert.True(File.Exists(path), $"{path} not found: this test runs Debian's chromium (eng/install-deps.sh installs it; SNG_CHROMIUM names another executable)");
        var (code, stdout, stderr) = ProcessRunner.Run(path, new[] { "--version" }, timeout: TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"{path} --version failed ({code}): {stdout}{stderr}");
        return path;
    }

    /// <summary>The sample's embedded subset (samples/Browser/Data, written by tools/BrowserSubset).</summary>
    private static (byte[][] Images, byte[] Labels) TestSubset()
    {
        byte[] pixels = File.ReadAllBytes(Repository.File("samples/Browser/Data/test-images.bin"));
        byte[] labels = File.ReadAllBytes(Repository.File("samples/Browser/Data/test-labels.bin"));
        Assert.True(labels.Length >= Images && pixels.Length == labels.Length * 784, $"{pixels.Length} image bytes, {labels.Length} labels");
        return (Enumerable.Range(0, labels.Length).Select(i => pixels.AsSpan(i * 784, 784).ToArray()).ToArray(), labels);
    }

    // The page's normalization (samples/Browser/Classifier.cs, from samples/FashionMnist): (pixel / 255 - mean) / std.
    private static float[] Normalize(byte[] image) => image.Select(p => (p / 255f - 0.2860f) / 0.3530f).ToArray();

    private static FashionNetForTests DesktopModel() =>
        FashionNetForTests.FromSafetensors(Repository.File("samples/FashionMnist/fashion_shufflenet.safetensors"));

    /// <summary>The same declared model and weights as the page, on this process's JIT.</summary>
    private static float[][] DesktopLogits(byte[][] images)
    {
        var model = DesktopModel();
        return images.Take(Images).Select(image =>
        {
            var logits = new float[10];
            model.Forward(Normalize(image), logits);
            return logits;
        }).ToArray();
    }

    /// <summary>Images per second on one thread, as the page measures: a 16-image warm-up, then one timed pass.</summary>
    private static double DesktopRate(byte[][] images)
    {
        var model = DesktopModel();
        var input = new float[784];
        var logits = new float[10];
        for (int i = 0; i < 16; i++) model.Forward(Normalize(images[i]), logits);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < Images; i++)
        {
            for (int p = 0; p < 784; p++) input[p] = (images[i][p] / 255f - 0.2860f) / 0.3530f;
            model.Forward(input, logits);
        }
        return Images / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// A static file server on 127.0.0.1 for the published wwwroot (paths without a file fall back to index.html, as
    /// a single-page app's host does). Plain files, no compression: what is measured is the app, not the transfer.
    /// </summary>
    private sealed class StaticServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly string _root;
        private readonly Task _loop;

        public StaticServer(string root)
        {
            _root = Path.GetFullPath(root);
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _loop = Task.Run(Serve);
        }

        public string Url { get; }

        private async Task Serve()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                _ = Task.Run(() => Respond(context));
            }
        }

        private async Task Respond(HttpListenerContext context)
        {
            try
            {
                string relative = Uri.UnescapeDataString(context.Request.Url!.AbsolutePath).TrimStart('/');
                string path = Path.GetFullPath(Path.Combine(_root, relative));
                if (!path.StartsWith(_root, StringComparison.Ordinal) || !File.Exists(path)) path = Path.Combine(_root, "index.html");
                byte[] body = await File.ReadAllBytesAsync(path);
                context.Response.ContentType = Path.GetExtension(path) switch
                {
                    ".html" => "text/html; charset=utf-8",
                    ".js" or ".mjs" => "text/javascript",
                    ".css" => "text/css",
                    ".json" => "application/json",
                    ".wasm" => "application/wasm",
                    ".png" => "image/png",
                    _ => "application/octet-stream",
                };
                context.Response.Headers["Cache-Control"] = "no-store";
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                context.Response.Abort();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(10));
        }
    }
}
