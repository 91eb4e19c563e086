namespace TinyProto.Async.Tests.Cli;

/// <summary>What the tests of the <c>tinyproto</c> tool share: starting it as a process, and reading the port it listens on.</summary>
public abstract class CliTestBase : TestBase
{
    protected const string Tool = "TinyProto.Async.Cli";

    protected CliTestBase()
        : base(TimeSpan.FromSeconds(60))
    {
    }

    /// <summary>Starts <c>tinyproto</c> with <paramref name="arguments"/>.</summary>
    private protected static ToolProcess Start(params string[] arguments) => ToolProcess.Start(Tool, arguments);

    /// <summary>The port from the tool's <c>listening on 127.0.0.1:PORT</c> line.</summary>
    private protected async Task<string> ListeningPortAsync(ToolProcess tool)
    {
        string line = await tool.WaitForLineAsync("listening on ", TimeoutToken);
        string endPoint = line["listening on ".Length..].Split(' ')[0];
        return endPoint[(endPoint.LastIndexOf(':') + 1)..];
    }

    /// <summary>Runs <c>tinyproto</c> to its end; returns its exit code and output.</summary>
    protected async Task<(int ExitCode, IReadOnlyCollection<string> Stdout, string Stderr)> RunAsync(params string[] arguments)
    {
        await using ToolProcess tool = Start(arguments);
        int exitCode = await tool.WaitForExitAsync(TimeoutToken);
        return (exitCode, tool.Stdout, tool.Stderr);
    }

    /// <summary>No ANSI escape sequence (colour, cursor movement) in redirected output.</summary>
    protected static void AssertPlain(IEnumerable<string> lines)
    {
        foreach (string line in lines)
        {
            Assert.DoesNotContain('\u001b', line);
        }
    }
}
