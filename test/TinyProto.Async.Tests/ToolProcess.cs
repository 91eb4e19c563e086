using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace TinyProto.Async.Tests;

/// <summary>
/// One of the repository's console tools (under <c>benchmarks/</c>, <c>samples/</c>, or the <c>tinyproto</c> tool under <c>src/</c>), started as a real process from its build output
/// with the configuration and target framework this test assembly was built with; its output is collected by line.
/// </summary>
internal sealed class ToolProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly SemaphoreSlim _outputLine = new(0);

    private ToolProcess(Process process)
    {
        _process = process;
    }

    public IReadOnlyCollection<string> Stdout => _stdout;

    public string Stderr => string.Join('\n', _stderr);

    public static ToolProcess Start(string project, params string[] arguments) => StartUnder([], project, arguments);

    /// <summary>As <see cref="Start"/>, with the tool's standard input a pipe the test writes to (<see cref="Input"/>).</summary>
    public static ToolProcess StartWithInput(string project, params string[] arguments) => StartUnder([], project, arguments, redirectInput: true);

    /// <summary>The tool's standard input, when started with <see cref="StartWithInput"/>; closing it is end of input.</summary>
    public StreamWriter Input => _process.StandardInput;

    /// <summary>
    /// Starts the tool through <paramref name="launcher"/> (a program and its arguments, such as <c>unshare -rn</c>),
    /// which is given the dotnet host, <c>exec</c>, the tool's assembly and <paramref name="arguments"/> to run.
    /// </summary>
    public static ToolProcess StartUnder(string[] launcher, string project, params string[] arguments) => StartUnder(launcher, project, arguments, redirectInput: false);

    private static ToolProcess StartUnder(string[] launcher, string project, string[] arguments, bool redirectInput)
    {
        string assembly = PathOf(project);
        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"{project} is not built at {assembly}; build the solution first.", assembly);
        }

        // The dotnet host that runs the tests (the CLI passes it down), else the one on PATH.
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(launcher.Length > 0 ? launcher[0] : host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        foreach (string part in launcher.Skip(1))
        {
            start.ArgumentList.Add(part);
        }

        if (launcher.Length > 0)
        {
            start.ArgumentList.Add(host);
        }

        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(assembly);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var tool = new ToolProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                tool._stdout.Enqueue(e.Data);
                tool._outputLine.Release();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                tool._stderr.Enqueue(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return tool;
    }

    /// <summary>The shell command line that starts the tool with <paramref name="arguments"/> (for a terminal, such as tmux), each word quoted.</summary>
    public static string ShellCommandLine(string project, params string[] arguments)
    {
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        return string.Join(' ', new[] { host, "exec", PathOf(project) }.Concat(arguments).Select(word => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
    }

    /// <summary>Waits for the first stdout line that starts with <paramref name="prefix"/>.</summary>
    public Task<string> WaitForLineAsync(string prefix, CancellationToken cancellationToken) =>
        WaitForLineAsync(line => line.StartsWith(prefix, StringComparison.Ordinal), $"a line starting with '{prefix}'", cancellationToken);

    /// <summary>Waits for the first stdout line that contains <paramref name="text"/>.</summary>
    public Task<string> WaitForLineContainingAsync(string text, CancellationToken cancellationToken) =>
        WaitForLineAsync(line => line.Contains(text, StringComparison.Ordinal), $"a line with '{text}'", cancellationToken);

    /// <summary>Waits for the process to end and for its output to be read to the end; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>
    /// Sends SIGTERM, which a sample takes as Ctrl+C (a graceful stop), unlike <see cref="Process.Kill()"/> (SIGKILL),
    /// and waits for the process to end and its output to be read; returns the exit code.
    /// </summary>
    public async Task<int> TerminateAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("kill") { UseShellExecute = false };
        start.ArgumentList.Add("-TERM");
        start.ArgumentList.Add(_process.Id.ToString(CultureInfo.InvariantCulture));
        using (Process kill = Process.Start(start)!)
        {
            await kill.WaitForExitAsync(cancellationToken);
        }

        return await WaitForExitAsync(cancellationToken);
    }

    /// <summary>Ends the process at once (SIGKILL: no cleanup, like a pulled cable or a crash) and waits for it.</summary>
    public async Task KillAsync(CancellationToken cancellationToken)
    {
        _process.Kill(entireProcessTree: true);
        await WaitForExitAsync(cancellationToken);
    }

    private async Task<string> WaitForLineAsync(Func<string, bool> wanted, string what, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_stdout.FirstOrDefault(wanted) is { } found)
            {
                return found;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The tool exited ({_process.ExitCode}) without printing {what}. stderr:\n{Stderr}");
            }

            await _outputLine.WaitAsync(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _outputLine.Dispose();
    }

    /// <summary>
    /// <c>benchmarks/PROJECT/bin/CONFIGURATION/net10.0/PROJECT.dll</c> (or under <c>samples/</c>), where this test assembly runs from
    /// <c>test/TinyProto.Async.Tests/bin/CONFIGURATION/TFM/</c>: the tools are built for net10.0 alone, and the net8.0 run starts them too.
    /// </summary>
    private static string PathOf(string project)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        const string framework = "net10.0";
        string configuration = output.Parent!.Name;
        DirectoryInfo? root = output;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "TinyProto.Async.sln")))
        {
            root = root.Parent;
        }

        if (root is null)
        {
            throw new DirectoryNotFoundException($"No TinyProto.Async.sln above {output.FullName}.");
        }

        string folder = new[] { "samples", "test", "src" }.FirstOrDefault(f => Directory.Exists(Path.Combine(root.FullName, f, project))) ?? "benchmarks";
        // The command-line tool is built for net8.0 alone (it rolls forward to newer runtimes).
        return Path.Combine(root.FullName, folder, project, "bin", configuration, folder == "src" ? "net8.0" : framework, project + ".dll");
    }
}
