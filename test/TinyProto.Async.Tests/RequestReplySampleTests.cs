using System.Globalization;
using System.Text;

namespace TinyProto.Async.Tests;

/// <summary>
/// The request-reply sample (samples/TinyProto.Samples.RequestReply) as real processes: a key-value store server, a
/// client on a reconnecting connection that goes on while the server restarts on its data file, and the one-shot
/// commands; malformed requests from an in-process client.
/// </summary>
public sealed class RequestReplySampleTests : ConnectionTestBase, IAsyncLifetime
{
    private const string Sample = "TinyProto.Samples.RequestReply";
    private const string Expected = "(expected GET key, SET key value, DEL key or COUNT)";
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(20);
    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("tinyproto-store-");

    public RequestReplySampleTests()
        : base(TimeSpan.FromSeconds(120))
    {
    }

    [Fact]
    public async Task Client_AgainstARunningServer_DoesEveryPairAndExitsZero()
    {
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0");
        string port = await ListeningPortAsync(server);

        await using ToolProcess client = ToolProcess.Start(Sample, "client", "--port", port, "--count", "50");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.True(exitCode == 0, $"exit code {exitCode}; stdout:\n{string.Join('\n', client.Stdout)}\nstderr:\n{client.Stderr}");
        Assert.Equal("done: 50 ok, 0 failed", client.Stdout.Last());
        Assert.Contains("SET k50 v50 -> OK", client.Stdout);
        Assert.Contains("GET k50 -> OK v50", client.Stdout);
    }

    [Fact]
    public async Task Client_ServerRestartedUnderItOnItsDataFile_FailsNothing_AndWhatWasWrittenBeforeIsReadAfter()
    {
        string data = Path.Combine(_files.FullName, "store.json");
        await using ToolProcess first = ToolProcess.Start(Sample, "server", "--port", "0", "--data", data);
        string port = await ListeningPortAsync(first);
        await using ToolProcess client = ToolProcess.Start(Sample, "client", "--port", port, "--count", "400", "--interval", "5", "--timeout", "60");

        // Well under way, the server is stopped gracefully (SIGTERM, as Ctrl+C), which saves the data file.
        await client.WaitForLineAsync("GET k50 -> ", TimeoutToken);
        int stopped = await first.TerminateAsync(TimeoutToken);
        Assert.True(stopped == 0, $"the first server exited {stopped}; stderr:\n{first.Stderr}");
        Assert.Contains(first.Stdout, line => line.StartsWith("saved ", StringComparison.Ordinal));

        await using ToolProcess second = ToolProcess.Start(Sample, "server", "--port", port, "--data", data);
        await ListeningPortAsync(second);
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.True(exitCode == 0, $"exit code {exitCode}; stdout:\n{string.Join('\n', client.Stdout)}\nstderr:\n{client.Stderr}\nserver stderr:\n{second.Stderr}");
        Assert.Equal("done: 400 ok, 0 failed", client.Stdout.Last());
        Assert.Contains(client.Stdout, line => line.StartsWith("disconnected: ", StringComparison.Ordinal));
        Assert.Contains(client.Stdout, line => line.StartsWith("reconnected after ", StringComparison.Ordinal));
        Assert.DoesNotContain($"loaded 0 keys from {data}", second.Stdout);

        // k1 was written before the restart, to the first server only: the second read it from the data file.
        Assert.Equal((0, "OK v1"), await OneShotAsync("get", "k1", "--port", port));
        Assert.Equal((0, "OK 400"), await OneShotAsync("count", "--port", port));
    }

    [Fact]
    public async Task Server_MalformedRequests_GetAnErrorReplyEach_AndTheConnectionStaysUsable()
    {
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0");
        int port = int.Parse(await ListeningPortAsync(server), CultureInfo.InvariantCulture);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        string longKey = new('k', 256);
        string longValue = new('v', 64 * 1024);
        (byte[] Request, string Reply)[] exchanges =
        [
            ([], $"ERROR empty request {Expected}"),
            (Utf8("HELLO"), $"ERROR unknown command 'HELLO' {Expected}"),
            (Utf8("get k"), $"ERROR unknown command 'get' {Expected}"),
            (Utf8("GET"), "ERROR GET needs a key (GET key)"),
            (Utf8("GET a b"), "ERROR GET takes one key, and a key has no spaces"),
            (Utf8("DEL "), "ERROR the key is empty"),
            (Utf8("GET a\tb"), "ERROR a key has no control characters"),
            (Utf8("SET k"), "ERROR SET needs a key and a value (SET key value)"),
            (Utf8("COUNT x"), "ERROR COUNT takes no arguments"),
            ([.. "GET "u8, 0xC3, 0x28], "ERROR the request is not valid UTF-8"),
            (Utf8($"GET {longKey}k"), "ERROR the key is 257 bytes; the limit is 256"),
            (Utf8($"SET k {longValue}v"), "ERROR the value is 65537 bytes; the limit is 65536"),
            (Utf8($"SET {longKey} {longValue}"), "OK"),
            (Utf8($"GET {longKey}"), $"OK {longValue}"),
            (Utf8("SET greeting grüße, with spaces\nand a line break"), "OK"),
            (Utf8("GET greeting"), "OK grüße, with spaces\nand a line break"),
            (Utf8("COUNT"), "OK 2"),
            (Utf8("DEL greeting"), "OK"),
            (Utf8("DEL greeting"), "NOTFOUND"),
            (Utf8("GET greeting"), "NOTFOUND"),
        ];

        foreach ((byte[] request, string expected) in exchanges)
        {
            byte[] reply = await Bounded(connection.RequestAsync(request, ReplyTimeout, TimeoutToken).AsTask());
            Assert.Equal(expected, Encoding.UTF8.GetString(reply));
        }

        Assert.Same(connection, client.ActiveConnections[connection.Id]);
        Assert.False(connection.Completion.IsCompleted);
    }

    [Fact]
    public async Task Server_RequestAboveItsMessageLimit_IsRefusedByTheProtocol_EndingThatConnectionOnly()
    {
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0");
        int port = int.Parse(await ListeningPortAsync(server), CultureInfo.InvariantCulture);
        await using var client = new TinyProtoClient();
        TinyProtoConnection other = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        TinyProtoConnection sender = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        byte[] huge = [.. "SET k "u8, .. new byte[1024 * 1024]];
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(sender.RequestAsync(huge, ReplyTimeout, TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
        await Bounded(sender.Completion.ContinueWith(_ => { }, TaskScheduler.Default));

        Assert.Equal("OK", Encoding.UTF8.GetString(await Bounded(other.RequestAsync(Utf8("SET k v"), ReplyTimeout, TimeoutToken).AsTask())));
    }

    [Fact]
    public async Task OneShotCommands_PrintTheReply_AndExitZeroOnlyForOk()
    {
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0");
        string port = await ListeningPortAsync(server);

        Assert.Equal((1, "NOTFOUND"), await OneShotAsync("get", "colour", "--port", port));
        Assert.Equal((0, "OK"), await OneShotAsync("set", "colour", "dark blue", "--port", port));
        Assert.Equal((0, "OK dark blue"), await OneShotAsync("get", "colour", "--port", port));
        Assert.Equal((0, "OK 1"), await OneShotAsync("count", "--port", port));
        Assert.Equal((0, "OK"), await OneShotAsync("del", "colour", "--port", port));
        Assert.Equal((1, "NOTFOUND"), await OneShotAsync("del", "colour", "--port", port));
        Assert.Equal((2, ""), await OneShotAsync("set", "two words", "v", "--port", port));
    }

    [Fact]
    public async Task Client_NoServer_ExitsOneAfterItsTimeout_SayingSo()
    {
        string port = FreeLoopbackPort().ToString(CultureInfo.InvariantCulture);
        await using ToolProcess client = ToolProcess.Start(Sample, "client", "--port", port, "--timeout", "1");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.Equal(1, exitCode);
        Assert.Contains($"error: no connection to 127.0.0.1:{port} within 1 s", client.Stderr);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _files.Delete(recursive: true);
        return Task.CompletedTask;
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private async Task<(int ExitCode, string Stdout)> OneShotAsync(params string[] arguments)
    {
        await using ToolProcess command = ToolProcess.Start(Sample, arguments);
        int exitCode = await command.WaitForExitAsync(TimeoutToken);
        return (exitCode, string.Join('\n', command.Stdout));
    }

    private async Task<string> ListeningPortAsync(ToolProcess server)
    {
        string listening = await server.WaitForLineAsync("listening on ", TimeoutToken);
        return listening[(listening.LastIndexOf(':') + 1)..];
    }
}
