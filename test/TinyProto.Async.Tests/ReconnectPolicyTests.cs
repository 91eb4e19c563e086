using System.Collections.Concurrent;
using System.Net;

namespace TinyProto.Async.Tests;

/// <summary>When a reconnecting connection tries again and when it gives up: attempts in a row, connections that end at once, refusals that are not outages, what may be sent again.</summary>
public sealed class ReconnectPolicyTests : ReconnectTestBase
{
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
            port = PortOf(server);
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
        // The Timeout is what the refusal is heard after; it also bounds the wait for the 0xFD, so not too short for a busy host.
        await using var client = new TinyProtoClient { Reconnect = Fast, Timeout = TimeSpan.FromSeconds(2) };
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
}
