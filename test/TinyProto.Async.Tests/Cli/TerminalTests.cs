namespace TinyProto.Async.Tests.Cli;

/// <summary>The tool on a real terminal (tmux): colours there, none with <c>NO_COLOR</c>, and none when redirected.</summary>
public sealed class TerminalTests : CliTestBase
{
    [TmuxFact]
    public async Task Chat_OnATerminal_ColoursWhatArrivesUnlessNoColorIsSet()
    {
        await using ToolProcess listener = Start("listen", "--port", "0", "--echo");
        string port = await ListeningPortAsync(listener);

        string coloured = await ChatEchoScreenAsync(port, noColor: false);
        string plain = await ChatEchoScreenAsync(port, noColor: true);

        Assert.Matches(@"\x1b\[[0-9;]*m[^\n]*echo me", coloured);
        Assert.DoesNotMatch(@"\x1b\[[0-9;]*[1-9][0-9;]*m[^\n]*echo me", plain);
        Assert.Contains("echo me", plain);
    }

    private async Task<string> ChatEchoScreenAsync(string port, bool noColor)
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
        // The typed line is on the screen once (the terminal's echo); the peer's echo makes it twice.
        string screen = await terminal.WaitForScreenAsync(s => s.Split("echo me").Length > 2, TimeoutToken, escapes: true);
        await terminal.SendKeysAsync("C-d");
        await terminal.WaitForScreenAsync(s => s.Contains("[exit 0]", StringComparison.Ordinal), TimeoutToken);
        return screen;
    }
}
