using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using TinyProto.Async.Tests.Faults;

namespace TinyProto.Async.Tests;

/// <summary>
/// Dead-peer detection: TCP keepalive on every socket the library makes (on by default: 60 s, then a probe every
/// 10 s, 3 unanswered), and <c>IdleTimeout</c> for what keepalive cannot see, a path that silently stops forwarding.
/// </summary>
public sealed class DeadPeerTests : ConnectionTestBase
{
    [Fact]
    public async Task KeepAlive_IsSetOnTheSocketsTheServerAcceptsAndTheClientOpens_AsTheOptionsSay()
    {
        await using var server = new TinyProtoServer();
        server.ConnectionOptions.TcpKeepAliveTime = TimeSpan.FromSeconds(7);
        server.ConnectionOptions.TcpKeepAliveInterval = TimeSpan.FromSeconds(2);
        server.ConnectionOptions.TcpKeepAliveRetryCount = 4;
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await WaitUntilAsync(() => server.ActiveConnections.Count > 0);

        AssertKeepAlive((Socket)connection.AbortTarget!, 60, 10, 3);
        AssertKeepAlive((Socket)server.ActiveConnections.Values.Single().AbortTarget!, 7, 2, 4);
    }

    [Fact]
    public async Task KeepAliveTimeInfinite_TurnsItOff()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        client.ConnectionOptions.TcpKeepAliveTime = Timeout.InfiniteTimeSpan;
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        Assert.Equal(0, (int)((Socket)connection.AbortTarget!).GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
    }

    [Fact]
    public void KeepAliveSettings_AreWholeSecondsInTheOperatingSystemsRange()
    {
        var options = new TinyProtoConnectionOptions { TcpKeepAliveTime = TimeSpan.FromMilliseconds(1500), TcpKeepAliveInterval = TimeSpan.FromMilliseconds(1) };
        Assert.Equal(TimeSpan.FromSeconds(2), options.TcpKeepAliveTime);
        Assert.Equal(TimeSpan.FromSeconds(1), options.TcpKeepAliveInterval);
        Assert.Contains("at most 32767 seconds", Assert.Throws<ArgumentOutOfRangeException>(() => options.TcpKeepAliveTime = TimeSpan.FromHours(10)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.TcpKeepAliveTime = TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.TcpKeepAliveInterval = Timeout.InfiniteTimeSpan);
        Assert.Contains("between 1 and 127", Assert.Throws<ArgumentOutOfRangeException>(() => options.TcpKeepAliveRetryCount = 128).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.TcpKeepAliveRetryCount = 0);
    }

    [Fact]
    public async Task APathThatStopsForwarding_IsFoundByIdleTimeout_AndAWaitingReceiveFailsSayingSo()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Echo>();
        int port = await StartLoopbackAsync(server);
        await using var relay = new FaultProxy(port);
        await using var client = new TinyProtoClient();
        client.ConnectionOptions.IdleTimeout = TimeSpan.FromMilliseconds(500);
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", relay.Port, TimeoutToken));
        await Bounded(connection.TransmitAsync("before"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("before"u8.ToArray(), await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));

        relay.Stall();
        var watch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        watch.Stop();

        Assert.Contains("IdleTimeout", ex.Message, StringComparison.Ordinal);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        var closed = await AssertFaultsAsync(connection.Completion, TinyProtoError.Timeout);
        Assert.Contains("idle for 500 ms", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APathThatStopsForwarding_FreesTheServersSlot_WhenTheServerHasAnIdleTimeout()
    {
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        server.ConnectionOptions.IdleTimeout = TimeSpan.FromMilliseconds(500);
        server.SetConnectionHandler<Echo>();
        int port = await StartLoopbackAsync(server);
        await using var relay = new FaultProxy(port);
        await using var vanished = new TinyProtoClient();
        await Bounded(vanished.ConnectAsync("127.0.0.1", relay.Port, TimeoutToken));
        await WaitUntilAsync(() => server.ActiveConnections.Count > 0);
        TinyProtoConnection held = server.ActiveConnections.Values.Single();

        relay.Stall();
        await AssertFaultsAsync(held.Completion, TinyProtoError.Timeout);
        await using var next = new TinyProtoClient();
        TinyProtoConnection served = await Bounded(next.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(served.TransmitAsync("the slot is free"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("the slot is free"u8.ToArray(), await Bounded(served.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [NetNamespaceFact]
    public async Task AHostThatVanishes_IsFoundByKeepAlive_AndBothEndsWaitingReceivesFailWithinItsBound()
    {
        // Inside a network namespace of its own the probe takes loopback down after one exchange: from then on every
        // packet is lost, with no FIN and no reset, as when the peer's host loses power. Keepalive 1 s + 2 probes of
        // 1 s: both ends must fail within about 3 s, whichever threading they run on, even when the last ACK was lost.
        foreach (string threading in new[] { nameof(TinyProtoThreading.DedicatedThread), nameof(TinyProtoThreading.ThreadPool) })
        {
            await using ToolProcess probe = ToolProcess.StartUnder(
                ["unshare", "-rn", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""],
                "TinyProto.Async.NetFaults", "vanish", "1", "1", "2", threading);
            Assert.Equal(0, await probe.WaitForExitAsync(TimeoutToken));
            foreach (string end in new[] { "client", "server" })
            {
                string line = Assert.Single(probe.Stdout, l => l.StartsWith(end + " ", StringComparison.Ordinal));
                string[] parts = line.Split(' ', 4);
                Assert.InRange(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), 1000, 10_000);
                Assert.Equal(nameof(TinyProtoError.ConnectionClosed), parts[2]);
                Assert.Contains("Connection timed out", parts[3], StringComparison.Ordinal);
            }
        }
    }

    private static void AssertKeepAlive(Socket socket, int time, int interval, int count)
    {
        Assert.NotEqual(0, (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
        Assert.Equal(time, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!);
        Assert.Equal(interval, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!);
        Assert.Equal(count, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);
    }

    private sealed class Echo : TinyProtoConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            await TransmitAsync(message, cancellationToken);
    }
}
