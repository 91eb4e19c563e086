using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace TinyProto.Async.Tests;

/// <summary>
/// What bounds a TLS handshake: the handshake timeout and the server's stop, on both ends; while it runs, a peer counts
/// as a pending handshake and holds no connection slot, and the connection limit is answered over TLS.
/// </summary>
public sealed class TlsHandshakeLimitTests : TlsTestBase
{
    public TlsHandshakeLimitTests()
        : base(TimeSpan.FromSeconds(40))
    {
    }

    public enum PlainPeer
    {
        SendsNothing,
        SendsATinyprotoOpening,
        SendsAnHttpRequest,
    }

    [Theory]
    [InlineData(PlainPeer.SendsNothing)]
    [InlineData(PlainPeer.SendsATinyprotoOpening)]
    [InlineData(PlainPeer.SendsAnHttpRequest)]
    public async Task TlsHandshake_PeerWithoutTls_IsClosedWithinTheTimeoutAndLoggedWithItsEndpoint(PlainPeer peerKind)
    {
        var logs = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(logs);
        server.ConnectionOptions.Timeout = TimeSpan.FromMilliseconds(500);
        int port = await StartTlsEchoServerAsync(server);
        using Socket peer = await ConnectPlainAsync(port);
        var clock = Stopwatch.StartNew();
        byte[] sent = peerKind switch
        {
            // Read as the start of a long SSLv2-style record: the handshake waits for the rest until its timeout.
            PlainPeer.SendsATinyprotoOpening => [0xFF, 0, 0, 0, 5],
            // Not a TLS record at all: the handshake fails at once.
            PlainPeer.SendsAnHttpRequest => "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray(),
            _ => [],
        };
        await peer.SendAsync(sent, SocketFlags.None, TimeoutToken);

        await Bounded(WaitForCloseAsync(peer));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"the server closed the peer after {clock.Elapsed}");
        await WaitUntilAsync(() => logs.Entries.Any(e => e.Message.Contains("TLS handshake", StringComparison.Ordinal)));
        RecordingLoggerFactory.Entry logged = logs.Entries.Single(e => e.Message.Contains("TLS handshake", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, logged.Level);
        string endPoint = $"127.0.0.1:{((System.Net.IPEndPoint)peer.LocalEndPoint!).Port}";
        Assert.Equal(peerKind == PlainPeer.SendsAnHttpRequest
            ? $"Closed the connection from {endPoint}: The TLS handshake with {endPoint} failed: {logged.Exception!.InnerException!.Message}"
            : $"Closed the connection from {endPoint}: The TLS handshake with {endPoint} did not finish within 0.5 s.", logged.Message);

        // The log line comes a moment before the handshake's pending place is given back.
        await WaitUntilAsync(() => server.PendingHandshakes == 0);
        Assert.Empty(server.ActiveConnections);
    }

    [Fact]
    public async Task ConnectionLimit_SilentPeerInItsTlsHandshake_HoldsNoSlot()
    {
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(20);
        int port = await StartTlsEchoServerAsync(server);
        using Socket silent = await ConnectPlainAsync(port);
        await WaitUntilAsync(() => server.PendingHandshakes == 1);

        (TinyProtoClient client, TinyProtoConnection connection) = await ConnectTlsAsync(port);
        await using (client)
        {
            await AssertEchoesAsync(connection, "the one slot"u8.ToArray());
            Assert.Equal(1, server.PendingHandshakes);
        }
    }

    [Fact]
    public async Task MaxPendingHandshakes_SilentPeerInItsTlsHandshake_CountsAsPendingUntilItGoes()
    {
        await using var server = new TinyProtoServer { MaxPendingHandshakes = 1 };
        server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(20);
        int port = await StartTlsEchoServerAsync(server);
        Socket silent = await ConnectPlainAsync(port);
        await WaitUntilAsync(() => server.PendingHandshakes == 1);

        // Refused before any TLS: its 0xFE comes in plaintext, which the client's TLS handshake reports as a failure.
        await using (var refused = new TinyProtoClient { TlsOptions = ClientTls() })
        {
            var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(refused.ConnectAsync("127.0.0.1", port, TimeoutToken)));
            Assert.Equal(TinyProtoError.HandshakeFailed, ex.Error);
        }

        silent.Dispose();
        await WaitUntilAsync(() => server.PendingHandshakes == 0);
        (TinyProtoClient client, TinyProtoConnection connection) = await ConnectTlsAsync(port);
        await using (client)
        {
            await AssertEchoesAsync(connection, "room again"u8.ToArray());
        }
    }

    [Fact]
    public async Task ConnectAsync_OverTlsAtTheConnectionLimit_ThrowsConnectionLimitReachedAndTheFirstIsStillServed()
    {
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        int port = await StartTlsEchoServerAsync(server);
        (TinyProtoClient first, TinyProtoConnection connection) = await ConnectTlsAsync(port);
        await using (first)
        {
            await using var second = new TinyProtoClient { TlsOptions = ClientTls() };
            var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(second.ConnectAsync("127.0.0.1", port, TimeoutToken)));
            Assert.Equal(TinyProtoError.ConnectionLimitReached, ex.Error);
            await AssertEchoesAsync(connection, "first"u8.ToArray());
            Assert.Single(server.ActiveConnections);
        }
    }

    [Fact]
    public async Task StopAsync_PeerSilentInItsTlsHandshake_StopsWithoutWaitingForTheHandshakeTimeout()
    {
        await using var server = new TinyProtoServer { StopTimeout = TimeSpan.FromSeconds(15) };
        server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(15);
        int port = await StartTlsEchoServerAsync(server);
        using Socket silent = await ConnectPlainAsync(port);
        await WaitUntilAsync(() => server.PendingHandshakes == 1);

        var clock = Stopwatch.StartNew();
        await Bounded(server.StopAsync(TimeoutToken));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the stop took {clock.Elapsed}: it waited for the TLS handshake's timeout");
        await Bounded(WaitForCloseAsync(silent));
        Assert.Equal(0, server.PendingHandshakes);
    }

    [Fact]
    public async Task ConnectAsync_PlainServerNeverAnswersTheTlsHandshake_ThrowsTimeoutAndClosesTheSocket()
    {
        using Socket listener = ListenOnLoopback(out int port);
        // 2 s, not less: on a loaded 2-core CI host the TCP connect and SslStream's first use alone once took over 0.5 s,
        // and the timeout then fired before the TLS handshake began ("Connecting ... took longer").
        await using var client = new TinyProtoClient { TlsOptions = ClientTls(), Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));

        Assert.Equal(TinyProtoError.Timeout, ex.Error);
        Assert.Equal($"The TLS handshake with 127.0.0.1:{port} did not finish within 2 s.", ex.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"the timeout came after {clock.Elapsed}");
        using Socket accepted = await listener.AcceptAsync(TimeoutToken);
        await Bounded(WaitForCloseAsync(accepted));
    }

    [Fact]
    public async Task ConnectAsync_CallerCancelsDuringTheTlsHandshake_ThrowsOperationCanceledAndClosesTheSocket()
    {
        using Socket listener = ListenOnLoopback(out int port);
        await using var client = new TinyProtoClient { TlsOptions = ClientTls(), Timeout = TimeSpan.FromSeconds(20) };
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task<TinyProtoConnection> connecting = client.ConnectAsync("127.0.0.1", port, cancel.Token);
        using Socket accepted = await listener.AcceptAsync(TimeoutToken);
        await Task.Delay(100, TimeoutToken);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(connecting));
        await Bounded(WaitForCloseAsync(accepted));
    }
}
