namespace TinyProto.Async.Tests.Cli;

/// <summary><c>tinyproto chat</c> as real processes against the chat sample's server (samples/TinyProto.Samples.Chat).</summary>
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

    private async Task WaitForLineContainingAsync(ToolProcess tool, string text)
    {
        while (!tool.Stdout.Any(line => line.Contains(text, StringComparison.Ordinal)))
        {
            await Task.Delay(20, TimeoutToken);
        }
    }
}
