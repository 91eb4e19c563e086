using System.Buffers;
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
public sealed class ReconnectTests : ConnectionTestBase
{
    private static readonly TinyProtoReconnectOptions Fast = new()
    {
        InitialDelay = TimeSpan.FromMilliseconds(20),
        MaxDelay = TimeSpan.FromMilliseconds(200),
    };

    [Fact]
    public async Task ServerRestarted_TheConnectionComesBack_AndRaisesDisconnectedThenReconnected()
    {
        int port;
        await using var client = new TinyProtoClient { Reconnect = Fast };
        var events = new ConcurrentQueue<string>();
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer first = await StartEchoAsync(0))
        {
            port = ((IPEndPoint)first.BoundEndPoints[0]).Port;
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            link.Disconnected += (_, e) => events.Enqueue($"disconnected {e.Reason}");
            link.Reconnected += (_, e) => events.Enqueue("reconnected");
            Assert.Equal("one", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("one"u8.ToArray(), TimeoutToken).AsTask())));
            TinyProtoConnection before = link.Current!;
            await first.StopAsync(TimeoutToken);
            await Bounded(before.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        }

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
        int port;
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer first = await StartEchoAsync(0))
        {
            port = ((IPEndPoint)first.BoundEndPoints[0]).Port;
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            TinyProtoConnection before = link.Current!;
            await first.StopAsync(TimeoutToken);
            await Bounded(before.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        }

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
        int port;
        await using var client = new TinyProtoClient { Reconnect = Fast, Timeout = TimeSpan.FromMilliseconds(400) };
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer server = await StartEchoAsync(0))
        {
            port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            TinyProtoConnection before = link.Current!;
            await server.StopAsync(TimeoutToken);
            await Bounded(before.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        }

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
    public async Task MaxAttemptsFailInARow_ItGivesUp_FaultingCompletionAndEveryWaiter()
    {
        int port;
        await using var client = new TinyProtoClient
        {
            Reconnect = new() { InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(50), MaxAttempts = 3 },
        };
        var attempts = new ConcurrentQueue<TinyProtoConnectAttemptFailedEventArgs>();
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer server = await StartEchoAsync(0))
        {
            port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            link.AttemptFailed += (_, e) => attempts.Enqueue(e);
            await server.StopAsync(TimeoutToken);
        }

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.Completion));
        Assert.Equal(TinyProtoError.NotConnected, ex.Error);
        Assert.Contains("after 3 failed attempts", ex.Message, StringComparison.Ordinal);
        // The connection ended within a second of its handshake, so it counts as the first failed attempt.
        Assert.Equal([2, 3], attempts.Select(a => a.Attempt));
        Assert.Null(attempts.Last().NextDelay);
        Assert.All(attempts.SkipLast(1), a => Assert.NotNull(a.NextDelay));

        var late = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.NotConnected, late.Error);
        Assert.Null(link.Current);
    }

    [Fact]
    public async Task NoServerAndMaxAttempts_ConnectReconnectingAsyncThrowsNotConnected()
    {
        await using var client = new TinyProtoClient { Reconnect = new() { InitialDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 2 } };
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectReconnectingAsync("127.0.0.1", FreeLoopbackPort(), TimeoutToken)));
        Assert.Equal(TinyProtoError.NotConnected, ex.Error);
        Assert.Contains("after 2 failed attempts", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(ex.InnerException);
    }

    [Fact]
    public async Task ReceiveAsync_GoesOnOnTheNextConnection()
    {
        int port;
        await using var client = new TinyProtoClient { Reconnect = Fast };
        TinyProtoReconnectingConnection link;
        await using (TinyProtoServer first = await StartGreeterAsync(0, "hello from the first"))
        {
            port = ((IPEndPoint)first.BoundEndPoints[0]).Port;
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
    public async Task Closed_ItStopsReconnecting_AndOperationsSayItWasClosed()
    {
        await using TinyProtoServer server = await StartEchoAsync(0);
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
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
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
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
            port = ((IPEndPoint)first.BoundEndPoints[0]).Port;
            link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
            link.Disconnected += (_, _) => throw new InvalidOperationException("a handler's bug");
            link.AttemptFailed += (_, _) => throw new InvalidOperationException("another");
        }

        await using TinyProtoServer second = await StartEchoAsync(port);
        Assert.Equal("still", Encoding.ASCII.GetString(await Bounded(link.RequestAsync("still"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask())));
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
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
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
    public async Task AServerThatClosesEachConnectionAtOnce_IsRetriedWithBackoff_NotHammered()
    {
        await using var server = new ClosingAtOnceServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { Reconnect = new() { InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(400), Jitter = 0 } };
        await using TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));

        await Task.Delay(1500, TimeoutToken);

        // Without backoff for short-lived connections: one every 10 ms, about 150. With it: 10, 20, 40, ... 400 ms: about 8.
        Assert.InRange(server.Accepted, 2, 20);
    }

    [Fact]
    public async Task ConnectionsThatEndAtOnce_CountTowardsMaxAttempts_SoARefusingServerIsGivenUpOn()
    {
        await using var server = new ClosingAtOnceServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { Reconnect = new() { InitialDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 3 } };
        await using TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.Completion));
        Assert.Equal(TinyProtoError.NotConnected, ex.Error);
        Assert.Contains("ended within a second of their handshake", ex.Message, StringComparison.Ordinal);
        Assert.InRange(server.Accepted, 3, 8);
    }

    [Fact]
    public async Task ClosedFromAHookOfItsOwnConnection_TheCloseDoesNotWaitForItself()
    {
        await using var server = await StartGreeterAsync(0, "bye");
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
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
        TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", ((IPEndPoint)server.BoundEndPoints[0]).Port, TimeoutToken));
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

    [Fact]
    public async Task APeerThatDeclinesWith0xFDButStaysOpen_IsARefusal_HeardAfterItsTimeout()
    {
        using System.Net.Sockets.Socket listener = ListenOnLoopback(out int port);
        Task peer = Task.Run(async () =>
        {
            using System.Net.Sockets.Socket accepted = await listener.AcceptAsync(TimeoutToken);
            await using var raw = new RawPeer(accepted, TimeoutToken);
            await raw.OpenAsServerAsync();
            await raw.ReadExactlyAsync(4);
            await raw.WriteAsync(0xFD);
            await Task.Delay(Timeout.Infinite, TimeoutToken).ContinueWith(_ => { }, TaskScheduler.Default);
        });
        await using var client = new TinyProtoClient { Reconnect = Fast, Timeout = TimeSpan.FromMilliseconds(500) };
        await using TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(link.RequestAsync("x"u8.ToArray(), TimeSpan.FromSeconds(30), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
        Assert.Contains("0xFD", ex.Message, StringComparison.Ordinal);
        Assert.True(link.IsConnected);
    }

    [Fact]
    public async Task ALockStepBatchThatFailsAfterItsFirstMessage_IsNotMarkedAsNothingDelivered()
    {
        using System.Net.Sockets.Socket listener = ListenOnLoopback(out int port);
        Task peer = Task.Run(async () =>
        {
            using System.Net.Sockets.Socket accepted = await listener.AcceptAsync(TimeoutToken);
            await using var raw = new RawPeer(accepted, TimeoutToken);
            await raw.OpenAsServerAsync();
            await raw.ReceiveMessageAsync();
            await raw.ReadExactlyAsync(4);
            await raw.CompleteOutputAsync();
            await raw.ReadToEndAsync();
        });
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.TransmitManyAsync(["a"u8.ToArray(), "b"u8.ToArray()], TimeoutToken).AsTask()));
        Assert.False(ex.NothingDelivered);
        await Bounded(peer);
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

    private async Task<TinyProtoServer> StartEchoAsync(int port)
    {
        var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new SlowFirstEcho(slow: false));
        server.AddAddress("127.0.0.1", port);
        await Bounded(server.StartAsync(TimeoutToken));
        return server;
    }

    private async Task<TinyProtoServer> StartGreeterAsync(int port, string greeting)
    {
        var server = new GreetingServer(Encoding.ASCII.GetBytes(greeting));
        server.AddAddress("127.0.0.1", port);
        await Bounded(server.StartAsync(TimeoutToken));
        return server;
    }


    /// <summary>Echoes; when <paramref name="slow"/>, the first reply comes only after a second.</summary>
    private sealed class SlowFirstEcho(bool slow) : TinyProtoConnection
    {
        private int _seen;

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (slow && Interlocked.Increment(ref _seen) == 1)
            {
                await Task.Delay(1000, cancellationToken);
            }

            await TransmitAsync(message, cancellationToken);
        }
    }

    /// <summary>Runs an action on the first message it receives, from its hook.</summary>
    private sealed class OnMessage(Func<Task> action) : TinyProtoConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            await action();
    }

    /// <summary>Closes each connection right after its handshake (its init hook throws).</summary>
    private sealed class ClosingAtOnceServer : TinyProtoServer
    {
        private int _accepted;

        public int Accepted => Volatile.Read(ref _accepted);

        protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _accepted);
            throw new InvalidOperationException("closes at once");
        }
    }

    /// <summary>Sends each new connection a greeting, from the connection's first hook.</summary>
    private sealed class GreetingServer : TinyProtoServer
    {
        public GreetingServer(byte[] greeting) => SetConnectionHandler(() => new Greeter(greeting));
    }

    private sealed class Greeter(byte[] greeting) : TinyProtoConnection
    {
        protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken) =>
            await TransmitAsync(greeting, cancellationToken);
    }
}
