using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace TinyProto.Async.Tests;

/// <summary>
/// TinyProtoServer and TinyProtoClient over TLS (their <c>TlsOptions</c>), on real loopback sockets: messages, hooks,
/// endpoints and a graceful stop behave as over plain TCP.
/// </summary>
public sealed class TlsTests : TlsTestBase
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConnectAsync_ServerCertificateTrusted_EchoesEveryMessageInEitherMode(bool pipelined)
    {
        await using var server = new TinyProtoServer();
        int port = await StartTlsEchoServerAsync(server);
        await using var client = new TinyProtoClient { TlsOptions = ClientTls() };
        client.ConnectionOptions.RequestPipelining = pipelined;
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        Assert.Equal(pipelined, connection.IsPipelined);
        Assert.Equal(pipelined, (await SingleServerConnectionAsync(server)).IsPipelined);
        for (int i = 0; i < 30; i++)
        {
            await AssertEchoesAsync(connection, RandomBytes(i * 997, seed: i));
        }

        // Several messages in flight at once (pipelined), or one after another (lock-step): every echo, in order.
        byte[][] batch = [.. Enumerable.Range(0, 20).Select(i => RandomBytes(100 + i, seed: 100 + i))];
        await Bounded(connection.TransmitManyAsync([.. batch.Select(b => (ReadOnlyMemory<byte>)b)], TimeoutToken).AsTask());
        foreach (byte[] message in batch)
        {
            Assert.Equal(message, await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        }
    }

    [Fact]
    public async Task TransmitAsync_MultiMegabyteMessageOverTls_ItsEchoStreamsBackWhole()
    {
        const int Size = 6 * 1024 * 1024;
        await using var server = new TinyProtoServer();
        int port = await StartTlsEchoServerAsync(server);
        (TinyProtoClient client, TinyProtoConnection connection) = await ConnectTlsAsync(port);
        await using (client)
        {
            byte[] payload = RandomBytes(Size, seed: 7);
            using var source = new MemoryStream(payload);
            await Bounded(connection.TransmitAsync(source, Size, TimeoutToken).AsTask());
            using var echo = new MemoryStream();
            Assert.Equal(Size, await Bounded(connection.ReceiveAsync(echo, TimeoutToken).AsTask()));
            Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echo.ToArray()));
        }
    }

    [Fact]
    public async Task ServerHooks_ClientOverTls_InitShutdownEndPointsAndActiveConnectionsAsOverTcp()
    {
        var log = new EventLog();
        await using var server = new RecordingServer(log) { TlsOptions = ServerTls() };
        int port = await StartLoopbackAsync(server);
        (TinyProtoClient client, TinyProtoConnection connection) = await ConnectTlsAsync(port);
        await using (client)
        {
            TinyProtoConnection served = await SingleServerConnectionAsync(server);
            Assert.Equal(connection.LocalEndPoint, served.RemoteEndPoint);
            Assert.Equal(connection.RemoteEndPoint, served.LocalEndPoint);
            Assert.Equal(port, ((IPEndPoint)served.LocalEndPoint!).Port);

            await Bounded(connection.TransmitAsync("hi"u8.ToArray(), TimeoutToken).AsTask());
            await Bounded(log.WaitForAsync("msg:hi", TimeoutToken));
            await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
            await Bounded(log.WaitForAsync("shutdown", TimeoutToken));
        }

        Assert.Equal(["init", "pre", "msg:hi", "post", "shutdown"], log.Snapshot());
        Assert.Empty(server.ActiveConnections);
    }

    [Fact]
    public async Task StopAsync_TlsClientsAcceptedMessageStillArriving_ItsEchoReachesThePeerWellBeforeTheStopTimeout()
    {
        await using var server = new TinyProtoServer { StopTimeout = TimeSpan.FromSeconds(15) };
        int port = await StartTlsEchoServerAsync(server);
        await using RawPeer raw = await ConnectRawTlsAsync(port);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
        byte[] message = RandomBytes(300_000, seed: 21);

        await Bounded(raw.WriteAsync(RawPeer.Header(300_000)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TinyProtoConnection connection = await StopWhileAnAcceptedMessageArrivesAsync(server, raw, message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the stop took {clock.Elapsed}: it waited for its deadline");
        Assert.Equal(TinyProtoCloseReason.ServerStopped, connection.CloseReason);
    }

    [Fact]
    public async Task ConnectAsync_DedicatedThreadsAskedForOnBothEnds_TlsConnectionsUseAsynchronousIoAndEcho()
    {
        await using var server = new TinyProtoServer();
        server.ConnectionOptions.Threading = TinyProtoThreading.DedicatedThread;
        int port = await StartTlsEchoServerAsync(server);
        await using var client = new TinyProtoClient { TlsOptions = ClientTls() };
        client.ConnectionOptions.Threading = TinyProtoThreading.DedicatedThread;
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        Assert.Null(connection.DedicatedReader);
        Assert.Null((await SingleServerConnectionAsync(server)).DedicatedReader);
        await AssertEchoesAsync(connection, "over TLS"u8.ToArray());
    }

    [Fact]
    public async Task StartAsync_OverSslStreamsOfTheCallersOwn_EchoesAndBothEndsClose()
    {
        using Socket listener = ListenOnLoopback(out int port);
        Task<Socket> accepting = listener.AcceptAsync(TimeoutToken).AsTask();
        var clientSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await clientSocket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        var serverSsl = new SslStream(new NetworkStream(await Bounded(accepting), ownsSocket: true));
        var clientSsl = new SslStream(new NetworkStream(clientSocket, ownsSocket: true));
        SslClientAuthenticationOptions clientOptions = ClientTls();
        clientOptions.TargetHost = "localhost";
        await Bounded(Task.WhenAll(
            serverSsl.AuthenticateAsServerAsync(ServerTls(), TimeoutToken),
            clientSsl.AuthenticateAsClientAsync(clientOptions, TimeoutToken)));

        await using var served = new EchoConnection();
        await using var connection = new TinyProtoConnection();
        await Bounded(Task.WhenAll(
            served.StartAsync(serverSsl, TinyProtoRole.Server, TimeoutToken),
            connection.StartAsync(clientSsl, TinyProtoRole.Client, TimeoutToken)));
        await AssertEchoesAsync(connection, RandomBytes(200_000, seed: 3));

        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        await Bounded(served.Completion);
        Assert.Equal(TinyProtoCloseReason.PeerClosed, served.CloseReason);
    }
}
