using System.Net;
using System.Text;

namespace TinyProto.Async.Tests;

/// <summary>A reconnecting connection's start and end: created first or started in the background, closed (from anywhere, also its own hooks), its client stopped.</summary>
public sealed class ReconnectLifetimeTests : ReconnectTestBase
{
    [Fact]
    public async Task Closed_ItStopsReconnecting_AndOperationsSayItWasClosed()
    {
        await using TinyProtoServer server = await StartEchoAsync(0);
        int port = PortOf(server);
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
        int disconnected = 0;
        link.Disconnected += (_, _) => Interlocked.Increment(ref disconnected);
        TinyProtoConnection connection = link.Current!;

        await Bounded(link.CloseAsync(TimeoutToken).AsTask());
        await Bounded(link.Completion);
        Assert.Equal(TinyProtoCloseReason.ClosedLocally, connection.CloseReason);
        await Task.Delay(200, TimeoutToken);
        Assert.Empty(client.ActiveConnections);
        Assert.Equal(0, disconnected);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.TransmitAsync("x"u8.ToArray(), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.Contains("was closed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientStopped_TheReconnectingConnectionEnds_SayingSo()
    {
        await using TinyProtoServer server = await StartEchoAsync(0);
        int port = PortOf(server);
        var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));

        await client.StopAsync(TimeoutToken);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.Completion));
        Assert.Equal(TinyProtoError.NotConnected, ex.Error);
        Assert.Contains("client was stopped", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHandlerThatThrows_IsIgnored_AndReconnectingGoesOn()
    {
        int port;
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer first = await StartEchoAsync(0))
        {
            port = PortOf(first);
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            link.Disconnected += (_, _) => throw new InvalidOperationException("a handler's bug");
            link.AttemptFailed += (_, _) => throw new InvalidOperationException("another");
        }

        await using TinyProtoServer second = await StartEchoAsync(port);
        Assert.Equal("still", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("still"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask())));
        await link.CloseAsync(TimeoutToken);
    }

    [Fact]
    public async Task CreatedFirst_HandlersSeeTheFirstAttempts_AndACancelledStartSaysWhyItFailed()
    {
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link = client.CreateReconnecting("127.0.0.1", FreeLoopbackPort());
        int attempts = 0;
        link.AttemptFailed += (_, _) => Interlocked.Increment(ref attempts);
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(400));

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(link.StartAsync(giveUp.Token)));
        Assert.Contains("the last attempt failed: Cannot connect to 127.0.0.1:", ex.Message, StringComparison.Ordinal);
        Assert.IsType<System.Net.Sockets.SocketException>(ex.InnerException);
        Assert.True(attempts >= 1);
        await Bounded(link.Completion);
    }

    [Fact]
    public async Task StartedInTheBackground_ReturnsAtOnce_AndCallsWaitForTheFirstConnection()
    {
        int port = FreeLoopbackPort();
        await using var client = new TinyProtoClient { Reconnect = Fast };
        await using TinyProtoReconnectingConnection link = client.CreateReconnecting("127.0.0.1", port);
        Assert.Throws<InvalidOperationException>(() => link.TransmitAsync("too soon"u8.ToArray(), TimeoutToken).AsTask().GetAwaiter().GetResult());
        link.Start();
        Assert.Throws<InvalidOperationException>(link.Start);
        Task<byte[]> request = link.RequestAsync("first"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask();
        await Task.Delay(200, TimeoutToken);
        Assert.False(request.IsCompleted);

        await using TinyProtoServer server = await StartEchoAsync(port);
        Assert.Equal("first", Encoding.ASCII.GetString(await Bounded(request)));
    }

    [Fact]
    public async Task ClosedFromAHookOfItsOwnConnection_TheCloseDoesNotWaitForItself()
    {
        await using var server = await StartGreeterAsync(0, "bye");
        int port = PortOf(server);
        var link = new TaskCompletionSource<TinyProtoReconnectingConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new TinyProtoClient { Reconnect = Fast };
        client.SetConnectionHandler(() => new OnMessage(async () =>
        {
            await (await link.Task).CloseAsync();
            closed.TrySetResult();
        }));
        link.SetResult(await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken)));

        await Bounded(closed.Task);
        await Bounded((await link.Task).Completion);
    }

    [Fact]
    public async Task ACloseWhoseWaitIsCancelled_StillCompletesCompletion()
    {
        await using TinyProtoServer server = await StartEchoAsync(0);
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", PortOf(server), TimeoutToken));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        try
        {
            await link.CloseAsync(cancelled.Token);
        }
        catch (OperationCanceledException)
        {
            // Only the wait was cancelled.
        }

        await Bounded(link.Completion);
        Assert.Null(link.Current);
    }
}
