using System.Buffers;
using System.Security.Cryptography;

namespace TinyProto.Async.Tests;

/// <summary>
/// A server's stop loses nothing it acknowledged: a message whose header was answered is received in full and
/// delivered to its hook, which may still answer it until the stop deadline; a header that arrives after the stop
/// began is declined with 0xFD (rule 8), so its sender learns at once that it failed. Nothing is answered OK and then dropped.
/// </summary>
public sealed class GracefulStopTests : ConnectionTestBase
{
    [Fact]
    public async Task StopAsync_WhileAnAcceptedMessageIsStillArriving_TheMessageIsDeliveredAndItsEchoReachesThePeer()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        await Bounded(raw.OpenAsClientAsync());
        byte[] message = RandomBytes(300_000, seed: 21);

        await Bounded(raw.WriteAsync(RawPeer.Header(300_000)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await StopWhileAnAcceptedMessageArrivesAsync(server, raw, message);
    }

    [Fact]
    public async Task StopAsync_AHeaderThatArrivesAfterTheStopBegan_IsDeclinedWith0xFDWhileTheMessageBeforeItIsEchoed()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new EchoConnection(release.Task));
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        await Bounded(raw.OpenAsClientAsync());

        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("first"u8.ToArray())));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        Task stop = server.StopAsync(TimeoutToken);
        await Task.Delay(100, TimeoutToken);

        // The hook still holds the first message; a second header comes after the stop began, and is declined.
        await Bounded(raw.WriteAsync(RawPeer.Header(6)));
        Assert.Equal(0xFD, await Bounded(raw.ReadByteAsync()));
        release.SetResult();

        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("first"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(5)));

        // Then the end, at a boundary.
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(stop);
        await Bounded(connection.Completion);
    }

    [Fact]
    public async Task StopAsync_PipelinedHeaderAfterTheStopBegan_IsDeclinedItsPayloadDroppedAndTheConnectionEnds()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TinyProtoServer { StopTimeout = TimeSpan.FromSeconds(15) };
        server.SetConnectionHandler(() => new EchoConnection(release.Task));
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        Assert.Equal(0xFB, await Bounded(raw.OpenAsClientAsync(0xFB)));

        await Bounded(raw.WriteAsync([.. RawPeer.Header(5), .. "first"u8.ToArray()]));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Task stop = server.StopAsync(TimeoutToken);
        await Task.Delay(100, TimeoutToken);

        // Pipelined: the payload follows its header unasked. It is read, dropped and declined.
        await Bounded(raw.WriteAsync([.. RawPeer.Header(6), .. "second"u8.ToArray()]));
        Assert.Equal(0xFD, await Bounded(raw.ReadByteAsync()));
        release.SetResult();

        // The hook's echo of the accepted message still goes out and is answered; then the end.
        byte[] echo = await Bounded(raw.ReadExactlyAsync(9));
        Assert.Equal([.. RawPeer.Header(5), .. "first"u8.ToArray()], echo);
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(stop);
        await Bounded(connection.Completion);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the stop took {clock.Elapsed}: it waited for its deadline");
        Assert.Equal(TinyProtoCloseReason.ServerStopped, connection.CloseReason);
    }

    [Fact]
    public async Task StopAsync_AHeaderHeldBackForRoomWhenTheStopBegins_IsDeclinedAndTheConnectionEnds()
    {
        // No hook takes messages (a ReceiveAsync consumer): a 700 KB message fills the inbox, so the next header waits for room.
        await using var server = new TinyProtoServer { StopTimeout = TimeSpan.FromSeconds(15) };
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        await Bounded(raw.OpenAsClientAsync());
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(new byte[700_000])));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        await Bounded(raw.WriteAsync(RawPeer.Header(700_000)));
        await Task.Delay(100, TimeoutToken);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Task stop = server.StopAsync(TimeoutToken);

        Assert.Equal(0xFD, await Bounded(raw.ReadByteAsync()));

        // The accepted message is still there for its consumer; once it comes back for the next one, the stop ends.
        Assert.Equal(700_000, (await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask())).Length);
        Task next = connection.ReceiveAsync(TimeoutToken).AsTask();
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(stop);
        await Bounded(connection.Completion);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the stop took {clock.Elapsed}: it waited for its deadline");
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(next));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
    }

    [Fact]
    public async Task StopAsync_WithClientsStreamingChecksummedEchoes_EveryMessageTheServerAcceptedIsEchoedBack()
    {
        const int clients = 32;
        await using var server = new TinyProtoServer { StopTimeout = TimeSpan.FromSeconds(10) };
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        var connections = new List<TinyProtoConnection>();
        for (int i = 0; i < clients; i++)
        {
            connections.Add(await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        }

        using var stopSoon = new CancellationTokenSource();
        Task<(int Accepted, int Echoed)>[] loops = connections.Select((c, i) => Task.Run(() => EchoLoopAsync(c, i))).ToArray();
        await Task.Delay(300, TimeoutToken);
        await Bounded(server.StopAsync(TimeoutToken));

        foreach ((int accepted, int echoed) in await Bounded(Task.WhenAll(loops)))
        {
            Assert.True(accepted > 0, "a client got nothing through before the stop");
            Assert.Equal(accepted, echoed);
        }
    }

    /// <summary>
    /// Transmit, then receive the echo and check it, until the connection ends; counts messages the server accepted
    /// (their TransmitAsync succeeded) and echoes that came back intact.
    /// </summary>
    /// <summary>
    /// Found behind HAProxy in a rolling restart: the client answered our header at once and sent one of its own; a
    /// stopping server wrote the 0xFD before its payload, and the client read the 0xFD as that payload's first byte.
    /// </summary>
    [Fact]
    public async Task StopAsync_AHeaderThatCrossesOursWhileWeStop_IsDeclinedRightBehindOurPayload_NeverBeforeIt()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<GreetingConnection>();
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        await Bounded(raw.OpenAsClientAsync());
        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        Task stop = server.StopAsync(TimeoutToken);
        await Task.Delay(100, TimeoutToken);

        // Our header crosses the server's, then the client answers the server's at once (rule 5).
        await Bounded(raw.WriteAsync([.. RawPeer.Header(6), 0xFF]));

        Assert.Equal("hello"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(5)));
        Assert.Equal(0xFD, await Bounded(raw.ReadByteAsync()));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(stop);
        await Bounded(connection.Completion);
    }

    private static async Task<(int Accepted, int Echoed)> EchoLoopAsync(TinyProtoConnection connection, int seed)
    {
        int accepted = 0;
        int echoed = 0;
        var random = new Random(seed);
        while (true)
        {
            byte[] message = new byte[random.Next(1, 256 * 1024)];
            random.NextBytes(message);
            byte[] sum = SHA256.HashData(message);
            try
            {
                await connection.TransmitAsync(message);
            }
            catch (TinyProtoException)
            {
                return (accepted, echoed);
            }

            accepted++;
            byte[] echo;
            try
            {
                echo = await connection.ReceiveAsync();
            }
            catch (TinyProtoException)
            {
                return (accepted, echoed);
            }

            Assert.Equal(sum, SHA256.HashData(echo));
            echoed++;
        }
    }

    private sealed class EchoConnection(Task? holdFirst = null) : TinyProtoConnection
    {
        public EchoConnection()
            : this(null)
        {
        }

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (holdFirst is not null)
            {
                await holdFirst.WaitAsync(cancellationToken);
            }

            await TransmitAsync(message, cancellationToken);
        }
    }

    /// <summary>Transmits "hello" as soon as it runs.</summary>
    private sealed class GreetingConnection : TinyProtoConnection
    {
        protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken) =>
            await TransmitAsync("hello"u8.ToArray(), cancellationToken);
    }
}
