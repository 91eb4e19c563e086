using System.Buffers;
using System.Security.Cryptography;

namespace TinyProto.Async.Tests;

public sealed class MessageSizeTests : ConnectionTestBase
{
    private const int SixteenMiB = 16 * 1024 * 1024;

    [Fact]
    public async Task TransmitAsync_EmptyMessage_ArrivesEmptyWithHeaderOkAndNoPayload()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        Task transmit = client.TransmitAsync(ReadOnlyMemory<byte>.Empty, TimeoutToken).AsTask();
        Assert.Equal(new byte[] { 0, 0, 0, 0 }, await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(transmit);

        // The next message follows at once: the empty one had no payload bytes.
        Task next = client.TransmitAsync("x"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(new byte[] { 0, 0, 0, 1 }, await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("x"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(1)));
        await Bounded(next);
    }

    [Fact]
    public async Task ReceiveAsync_EmptyMessageBetweenOthers_ReceivedInOrder()
    {
        var server = new RecordingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);
        await Bounded(client.TransmitAsync("a"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(client.TransmitAsync(Array.Empty<byte>(), TimeoutToken).AsTask());
        await Bounded(client.TransmitAsync("b"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(server.Log.WaitForAsync("msg:b", TimeoutToken));
        Assert.Equal(["pre", "msg:a", "msg:", "msg:b"], server.Log.Snapshot());

        var plain = new TinyProtoConnection();
        var sender = new TinyProtoConnection();
        await StartPairAsync(sender, plain);
        await Bounded(plain.TransmitAsync(Array.Empty<byte>(), TimeoutToken).AsTask());
        Assert.Empty(await Bounded(sender.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task TransmitAsync_SixteenMiBInMemory_ArrivesIntact()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        byte[] payload = RandomBytes(SixteenMiB, 16);

        Task<byte[]> receive = server.ReceiveAsync(TimeoutToken).AsTask();
        await Bounded(client.TransmitAsync(payload, TimeoutToken).AsTask());
        byte[] received = await Bounded(receive);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received));

        // And back the other way, to a hook.
        var echo = new TinyProtoConnection();
        var hooked = new RecordingConnection();
        await StartPairAsync(hooked, echo);
        await Bounded(echo.TransmitAsync(payload, TimeoutToken).AsTask());
        await Bounded(hooked.Log.WaitForAsync(e => e.Length == 2, TimeoutToken));
        Assert.True(hooked.Received.TryDequeue(out byte[]? viaHook));
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(viaHook));
    }

    [Fact]
    public async Task TransmitAsync_SixteenMiBOverLoopback_ArrivesIntactBothWays()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        byte[] payload = RandomBytes(SixteenMiB, 61);

        await Bounded(connection.TransmitAsync(payload, TimeoutToken).AsTask());
        byte[] echo = await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echo));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TransmitAsync_SizesAroundTheDirectPayloadThresholdOverLoopback_EchoedIntactInOrder(bool pipelined)
    {
        // Payloads from 64 KiB on move between socket and message buffers directly, around the pipes; mixed sizes
        // make a direct payload follow pipe-read bytes, and a small message follow a direct one.
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        client.ConnectionOptions.RequestPipelining = pipelined;
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        int[] sizes = [65535, 65536, 65537, 3, 1024 * 1024 + 3, 0, 5 * 1024 * 1024 + 7, 70000, 1];
        for (int round = 0; round < 3; round++)
        {
            foreach (int size in sizes)
            {
                byte[] payload = RandomBytes(size, size + round);
                await Bounded(connection.TransmitAsync(payload, TimeoutToken).AsTask());
                byte[] echo = await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());
                Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echo));
            }
        }
    }

    [Fact]
    public async Task ReceiveLoop_PeerClosesInsideLargePayloadOverLoopback_FaultsWithProtocolViolation()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new TinyProtoConnection());
        int port = await StartLoopbackAsync(server);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, port, TimeoutToken);
        var raw = new RawPeer(socket, TimeoutToken);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);

        await Bounded(raw.WriteAsync(RawPeer.Header(1024 * 1024)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync(new byte[200_000]));
        socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);

        TinyProtoException failure = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.Completion));
        Assert.Equal(TinyProtoError.ProtocolViolation, failure.Error);
        Assert.Contains("of 1048576 bytes", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReceiveLoop_HeaderAboveMaxMessageSize_AnswersFcReadsNoPayloadAndCloses()
    {
        var server = new RecordingConnection();
        server.Options.MaxMessageSize = 1000;
        RawPeer raw = await StartWithRawClientAsync(server);

        // The header of a 1001-byte message: refused before any payload byte is read.
        await Bounded(raw.WriteAsync(RawPeer.Header(1001)));
        Assert.Equal(0xFC, await Bounded(raw.ReadByteAsync()));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));

        await AssertFaultsAsync(server.Completion, TinyProtoError.MessageTooLarge);
        Assert.Equal(["pre", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task ReceiveLoop_HeaderAtMaxMessageSize_Accepted()
    {
        var server = new RecordingConnection();
        server.Options.MaxMessageSize = 1000;
        RawPeer raw = await StartWithRawClientAsync(server);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(new byte[1000])));
        await Bounded(server.Log.WaitForAsync("msg:[1000 bytes]", TimeoutToken));
    }

    [Fact]
    public async Task TransmitAsync_PeerRefusesAsTooLarge_ThrowsMessageRefusedAndNoPayloadOnWire()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        Task transmit = client.TransmitAsync(new byte[1001], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(1001), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFC));
        await raw.CompleteOutputAsync();

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(client.Completion);
    }

    [Fact]
    public async Task TransmitAsync_BothEndsOursAndReceiverLimitIs1000_SenderGetsMessageRefusedReceiverCloses()
    {
        var client = new TinyProtoConnection();
        var server = new RecordingConnection();
        server.Options.MaxMessageSize = 1000;
        await StartPairAsync(client, server);
        await Bounded(client.TransmitAsync(new byte[1000], TimeoutToken).AsTask());

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.TransmitAsync(new byte[1001], TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
        await AssertFaultsAsync(server.Completion, TinyProtoError.MessageTooLarge);
        await Bounded(client.Completion);
        Assert.Equal(["pre", "msg:[1000 bytes]", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task TransmitAsync_StreamAboveProtocolMaximum_ThrowsMessageTooLargeAndWritesNothing()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => client.TransmitAsync(new UnreadableStream(), 0xF1000000L, TimeoutToken).AsTask());
        Assert.Equal(TinyProtoError.MessageTooLarge, ex.Error);
        var ex2 = await Assert.ThrowsAsync<TinyProtoException>(() => client.TransmitAsync(new UnreadableStream(), 0xF0FFFFFFL + 1, TimeoutToken).AsTask());
        Assert.Equal(TinyProtoError.MessageTooLarge, ex2.Error);

        // Nothing went out: the next bytes on the wire are the next message's header.
        Task next = client.TransmitAsync("ok"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(2), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("ok"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(2)));
        await Bounded(next);
        Assert.False(client.Completion.IsCompleted);
    }

    [Fact]
    public async Task TransmitAsync_SequenceAboveProtocolMaximum_ThrowsMessageTooLargeAndWritesNothing()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);

        // A sequence that claims 0xF1000000 bytes without allocating them: the same 16 MiB segment repeated.
        byte[] chunk = new byte[16 * 1024 * 1024];
        var first = new TestSegment(chunk, 0);
        TestSegment last = first;
        long total = chunk.Length;
        while (total < 0xF1000000L)
        {
            last = last.Append(chunk);
            total += chunk.Length;
        }

        var huge = new ReadOnlySequence<byte>(first, 0, last, chunk.Length);
        Assert.True(huge.Length >= 0xF1000000L);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => client.TransmitAsync(huge, TimeoutToken).AsTask());
        Assert.Equal(TinyProtoError.MessageTooLarge, ex.Error);

        Task next = client.TransmitAsync("ok"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(2), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(next);
    }
}
