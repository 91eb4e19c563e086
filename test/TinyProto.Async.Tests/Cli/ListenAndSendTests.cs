using System.Text;
using System.Text.Json;
using TinyProto.Async.Tests.Interop;

namespace TinyProto.Async.Tests.Cli;

/// <summary><c>tinyproto listen</c> and <c>tinyproto send</c> as real processes: output formats, replies, files and exit codes.</summary>
public sealed class ListenAndSendTests : CliTestBase, IDisposable
{
    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("tinyproto-cli-");

    [Fact]
    public async Task Send_ExpectReplyToAnEchoingListener_PrintsTheReplyAndTheListenersJsonLinesParse()
    {
        await using ToolProcess listener = Start("listen", "--port", "0", "--echo", "--json");
        string port = await ListeningPortAsync(listener);

        var (exitCode, stdout, stderr) = await RunAsync("send", $"127.0.0.1:{port}", "hello wörld", "--expect-reply", "--repeat", "2");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Equal(["hello wörld", "hello wörld"], stdout);
        Assert.Contains("sent 2 message(s), 24 bytes, to 127.0.0.1:", stderr);
        await listener.WaitForLineAsync("{\"time\":", TimeoutToken);
        await WaitForAsync(() => listener.Stdout.Count(l => l.Contains("\"event\":\"closed\"", StringComparison.Ordinal)) == 1);
        JsonElement[] events = listener.Stdout.Skip(1).Select(line => JsonDocument.Parse(line).RootElement).ToArray();
        Assert.Equal(["opened", "message", "message", "closed"], events.Select(e => e.GetProperty("event").GetString()));
        JsonElement message = events[1];
        Assert.Equal(1, message.GetProperty("connection").GetInt32());
        Assert.Equal(12, message.GetProperty("size").GetInt32());
        Assert.Equal("hello wörld", message.GetProperty("text").GetString());
        Assert.Equal("hello wörld"u8.ToArray(), message.GetProperty("base64").GetBytesFromBase64());
        Assert.StartsWith("127.0.0.1:", message.GetProperty("remote").GetString());
        Assert.True(DateTimeOffset.TryParse(message.GetProperty("time").GetString(), out _));
        AssertPlain(listener.Stdout);
    }

    [Fact]
    public async Task Send_BinaryFileToAHexListenerThatSaves_DumpsItAndSavesTheExactBytes()
    {
        byte[] payload = [.. Enumerable.Range(0, 40).Select(i => (byte)(i * 7)), 0x00, 0xFF];
        string file = Path.Combine(_files.FullName, "payload.bin");
        File.WriteAllBytes(file, payload);
        string saved = Path.Combine(_files.FullName, "saved");
        await using ToolProcess listener = Start("listen", "--port", "0", "--hex", "--save", saved);
        string port = await ListeningPortAsync(listener);

        var (exitCode, _, stderr) = await RunAsync("send", port, "--file", file);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        await listener.WaitForLineAsync("  00000020  ", TimeoutToken);
        Assert.Contains(listener.Stdout, line => line.Contains(" 42 B -> ", StringComparison.Ordinal));
        Assert.Contains("  00000000  00 07 0e 15 1c 23 2a 31  38 3f 46 4d 54 5b 62 69  |.....#*18?FMT[bi|", listener.Stdout);
        Assert.Equal(payload, File.ReadAllBytes(Path.Combine(saved, "1-1.bin")));
    }

    [Fact]
    public async Task Send_LinesFromStandardInput_SendsEachLineAndPrintsEachReplyAsJson()
    {
        await using ToolProcess listener = Start("listen", "--port", "0", "--echo");
        string port = await ListeningPortAsync(listener);
        await using ToolProcess sender = ToolProcess.StartWithInput(Tool, "send", port, "--stdin", "--lines", "--expect-reply", "--json");

        await sender.Input.WriteAsync("first\nsecond\n");
        sender.Input.Close();
        int exitCode = await sender.WaitForExitAsync(TimeoutToken);

        Assert.True(exitCode == 0, $"exit {exitCode}: {sender.Stderr}");
        string[] texts = sender.Stdout.Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!).ToArray();
        Assert.Equal(["first", "second"], texts);
    }

    [Fact]
    public async Task Listen_TextFormat_EscapesControlCharactersAndBytesThatAreNotUtf8()
    {
        await using ToolProcess listener = Start("listen", "--port", "0");
        string port = await ListeningPortAsync(listener);
        string file = Path.Combine(_files.FullName, "mixed.bin");
        File.WriteAllBytes(file, [.. "tab\there\n"u8, 0xC3, 0x28, (byte)'!']);

        var (exitCode, _, stderr) = await RunAsync("send", port, "--file", file);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        await WaitForAsync(() => listener.Stdout.Any(l => l.Contains(" 12 B ", StringComparison.Ordinal)));
        Assert.Contains(listener.Stdout, l => l.EndsWith(@" 12 B  tab\there\n\xc3(!", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_ToAPortNobodyListensOn_ExitsThreeRefused()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        var (exitCode, _, stderr) = await RunAsync("send", $"127.0.0.1:{port}", "hello");

        Assert.Equal(3, exitCode);
        Assert.Contains("error: ", stderr);
    }

    [Fact]
    public async Task Send_ExpectReplyFromAListenerThatDoesNotEcho_ExitsFourTimeout()
    {
        await using ToolProcess listener = Start("listen", "--port", "0");
        string port = await ListeningPortAsync(listener);

        var (exitCode, _, stderr) = await RunAsync("send", port, "anyone?", "--expect-reply", "--timeout", "0.5");

        Assert.Equal(4, exitCode);
        Assert.Contains("no reply to message 1 from 127.0.0.1:" + port + " within 0.5 s", stderr);
    }

    [Fact]
    public async Task Send_PeerClosesInsteadOfReplying_ExitsFiveClosed()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new ClosingOnFirstMessage());
        server.AddAddress("127.0.0.1", 0);
        await server.StartAsync(TimeoutToken);
        int port = ((System.Net.IPEndPoint)server.BoundEndPoints[0]).Port;

        var (exitCode, _, stderr) = await RunAsync("send", $"127.0.0.1:{port}", "bye", "--expect-reply");

        Assert.True(exitCode == 5, $"exit {exitCode}: {stderr}");
    }

    [Fact]
    public async Task Send_MessageAboveTheListenersLimit_ExitsThreeRefusedAndTheListenerSaysWhy()
    {
        await using ToolProcess listener = Start("listen", "--port", "0", "--max-size", "1K");
        string port = await ListeningPortAsync(listener);
        string file = Path.Combine(_files.FullName, "big.bin");
        File.WriteAllBytes(file, new byte[2000]);

        var (exitCode, _, stderr) = await RunAsync("send", port, "--file", file);

        Assert.Equal(3, exitCode);
        Assert.Contains("too large", stderr);
        await WaitForAsync(() => listener.Stdout.Any(l => l.Contains("closed: ", StringComparison.Ordinal) && l.Contains("2000 bytes", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(new[] { "send", "127.0.0.1:5000" }, "nothing to send")]
    [InlineData(new[] { "send", "127.0.0.1:5000", "a", "--stdin" }, "give one of TEXT, --file FILE and --stdin")]
    [InlineData(new[] { "send", "localhost", "a" }, "'localhost' has no valid port")]
    [InlineData(new[] { "send", "::1:5000", "a" }, "put an IPv6 address in brackets")]
    [InlineData(new[] { "send", "127.0.0.1:0", "a" }, "not a number from 1 to 65535")]
    [InlineData(new[] { "send", "127.0.0.1:5000", "a", "--repeat", "0" }, "--repeat")]
    [InlineData(new[] { "send", "127.0.0.1:5000", "a", "--timeout", "0" }, "--timeout must be a number of seconds above 0")]
    [InlineData(new[] { "send", "127.0.0.1:5000", "--file", "/no/such/file" }, "does not exist")]
    [InlineData(new[] { "send", "127.0.0.1:5000", "a", "--tls-insecure" }, "need --tls")]
    [InlineData(new[] { "listen", "--port", "5000", "--hex", "--json" }, "give one of them")]
    [InlineData(new[] { "listen", "--port", "5000", "--max-size", "5X" }, "--max-size: '5X' is not a byte count")]
    [InlineData(new[] { "listen" }, "Option '--port' is required")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    public async Task BadArguments_ExitTwoNamingTheProblem(string[] arguments, string error)
    {
        var (exitCode, _, stderr) = await RunAsync(arguments);

        Assert.Equal(2, exitCode);
        Assert.Contains(error, stderr);
        Assert.Contains("--help'.", stderr);
    }

    [Fact]
    public async Task Help_EveryCommand_HasUsageAndExamples()
    {
        var (exitCode, stdout, _) = await RunAsync("--help");
        Assert.Equal(0, exitCode);
        Assert.Contains(stdout, line => line.Contains("Exit codes: 0 ok", StringComparison.Ordinal));
        string[] commands = stdout.SkipWhile(l => l != "Commands:").Skip(1).TakeWhile(l => l.Length > 0).Select(l => l.Trim().Split(' ')[0]).ToArray();
        Assert.Contains("send", commands);
        foreach (string command in commands)
        {
            var (code, help, _) = await RunAsync(command, "--help");
            Assert.Equal(0, code);
            Assert.Contains("Examples:", help);
            Assert.Contains(help, line => line.TrimStart().StartsWith("tinyproto " + command, StringComparison.Ordinal));
        }
    }

    [PythonFact]
    public async Task Send_ToThePythonOriginalsEchoServer_PrintsItsEcho()
    {
        await using PythonPeer python = await PythonPeer.StartEchoServerAsync(TimeoutToken);

        var (exitCode, stdout, stderr) = await RunAsync("send", $"127.0.0.1:{python.Port}", "from the tool", "--expect-reply", "--hex");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Equal("  00000000  66 72 6f 6d 20 74 68 65  20 74 6f 6f 6c           |from the tool|", stdout.Single());
    }

    public new void Dispose()
    {
        _files.Delete(recursive: true);
        base.Dispose();
    }

    private async Task WaitForAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(20, TimeoutToken);
        }
    }

    private sealed class ClosingOnFirstMessage : TinyProtoConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(System.Buffers.ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            _ = Encoding.UTF8.GetString(message);
            _ = CloseAsync(CancellationToken.None).AsTask();
            await Task.CompletedTask;
        }
    }
}
