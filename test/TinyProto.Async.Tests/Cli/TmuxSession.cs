using System.Diagnostics;
using System.Globalization;

namespace TinyProto.Async.Tests.Cli;

/// <summary>
/// A detached tmux session running one command line on a real terminal (a pseudo-terminal of a given size), so a test
/// can type into it (<c>send-keys</c>) and read the screen (<c>capture-pane</c>), escape sequences and all. Each session
/// has a tmux server of its own (<c>-S</c>, a socket removed at the end): on a shared one, a session started while another test ended the last one
/// raced the server's exit ("server exited unexpectedly").
/// </summary>
internal sealed class TmuxSession : IAsyncDisposable
{
    private readonly string _name = "tinyproto-test-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _socket;

    private TmuxSession()
    {
        _socket = Path.Combine(Path.GetTempPath(), _name + ".tmux");
    }

    public static bool IsInstalled { get; } = new[] { "/usr/bin/tmux", "/usr/local/bin/tmux" }.Any(File.Exists);

    /// <summary>
    /// Starts <paramref name="commandLine"/> (a shell command) in a new session <paramref name="width"/> columns wide,
    /// with <paramref name="environment"/> set; the pane stays after the command ends, so its last screen can be read.
    /// </summary>
    public static async Task<TmuxSession> StartAsync(string commandLine, IReadOnlyDictionary<string, string> environment, int width = 120, int height = 30)
    {
        var session = new TmuxSession();
        var arguments = new List<string> { "new-session", "-d", "-s", session._name, "-x", Invariant(width), "-y", Invariant(height) };
        foreach ((string key, string value) in environment)
        {
            arguments.AddRange(["-e", $"{key}={value}"]);
        }

        arguments.Add(commandLine + "; echo \"[exit $?]\"; sleep 600");
        await session.RunAsync(arguments);
        return session;
    }

    /// <summary>Types <paramref name="keys"/> (tmux key names, such as <c>Enter</c> or <c>C-d</c>, or literal text with <paramref name="literal"/>).</summary>
    public Task SendKeysAsync(string keys, bool literal = false) =>
        RunAsync(literal ? ["send-keys", "-t", _name, "-l", keys] : ["send-keys", "-t", _name, keys]);

    /// <summary>The screen as text, or with <paramref name="escapes"/> its colours and attributes as escape sequences.</summary>
    public Task<string> CaptureAsync(bool escapes = false) =>
        RunAsync(escapes ? ["capture-pane", "-p", "-e", "-t", _name] : ["capture-pane", "-p", "-t", _name]);

    /// <summary>Captures the screen until <paramref name="condition"/> holds for it; returns that screen.</summary>
    public async Task<string> WaitForScreenAsync(Func<string, bool> condition, CancellationToken cancellationToken, bool escapes = false)
    {
        while (true)
        {
            string screen = await CaptureAsync(escapes);
            if (condition(screen))
            {
                return screen;
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync(["kill-server"]);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        File.Delete(_socket);
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private async Task<string> RunAsync(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("tmux") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-S");
        start.ArgumentList.Add(_socket);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0
            ? await output
            : throw new InvalidOperationException($"tmux {string.Join(' ', start.ArgumentList)} exited {process.ExitCode}: {error}");
    }
}

/// <summary>A fact that needs tmux (a real terminal); skipped, saying why, where it is absent (.ci/run installs it).</summary>
public sealed class TmuxFactAttribute : FactAttribute
{
    public TmuxFactAttribute()
    {
        if (!TmuxSession.IsInstalled)
        {
            Skip = "tmux is not installed (apt-get install tmux; .ci/run installs it): this test runs the tool on a real terminal.";
        }
    }
}
