using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests;

/// <summary>
/// Which clients a server takes on, over loopback: silent peers cannot take the places of good clients, one address
/// cannot take more than its share, and handshakes in progress are bounded.
/// </summary>
public sealed class ServerAdmissionTests : ConnectionTestBase
{
    [Fact]
    public async Task ConnectionLimit_SilentPeersReconnectInALoop_GoodClientServedEveryTime()
    {
        const int Limit = 10;
        const int SilentPeers = 24;
        await using var server = new TinyProtoServer
        {
            ConnectionLimit = Limit,
            ConnectionOptions = new TinyProtoConnectionOptions { Timeout = TimeSpan.FromSeconds(1) },
        };
        server.SetConnectionHandler(() => new EchoConnection());
        int port = await StartLoopbackAsync(server);

        using var stopPeers = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task[] peers = Enumerable.Range(0, SilentPeers).Select(_ => SilentPeerLoopAsync(port, stopPeers.Token)).ToArray();
        try
        {
            // As many silent peers are in their handshake as the limit has places (more, soon).
            await WaitUntilAsync(() => server.PendingHandshakes >= Limit);
            await using var client = new TinyProtoClient();
            for (int i = 0; i < 15; i++)
            {
                TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
                byte[] message = [(byte)i, 1, 2, 3];
                await Bounded(connection.TransmitAsync(message, TimeoutToken).AsTask());
                Assert.Equal(message, await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
                await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
                await Task.Delay(20, TimeoutToken);
            }
        }
        finally
        {
            await stopPeers.CancelAsync();
            await Task.WhenAll(peers);
        }
    }

    [Fact]
    public async Task MaxConnectionsPerRemoteAddress_OneMoreFromTheAddress_RefusedWithFeUntilOneCloses()
    {
        var loggers = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(loggers) { MaxConnectionsPerRemoteAddress = 2 };
        server.SetConnectionHandler(() => new EchoConnection());
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection first = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        TinyProtoConnection second = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(TinyProtoError.ConnectionLimitReached, ex.Error);
        await using (RawPeer raw = await ConnectRawAsync(port))
        {
            Assert.Equal(0xFE, await Bounded(raw.OpenAsClientAsync()));
            Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        }

        // One log line per refusal, naming the address.
        RecordingLoggerFactory.Entry[] refusals = loggers.Entries.Where(e => e.Message.Contains("MaxConnectionsPerRemoteAddress", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, refusals.Length);
        Assert.All(refusals, e => Assert.Contains("address 127.0.0.1 is at its limit of 2 connections", e.Message, StringComparison.Ordinal));
        Assert.All(refusals, e => Assert.Equal("TinyProto.Async.TinyProtoServer", e.Category));

        // The two served are undisturbed; once one ends, the address may connect again.
        await Bounded(second.TransmitAsync("still here"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("still here"u8.ToArray(), await Bounded(second.ReceiveAsync(TimeoutToken).AsTask()));
        await Bounded(first.CloseAsync(TimeoutToken).AsTask());
        TinyProtoConnection again = await ConnectRetryingAsync(client, port);
        await Bounded(again.TransmitAsync("again"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("again"u8.ToArray(), await Bounded(again.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task MaxConnectionsPerRemoteAddress_PeersStillInTheirHandshake_Count()
    {
        await using var server = new TinyProtoServer { MaxConnectionsPerRemoteAddress = 2 };
        int port = await StartLoopbackAsync(server);
        await using RawPeer silent1 = await ConnectRawAsync(port);
        await using RawPeer silent2 = await ConnectRawAsync(port);
        await WaitUntilAsync(() => server.PendingHandshakes == 2);

        await using var client = new TinyProtoClient();
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(TinyProtoError.ConnectionLimitReached, ex.Error);
    }

    [Fact]
    public async Task MaxConnectionsPerRemoteAddress_AnotherAddress_NotLimited()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // 127.0.0.2 is a loopback address of its own only on Linux.
        }

        await using var server = new TinyProtoServer { MaxConnectionsPerRemoteAddress = 1 };
        int port = await StartLoopbackAsync(server);
        await using RawPeer first = await ConnectRawAsync(port);
        Assert.Equal(0xFF, await Bounded(first.OpenAsClientAsync()));
        await using RawPeer sameAddress = await ConnectRawAsync(port);
        Assert.Equal(0xFE, await Bounded(sameAddress.OpenAsClientAsync()));

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        await using var otherAddress = new RawPeer(socket, TimeoutToken);
        Assert.Equal(0xFF, await Bounded(otherAddress.OpenAsClientAsync()));
    }

    [Fact]
    public async Task MaxPendingHandshakes_Reached_NewSocketClosedAtOnceUntilAHandshakeEnds()
    {
        var loggers = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(loggers)
        {
            MaxPendingHandshakes = 2,

            // Far beyond this test's own timeout: whatever closes the third socket, it is not the handshake timing out.
            ConnectionOptions = new TinyProtoConnectionOptions { Timeout = TimeSpan.FromMinutes(5) },
        };
        int port = await StartLoopbackAsync(server);
        RawPeer silent1 = await ConnectRawAsync(port);
        await using RawPeer silent2 = await ConnectRawAsync(port);
        await WaitUntilAsync(() => server.PendingHandshakes == 2);

        await using (RawPeer third = await ConnectRawAsync(port))
        {
            await Bounded(third.WriteAsync(0xFF));
            byte[] answer = await Bounded(third.ReadToEndAsync());
            Assert.True(answer is [] or [0xFE], $"expected 0xFE or a reset, got {Convert.ToHexString(answer)}");
        }

        Assert.Contains(loggers.Entries, e => e.Message.Contains("MaxPendingHandshakes", StringComparison.Ordinal) && e.Category == "TinyProto.Async.TinyProtoServer");
        Assert.Equal(2, server.PendingHandshakes);

        // One silent peer speaks up: its handshake ends, and there is room again.
        Assert.Equal(0xFF, await Bounded(silent1.OpenAsClientAsync()));
        await WaitUntilAsync(() => server.PendingHandshakes == 1);
        await using var client = new TinyProtoClient();
        await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await silent1.DisposeAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void AdmissionLimits_BelowOne_ThrowNamingTheOption(int bad)
    {
        var server = new TinyProtoServer();
        Assert.StartsWith("MaxConnectionsPerRemoteAddress must be at least 1, or null for no limit.", Assert.Throws<ArgumentOutOfRangeException>(() => server.MaxConnectionsPerRemoteAddress = bad).Message, StringComparison.Ordinal);
        Assert.StartsWith("MaxPendingHandshakes must be at least 1, or null for no limit.", Assert.Throws<ArgumentOutOfRangeException>(() => server.MaxPendingHandshakes = bad).Message, StringComparison.Ordinal);
        Assert.Null(server.MaxConnectionsPerRemoteAddress);
        Assert.Null(server.MaxPendingHandshakes);
        server.MaxConnectionsPerRemoteAddress = 1;
        server.MaxPendingHandshakes = 1;
        server.MaxPendingHandshakes = null;
    }

    /// <summary>A peer that connects and never sends a byte; when the server closes it, it connects again at once.</summary>
    private static async Task SilentPeerLoopAsync(int port, CancellationToken stop)
    {
        byte[] buffer = new byte[16];
        while (!stop.IsCancellationRequested)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), stop);
                while (await socket.ReceiveAsync(buffer, SocketFlags.None, stop) > 0)
                {
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // Closed by the server (or the test is over): connect again, or stop.
            }
        }
    }

    /// <summary>Connects, retrying while the server has not yet given back the place of a connection that just ended.</summary>
    private async Task<TinyProtoConnection> ConnectRetryingAsync(TinyProtoClient client, int port)
    {
        while (true)
        {
            try
            {
                return await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
            }
            catch (TinyProtoException ex) when (ex.Error == TinyProtoError.ConnectionLimitReached)
            {
                await Task.Delay(10, TimeoutToken);
            }
        }
    }
}
