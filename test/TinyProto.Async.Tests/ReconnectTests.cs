using System.Collections.Concurrent;
using System.Net;
using System.Text;
using TinyProto.Async.Tests.Interop;

namespace TinyProto.Async.Tests;

/// <summary>
/// <c>ConnectReconnectingAsync</c>: a connection a service holds for its life. It comes back after the server restarts,
/// waits for a server that is not up yet, lets operations wait out an outage up to their timeout (then fails them,
/// sending nothing), gives up after the attempts allowed, and stops for good when closed.
/// </summary>
public sealed class ReconnectTests : ReconnectTestBase
{
    [Fact]
    public async Task ServerRestarted_TheConnectionComesBack_AndRaisesDisconnectedThenReconnected()
    {
        await using var client = new TinyProtoClient { Reconnect = Fast };
        var events = new ConcurrentQueue<string>();
        (TinyProtoReconnectingConnection link, int port) = await ConnectThenStopTheServerAsync(client, async link =>
        {
            link.Disconnected += (_, e) => events.Enqueue($"disconnected {e.Reason}");
            link.Reconnected += (_, e) => events.Enqueue("reconnected");
            Assert.Equal("one", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("one"u8.ToArray(), TimeoutToken).AsTask())));
        });

        await using TinyProtoServer second = await StartEchoAsync(port);
        Assert.Equal("two", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("two"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask())));
        Assert.True(link.IsConnected);
        await WaitUntilAsync(() => events.Count >= 2);
        Assert.Equal(["disconnected PeerClosed", "reconnected"], events.ToArray());
        await link.CloseAsync(TimeoutToken);
    }

    [Fact]
    public async Task ServerNotUpYet_TheFirstConnectionWaitsForIt_CountingFailedAttempts()
    {
        int port = FreeLoopbackPort();
        await using var client = new TinyProtoClient { Reconnect = Fast };
        var failures = new ConcurrentQueue<TinyProtoConnectAttemptFailedEventArgs>();
        await using TinyProtoReconnectingConnection link = client.CreateReconnecting("127.0.0.1", port);
        link.AttemptFailed += (_, e) => failures.Enqueue(e);
        Task connecting = link.StartAsync(TimeoutToken);
        await Task.Delay(300, TimeoutToken);
        Assert.False(connecting.IsCompleted);

        await using TinyProtoServer server = await StartEchoAsync(port);
        await Bounded(connecting);
        Assert.NotEmpty(failures);
        Assert.Equal(Enumerable.Range(1, failures.Count), failures.Select(f => f.Attempt));
        Assert.Equal("up", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("up"u8.ToArray(), TimeoutToken).AsTask())));
    }

    [Fact]
    public async Task DuringAnOutage_ARequestWaitsForTheNextConnection_WithinItsTimeout()
    {
        await using var client = new TinyProtoClient { Reconnect = Fast };
        (TinyProtoReconnectingConnection link, int port) = await ConnectThenStopTheServerAsync(client);

        await WaitUntilAsync(() => !link.IsConnected);
        Task<byte[]> waiting = link.RequestAsync("after"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask();
        await Task.Delay(300, TimeoutToken);
        Assert.False(waiting.IsCompleted);

        await using TinyProtoServer second = await StartEchoAsync(port);
        Assert.Equal("after", Encoding.ASCII.GetString(await Bounded(waiting)));
        await link.CloseAsync(TimeoutToken);
    }

    [Fact]
    public async Task NoConnectionWithinTheTimeout_FailsWithNotConnected_NamingTheEndPointAndTheLastError()
    {
        await using var client = new TinyProtoClient { Reconnect = Fast, Timeout = TimeSpan.FromMilliseconds(400) };
        (TinyProtoReconnectingConnection link, int port) = await ConnectThenStopTheServerAsync(client);

        await WaitUntilAsync(() => !link.IsConnected);
        var transmit = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.TransmitAsync("lost?"u8.ToArray(), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.NotConnected, transmit.Error);
        Assert.Contains($"127.0.0.1:{port}", transmit.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was sent", transmit.Message, StringComparison.Ordinal);

        var request = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.RequestAsync("q"u8.ToArray(), TimeSpan.FromMilliseconds(300), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.NotConnected, request.Error);
        Assert.Contains("the last attempt failed", request.Message, StringComparison.Ordinal);
        Assert.False(link.Completion.IsCompleted);
        await link.CloseAsync(TimeoutToken);
    }

    [Fact]
    public async Task ReceiveAsync_GoesOnOnTheNextConnection()
    {
        int port;
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer first = await StartGreeterAsync(0, "hello from the first"))
        {
            port = PortOf(first);
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            Assert.Equal("hello from the first", Encoding.ASCII.GetString(await Bounded(link.ReceiveAsync(TimeoutToken).AsTask())));
        }

        Task<byte[]> receiving = link.ReceiveAsync(TimeoutToken).AsTask();
        await Task.Delay(100, TimeoutToken);
        Assert.False(receiving.IsCompleted);
        await using TinyProtoServer second = await StartGreeterAsync(port, "hello from the second");
        Assert.Equal("hello from the second", Encoding.ASCII.GetString(await Bounded(receiving)));
        await link.CloseAsync(TimeoutToken);
    }

    [Fact]
    public async Task ARequestTimeout_ClosesThatConnection_AndTheNextRequestGetsItsOwnReplyOnANewOne()
    {
        await using var server = new TinyProtoServer();
        int served = 0;
        server.SetConnectionHandler(() => new SlowFirstEcho(Interlocked.Increment(ref served) == 1));
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { Reconnect = Fast };
        await using TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.RequestAsync("slow A"u8.ToArray(), TimeSpan.FromMilliseconds(200), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
        Assert.Equal("B", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("B"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask())));
    }

    [Fact]
    public async Task ServerRestartedGracefullyUnderLoad_EveryRequestGetsItsOwnReply_NoneFails()
    {
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoServer server = await StartEchoAsync(0);
        int port = PortOf(server);
        await using TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
        using var stop = new CancellationTokenSource();
        int done = 0;
        var failures = new ConcurrentQueue<string>();
        Task[] callers = Enumerable.Range(0, 4).Select(caller => Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                byte[] request = Encoding.ASCII.GetBytes($"caller {caller} request {i}");
                try
                {
                    byte[] reply = await link.RequestAsync(request, TimeSpan.FromSeconds(10), TimeoutToken);
                    if (!reply.AsSpan().SequenceEqual(request))
                    {
                        failures.Enqueue($"caller {caller} request {i}: got {Encoding.ASCII.GetString(reply)}");
                    }

                    Interlocked.Increment(ref done);
                }
                catch (TinyProtoException ex)
                {
                    failures.Enqueue($"caller {caller} request {i}: {ex.Error}: {ex.Message} / {ex.InnerException?.Message}");
                }
            }
        })).ToArray();

        for (int restart = 0; restart < 3; restart++)
        {
            await Task.Delay(150, TimeoutToken);
            await server.StopAsync(TimeoutToken);
            await server.DisposeAsync();
            server = await StartEchoAsync(port);
        }

        await Task.Delay(150, TimeoutToken);
        await stop.CancelAsync();
        await Bounded(Task.WhenAll(callers));
        await server.DisposeAsync();
        Assert.Empty(failures);
        Assert.True(done > 0);
    }

    [PythonFact]
    public async Task ThePythonOriginalKilledAndRestarted_TheConnectionComesBack_AndRequestsGoOn()
    {
        await using var client = new TinyProtoClient { Reconnect = Fast };
        PythonPeer python = await PythonPeer.StartEchoServerAsync(TimeoutToken);
        int port = python.Port;
        await using TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
        Assert.Equal("before", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("before"u8.ToArray(), TimeoutToken).AsTask())));

        await python.DisposeAsync();
        await WaitUntilAsync(() => !link.IsConnected);
        await using PythonPeer again = await PythonPeer.StartEchoServerAsync(TimeoutToken, port);
        Assert.Equal("after", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("after"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask())));
    }
}
