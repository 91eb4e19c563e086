using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TinyProto.Async.Tests.Interop;

namespace TinyProto.Async.Tests.Cli;

/// <summary>
/// <c>tinyproto chat</c> as real processes against the chat sample's server (samples/TinyProto.Samples.Chat), beside the
/// Python original's own chat client.
/// </summary>
public sealed class ChatTests : CliTestBase
{
    [Fact]
    public async Task Chat_TwoMembersOfTheChatSample_SeeEachOthersLinesAndLeaveCleanlyOnEndOfInput()
    {
        await using ToolProcess server = ToolProcess.Start("TinyProto.Samples.Chat", "server", "--port", "0");
        string port = await ListeningPortAsync(server);
        await using ToolProcess ada = ToolProcess.StartWithInput(Tool, "chat", $"127.0.0.1:{port}");
        await ada.WaitForLineAsync("* welcome, ", TimeoutToken);
        await using ToolProcess bob = ToolProcess.StartWithInput(Tool, "chat", port);
        await bob.WaitForLineAsync("* welcome, ", TimeoutToken);
        await WaitForLineContainingAsync(ada, " joined");

        await ada.Input.WriteLineAsync("/nick ada");
        await ada.Input.FlushAsync(TimeoutToken);
        await WaitForLineContainingAsync(bob, "is now ada");
        await ada.Input.WriteLineAsync("hello, bob");
        await ada.Input.FlushAsync(TimeoutToken);

        await bob.WaitForLineAsync("ada: hello, bob", TimeoutToken);
        ada.Input.Close();
        Assert.Equal(0, await ada.WaitForExitAsync(TimeoutToken));
        await WaitForLineContainingAsync(bob, "* ada left");
        AssertPlain(bob.Stdout);
    }

    [Fact]
    public async Task Chat_ServerStops_ExitsFiveSayingThePeerClosed()
    {
        await using ToolProcess server = ToolProcess.Start("TinyProto.Samples.Chat", "server", "--port", "0");
        string port = await ListeningPortAsync(server);
        await using ToolProcess member = ToolProcess.StartWithInput(Tool, "chat", port);
        await member.WaitForLineAsync("* welcome, ", TimeoutToken);

        Assert.Equal(0, await server.TerminateAsync(TimeoutToken));

        Assert.Equal(5, await member.WaitForExitAsync(TimeoutToken));
        Assert.Contains("the peer closed the connection", member.Stderr);
    }

    /// <summary>
    /// The original's <c>example/chat-client.py</c> connects to localhost:8088 and cannot be told otherwise; its
    /// <c>chat-server.py</c> does not start as shipped (a misspelt keyword), so the chat sample's server stands in.
    /// </summary>
    [OriginalsChatClientFact]
    public async Task Chat_BesideTheOriginalsChatClient_LinesCrossBothWays()
    {
        // The net8.0 and net10.0 runs go at once, and both want port 8088: one at a time.
        using FileStream portLock = await LockAsync(Path.Combine(Path.GetTempPath(), "tinyproto-tests-port-8088.lock"));
        await using ToolProcess server = ToolProcess.Start("TinyProto.Samples.Chat", "server", "--port", "8088");
        await ListeningPortAsync(server);
        var start = new ProcessStartInfo("python3") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-u");
        start.ArgumentList.Add(Path.Combine(PythonPeer.Directory!, "example", "chat-client.py"));
        start.Environment["PYTHONPATH"] = PythonPeer.Directory;
        using Process python = Process.Start(start)!;
        var pythonLines = new ConcurrentQueue<string>();
        python.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                pythonLines.Enqueue(e.Data);
            }
        };
        python.BeginOutputReadLine();
        try
        {
            await WaitForAsync(() => pythonLines.Any(line => line.StartsWith("* welcome, ", StringComparison.Ordinal)));
            await using ToolProcess tool = ToolProcess.StartWithInput(Tool, "chat", "127.0.0.1:8088");
            await tool.WaitForLineAsync("* welcome, ", TimeoutToken);

            await python.StandardInput.WriteLineAsync("hello from the original");
            await python.StandardInput.FlushAsync(TimeoutToken);
            await WaitForLineContainingAsync(tool, ": hello from the original");
            await tool.Input.WriteLineAsync("hello from the tool");
            await tool.Input.FlushAsync(TimeoutToken);
            await WaitForAsync(() => pythonLines.Any(line => line.EndsWith(": hello from the tool", StringComparison.Ordinal)));

            tool.Input.Close();
            Assert.Equal(0, await tool.WaitForExitAsync(TimeoutToken));
            await WaitForAsync(() => pythonLines.Any(line => line.EndsWith(" left", StringComparison.Ordinal)));
        }
        finally
        {
            python.Kill(entireProcessTree: true);
            await python.WaitForExitAsync(CancellationToken.None);
        }
    }

    private async Task<FileStream> LockAsync(string path)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                await Task.Delay(100, TimeoutToken);
            }
        }
    }

    private async Task WaitForAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(20, TimeoutToken);
        }
    }

    private async Task WaitForLineContainingAsync(ToolProcess tool, string text)
    {
        while (!tool.Stdout.Any(line => line.Contains(text, StringComparison.Ordinal)))
        {
            await Task.Delay(20, TimeoutToken);
        }
    }
}

/// <summary>Runs a test only where the Python original is beside the repository and port 8088, to which its chat client is fixed, is free.</summary>
public sealed class OriginalsChatClientFactAttribute : FactAttribute
{
    public OriginalsChatClientFactAttribute()
    {
        if (PythonPeer.Directory is null || !(File.Exists("/usr/bin/python3") || File.Exists("/usr/local/bin/python3")))
        {
            Skip = "The Python original (../shared/peers/python-tinyproto-3.0) or python3 is not here; this interop test runs its chat client.";
        }
        else if (!IsFree(8088))
        {
            Skip = "Port 8088, to which the original's chat client is fixed, is in use on this host.";
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
