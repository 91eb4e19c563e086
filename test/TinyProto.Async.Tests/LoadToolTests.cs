using System.Buffers;
using System.Net;
using System.Text.RegularExpressions;

namespace TinyProto.Async.Tests;

/// <summary>The load tool (benchmarks/TinyProto.Async.LoadTest) as a real process: its result line and its exit codes.</summary>
public sealed partial class LoadToolTests : TestBase, IAsyncLifetime
{
    private const string Tool = "TinyProto.Async.LoadTest";

    public LoadToolTests()
        : base(TimeSpan.FromSeconds(60))
    {
    }

    [Fact]
    public async Task Client_AgainstTheToolsOwnServer_ExitsZeroWithTheResultLineLast()
    {
        await using ToolProcess server = ToolProcess.Start(Tool, "server", "--port", "0");
        string listening = await server.WaitForLineAsync("listening on ", TimeoutToken);
        string port = listening[(listening.LastIndexOf(':') + 1)..];

        await using ToolProcess client = ToolProcess.Start(Tool, "client", "--port", port, "--mode", "echo", "--size", "100", "--count", "300", "--warmup", "10");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.True(exitCode == 0, $"exit code {exitCode}; stderr:\n{client.Stderr}");
        Assert.Matches(ResultLine(), client.Stdout.Last());
        Assert.Contains("mode=echo size=100 connections=1 pipelined=false messages=300 ", client.Stdout.Last());
    }

    [Fact]
    public async Task Client_EchoesComeBackWithAByteChanged_ExitsOneAndSaysSo()
    {
        int port = await StartServerAsync(() => new CorruptingEcho());

        await using ToolProcess client = ToolProcess.Start(Tool, "client", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--mode", "echo", "--size", "64", "--count", "50", "--warmup", "0");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.Equal(1, exitCode);
        Assert.Contains("error: connection 0: the echo of message 1 differs: byte 63 is 0xC0 instead of 0x3F", client.Stderr);
    }

    [Fact]
    public async Task Client_AnEchoNeverComes_ExitsOneAfterTheStallTimeout()
    {
        int port = await StartServerAsync(() => new ForgetfulEcho(forget: 5));

        await using ToolProcess client = ToolProcess.Start(Tool, "client", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--mode", "echo", "--size", "64", "--count", "50", "--warmup", "0", "--stall-timeout", "1");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.Equal(1, exitCode);
        Assert.Contains("error: no message completed for 1 s", client.Stderr);
    }

    [Fact]
    public async Task Client_UnknownMode_ExitsTwoWithUsage()
    {
        await using ToolProcess client = ToolProcess.Start(Tool, "client", "--port", "1", "--mode", "sideways", "--size", "64", "--count", "1");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.Equal(2, exitCode);
        Assert.Contains("sideways", client.Stderr);
    }

    private TinyProtoServer? _server;

    private async Task<int> StartServerAsync(Func<TinyProtoConnection> handler)
    {
        _server = new TinyProtoServer();
        _server.AddAddress("127.0.0.1", 0);
        _server.SetConnectionHandler(handler);
        await _server.StartAsync(TimeoutToken);
        return ((IPEndPoint)_server.BoundEndPoints[0]).Port;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    [GeneratedRegex(@"^RESULT mode=\w+ size=\d+ connections=\d+ pipelined=(true|false) messages=\d+ seconds=[\d.]+ msg_per_s=[\d.]+ mb_per_s=[\d.]+ p50_us=[\d.]+ p99_us=[\d.]+$")]
    private static partial Regex ResultLine();

    /// <summary>Echoes every message with its last byte inverted.</summary>
    private sealed class CorruptingEcho : TinyProtoConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            byte[] echo = message.ToArray();
            if (echo.Length > 0)
            {
                echo[^1] ^= 0xFF;
            }

            await TransmitAsync(echo, cancellationToken);
        }
    }

    /// <summary>Echoes every message but the one numbered <paramref name="forget"/> (from 1).</summary>
    private sealed class ForgetfulEcho(int forget) : TinyProtoConnection
    {
        private int _received;

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (++_received != forget)
            {
                await TransmitAsync(message, cancellationToken);
            }
        }
    }
}
