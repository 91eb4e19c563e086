using System.Buffers;
using System.Net;
using System.Text;

namespace TinyProto.Async.Tests.Cli;

/// <summary>The tool on a real terminal (tmux): colours there, none with <c>NO_COLOR</c>, and none when redirected.</summary>
public sealed class TerminalTests : CliTestBase
{
    [TmuxFact]
    public async Task Chat_OnATerminal_ColoursWhatArrivesUnlessNoColorIsSet()
    {
        // A peer whose answer differs from the line typed: the typed line can be on the screen twice (the terminal
        // echoes what is typed before the tool reads its input, and .NET's console echoes it again once it reads),
        // so only a different text says that the answer arrived.
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new Answering());
        server.AddAddress("127.0.0.1", 0);
        await server.StartAsync(TimeoutToken);
        string port = ((IPEndPoint)server.BoundEndPoints[0]).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        string coloured = await ChatScreenWithTheAnswerAsync(port, noColor: false);
        string plain = await ChatScreenWithTheAnswerAsync(port, noColor: true);

        Assert.Matches(@"\x1b\[[0-9;]*m[^\n]*answer to echo me", coloured);
        Assert.DoesNotMatch(@"\x1b\[[0-9;]*[1-9][0-9;]*m[^\n]*answer to echo me", plain);
        Assert.Contains("answer to echo me", plain);
    }

    private async Task<string> ChatScreenWithTheAnswerAsync(string port, bool noColor)
    {
        var environment = new Dictionary<string, string> { ["TERM"] = "xterm-256color" };
        if (noColor)
        {
            environment["NO_COLOR"] = "1";
        }

        await using TmuxSession terminal = await TmuxSession.StartAsync(ToolProcess.ShellCommandLine(Tool, "chat", port), environment);
        await terminal.WaitForScreenAsync(screen => screen.Contains("Ctrl+D to leave", StringComparison.Ordinal), TimeoutToken);
        await terminal.SendKeysAsync("echo me", literal: true);
        await terminal.SendKeysAsync("Enter");
        string screen = await terminal.WaitForScreenAsync(s => s.Contains("answer to echo me", StringComparison.Ordinal), TimeoutToken, escapes: true);
        await terminal.SendKeysAsync("C-d");
        await terminal.WaitForScreenAsync(s => s.Contains("[exit 0]", StringComparison.Ordinal), TimeoutToken);
        return screen;
    }

    /// <summary>Answers each message with "answer to " and the message.</summary>
    private sealed class Answering : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(Encoding.UTF8.GetBytes("answer to " + Encoding.UTF8.GetString(message)), cancellationToken);
    }
}
