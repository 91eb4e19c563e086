using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using TinyProto.Async.Tests.Interop;

namespace TinyProto.Async.Tests.Cli;

/// <summary>
/// <c>tinyproto ping</c> and <c>tinyproto bench</c> as real processes, against the tool's own listener, the load tool's
/// server and the Python original: the lines and summaries they print, and their exit codes.
/// </summary>
public sealed partial class PingAndBenchTests : CliTestBase, IAsyncLifetime
{
    private const string LoadTool = "TinyProto.Async.LoadTest";

    private readonly List<ToolProcess> _servers = [];

    [Fact]
    public async Task Ping_AnEchoingListener_PrintsTheConnectTimeEachRoundTripAndTheStatistics()
    {
        await using ToolProcess listener = Start("listen", "--port", "0", "--echo");
        string port = await ListeningPortAsync(listener);

        var (exitCode, stdout, stderr) = await RunAsync("ping", port, "--count", "3", "--interval", "0.05", "--size", "100");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        string[] lines = [.. stdout];
        Assert.Matches(@"^connected to 127\.0\.0\.1:\d+ in \d+\.\d{3} ms \(TCP and the tinyproto opening\)$", lines[0]);
        for (int sequence = 1; sequence <= 3; sequence++)
        {
            Assert.Matches($@"^100 bytes from 127\.0\.0\.1:{port}: seq={sequence} time=\d+\.\d{{3}} ms$", lines[sequence]);
        }

        Assert.Equal($"--- 127.0.0.1:{port} tinyproto ping statistics ---", lines[5]);
        Assert.Matches(@"^3 sent, 3 echoed, 0% lost, time \d+ ms, connect \d+\.\d{3} ms$", lines[6]);
        Match rtt = RttLine().Match(lines[7]);
        Assert.True(rtt.Success, lines[7]);
        double min = double.Parse(rtt.Groups[1].Value, CultureInfo.InvariantCulture);
        double average = double.Parse(rtt.Groups[2].Value, CultureInfo.InvariantCulture);
        double max = double.Parse(rtt.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.True(min <= average && average <= max, lines[7]);
        AssertPlain(stdout);
    }

    [Fact]
    public async Task Ping_APeerThatDoesNotEcho_CountsTheLossAndExitsWith4()
    {
        await using ToolProcess listener = Start("listen", "--port", "0");
        string port = await ListeningPortAsync(listener);

        var (exitCode, stdout, stderr) = await RunAsync("ping", port, "--count", "3", "--timeout", "0.5");

        Assert.True(exitCode == 4, $"exit {exitCode}: {stderr}");
        Assert.Contains("1 sent, 0 echoed, 100% lost", string.Join('\n', stdout));
        Assert.Contains("error: no echo of seq=1 within 0.5 s (is the peer an echo server?)", stderr);
    }

    [Fact]
    public async Task Ping_NothingListening_ExitsWith3()
    {
        var (exitCode, _, stderr) = await RunAsync("ping", $"127.0.0.1:{FreePort()}", "--count", "1");

        Assert.True(exitCode == 3, $"exit {exitCode}: {stderr}");
    }

    [PythonFact]
    public async Task Ping_ThePythonOriginalsEchoServer_GetsEveryEcho()
    {
        await using PythonPeer python = await PythonPeer.StartEchoServerAsync(TimeoutToken);

        var (exitCode, stdout, stderr) = await RunAsync("ping", $"127.0.0.1:{python.Port}", "--count", "5", "--interval", "0");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains(stdout, line => line.StartsWith("5 sent, 5 echoed, 0% lost", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bench_EchoOnSeveralPipelinedConnections_PrintsProgressAndEndsWithTheLoadToolsResultLine()
    {
        string port = await StartLoadServerAsync();

        var (exitCode, stdout, stderr) = await RunAsync("bench", port, "--connections", "4", "--pipelined", "--size", "256", "--duration", "2.5");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains("opened 4 of 4 connection(s) to 127.0.0.1:", stderr);
        Assert.Matches(@"progress:\s+\d+\.\d s,\s+\d+ messages,\s+\d+ msg/s,\s+\d+\.\d MB/s", stderr);
        Assert.Equal("mode echo, 256 B messages, 4 connection(s), pipelined, window 32, buffered", stdout.First());
        Assert.Contains("  errors        0", stdout);
        Match result = ResultLine().Match(stdout.Last());
        Assert.True(result.Success, stdout.Last());
        Assert.Equal("mode=echo size=256 connections=4 pipelined=true", result.Groups[1].Value);
        Assert.True(long.Parse(result.Groups[2].Value, CultureInfo.InvariantCulture) > 0, stdout.Last());
        AssertPlain(stdout);
    }

    [Fact]
    public async Task Bench_OnewayInBatchesToASink_CountsEveryMessage()
    {
        string port = await StartLoadServerAsync("--sink");

        var (exitCode, stdout, stderr) = await RunAsync("bench", port, "--mode", "oneway", "--batch", "50", "--size", "16", "--count", "5000", "--warmup", "0");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.StartsWith("RESULT mode=oneway size=16 connections=1 pipelined=false messages=5000 ", stdout.Last());
    }

    [Fact]
    public async Task Bench_EchoAgainstASink_StallsAndExitsWith1()
    {
        string port = await StartLoadServerAsync("--sink");

        var (exitCode, _, stderr) = await RunAsync("bench", port, "--duration", "30", "--stall-timeout", "1");

        Assert.True(exitCode == 1, $"exit {exitCode}: {stderr}");
        Assert.Contains("error: no message completed for 1 s", stderr);
    }

    [Theory]
    [InlineData(new[] { "--mode", "idle", "--size", "10" }, "--size does not apply to --mode idle")]
    [InlineData(new[] { "--batch", "8" }, "--batch N works with --mode oneway only")]
    [InlineData(new[] { "--count", "10", "--duration", "1" }, "give exactly one of --count N (messages in total) or --duration SEC")]
    [InlineData(new[] { "--size", "2G" }, "needs --stream")]
    [InlineData(new[] { "--connections", "0" }, "--connections must be from 1 to 1000000, not 0")]
    [InlineData(new[] { "--mode", "fast" }, "fast")]
    public async Task Bench_OptionsThatDoNotFit_ExitWith2AndSayWhy(string[] options, string error)
    {
        var (exitCode, _, stderr) = await RunAsync(["bench", "127.0.0.1:1", .. options]);

        Assert.True(exitCode == 2, $"exit {exitCode}: {stderr}");
        Assert.Contains(error, stderr);
    }

    [Fact]
    public async Task Bench_IdleConnections_HoldsThemAndReportsNoneDropped()
    {
        string port = await StartLoadServerAsync();

        var (exitCode, stdout, stderr) = await RunAsync("bench", port, "--mode", "idle", "--connections", "20", "--duration", "1");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains(stdout, line => line.Contains("held          20 of 20 connections for ", StringComparison.Ordinal) && line.Contains("(0 dropped while idle)", StringComparison.Ordinal));
    }

    [TmuxFact]
    public async Task Bench_OnATerminal_ShowsALiveTableThenTheFigures()
    {
        string port = await StartLoadServerAsync();
        var environment = new Dictionary<string, string> { ["TERM"] = "xterm-256color" };

        await using TmuxSession terminal = await TmuxSession.StartAsync(ToolProcess.ShellCommandLine(Tool, "bench", port, "--duration", "3"), environment, height: 40);

        string live = await terminal.WaitForScreenAsync(s => LiveRow().IsMatch(s) && !s.Contains("RESULT", StringComparison.Ordinal), TimeoutToken);
        Assert.Contains("mode echo, 64 B messages, 1 connection(s), lock-step", live, StringComparison.Ordinal);
        Assert.Matches(@"seconds\s+│\s+messages\s+│\s+msg/s\s+│\s+MB/s", live);
        string done = await terminal.WaitForScreenAsync(s => s.Contains("[exit 0]", StringComparison.Ordinal), TimeoutToken);
        Assert.Matches(LiveRow(), done);
        Assert.Contains("RESULT mode=echo size=64 connections=1 pipelined=false messages=", done, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^rtt min/avg/max/mdev = (\d+\.\d{3})/(\d+\.\d{3})/(\d+\.\d{3})/\d+\.\d{3} ms$")]
    private static partial Regex RttLine();

    [GeneratedRegex(@"^RESULT (mode=\w+ size=\d+ connections=\d+ pipelined=\w+) messages=(\d+) seconds=\d+\.\d{3} msg_per_s=[\d.]+ mb_per_s=[\d.]+ p50_us=[\d.]+ p99_us=[\d.]+$")]
    private static partial Regex ResultLine();

    /// <summary>A row of the live table: "│ 2.0 │ 24,310 │ 12,001 │ 0.8 │".</summary>
    [GeneratedRegex(@"│\s+\d+\.\d\s+│\s+[\d,]+\s+│\s+[\d,]+\s+│\s+\d+\.\d\s+│")]
    private static partial Regex LiveRow();

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the load tool's server (it checks every payload), disposed with the test; returns its port.</summary>
    private async Task<string> StartLoadServerAsync(params string[] options)
    {
        ToolProcess server = ToolProcess.Start(LoadTool, ["server", "--port", "0", .. options]);
        _servers.Add(server);
        return await ListeningPortAsync(server);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // IAsyncLifetime, not IAsyncDisposable: xunit 2 never calls the latter on a test class, which left the servers running.
    public async Task DisposeAsync()
    {
        foreach (ToolProcess server in _servers)
        {
            await server.DisposeAsync();
        }
    }
}
