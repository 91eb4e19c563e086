using System.IO.Pipelines;

namespace TinyProto.Async.Tests;

public sealed class BadInputTests : ConnectionTestBase
{
    [Theory]
    [InlineData(0x42)]
    [InlineData(0x00)]
    [InlineData(0xFE)]
    [InlineData(0xFC)]
    public async Task StartAsync_ServerRoleGetsUnknownOpening_ThrowsHandshakeFailed(byte opening)
    {
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        var raw = new RawPeer(clientPipe, TimeoutToken);
        var server = new RecordingConnection();
        Task start = server.StartAsync(serverPipe, TinyProtoRole.Server, TimeoutToken);
        await Bounded(raw.WriteAsync(opening));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(start));
        Assert.Equal(TinyProtoError.HandshakeFailed, ex.Error);
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(server.Completion);
        Assert.Empty(server.Log.Snapshot());
    }

    [Theory]
    [InlineData(0x42, TinyProtoError.HandshakeFailed)]
    [InlineData(0x00, TinyProtoError.HandshakeFailed)]
    [InlineData(0xFC, TinyProtoError.HandshakeFailed)]
    [InlineData(0xFB, TinyProtoError.HandshakeFailed)] // pipelined answer to a client that did not ask for it
    [InlineData(0xFE, TinyProtoError.ConnectionLimitReached)]
    public async Task StartAsync_ClientRoleGetsUnknownAnswer_ThrowsExpectedError(byte answer, TinyProtoError expected)
    {
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        var raw = new RawPeer(serverPipe, TimeoutToken);
        var client = new RecordingConnection();
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsServerAsync(answer)));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(start));
        Assert.Equal(expected, ex.Error);
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        Assert.Empty(client.Log.Snapshot());
    }

    [Fact]
    public async Task StartAsync_PeerClosesDuringHandshake_ThrowsHandshakeFailed()
    {
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        var raw = new RawPeer(serverPipe, TimeoutToken);
        var client = new TinyProtoConnection();
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        await Bounded(raw.ReadByteAsync());
        await raw.CompleteOutputAsync();

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(start));
        Assert.Equal(TinyProtoError.HandshakeFailed, ex.Error);
    }

    [Theory]
    [InlineData(TinyProtoRole.Server, 0xFF)]
    [InlineData(TinyProtoRole.Server, 0xF1)]
    [InlineData(TinyProtoRole.Client, 0xFF)]
    [InlineData(TinyProtoRole.Client, 0xFC)]
    public async Task ReceiveLoop_StrayStatusWithNothingAwaiting_FaultsWithProtocolViolationAndPostLoopRunsOnce(TinyProtoRole role, byte stray)
    {
        var connection = new RecordingConnection();
        RawPeer raw = role == TinyProtoRole.Server
            ? await StartWithRawClientAsync(connection)
            : await StartWithRawServerAsync(connection);
        await Bounded(raw.WriteAsync(stray));

        await AssertFaultsAsync(connection.Completion, TinyProtoError.ProtocolViolation);
        Assert.Equal(["pre", "post"], connection.Log.Snapshot());
        AssertNothingOrRefusal(await Bounded(raw.ReadToEndAsync()));

        var transmit = await Assert.ThrowsAsync<TinyProtoException>(() => connection.TransmitAsync("late"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal(TinyProtoError.ConnectionClosed, transmit.Error);
    }

    [Fact]
    public async Task ReceiveLoop_StrayStatusAfterMessages_EarlierMessagesDeliveredThenFault()
    {
        var connection = new RecordingConnection();
        RawPeer raw = await StartWithRawClientAsync(connection);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("one"u8.ToArray())));
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("two"u8.ToArray())));
        await Bounded(raw.WriteAsync(0xFF));

        await AssertFaultsAsync(connection.Completion, TinyProtoError.ProtocolViolation);
        Assert.Equal(["pre", "msg:one", "msg:two", "post"], connection.Log.Snapshot());
    }

    public enum Consumer
    {
        Hook,
        ReceiveAsync,
        ReceiveAsyncStream,
    }

    [Theory]
    [InlineData(Consumer.Hook)]
    [InlineData(Consumer.ReceiveAsync)]
    public async Task ReceiveLoop_PeerClosesMidHeader_NoMessageAndProtocolViolation(Consumer consumer)
    {
        TinyProtoConnection connection = consumer == Consumer.Hook ? new RecordingConnection() : new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(connection);
        Task<byte[]>? receive = consumer == Consumer.Hook ? null : connection.ReceiveAsync(TimeoutToken).AsTask();

        await Bounded(raw.WriteAsync(0x00, 0x07));
        await raw.CompleteOutputAsync();

        await AssertFaultsAsync(connection.Completion, TinyProtoError.ProtocolViolation);
        TinyProtoException ended = await Assert.ThrowsAsync<TinyProtoException>(() => connection.Completion);
        Assert.Equal("The peer closed the connection inside a size header, after 2 of 4 bytes (0007).", ended.Message);
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await AssertReceiveFailsClosedAsync(connection, consumer, receive);
    }

    [Theory]
    [InlineData(Consumer.Hook, 10)]
    [InlineData(Consumer.ReceiveAsync, 10)]
    [InlineData(Consumer.ReceiveAsyncStream, 10)]
    [InlineData(Consumer.Hook, 300_000)]
    [InlineData(Consumer.ReceiveAsync, 300_000)]
    [InlineData(Consumer.ReceiveAsyncStream, 300_000)]
    public async Task ReceiveLoop_PeerClosesMidPayload_NoPartialMessageAndProtocolViolation(Consumer consumer, int size)
    {
        TinyProtoConnection connection = consumer == Consumer.Hook ? new RecordingConnection() : new TinyProtoConnection();

        // 300,000 bytes is above this buffer limit, so that payload is streamed while it arrives.
        connection.Options.MaxBufferedMessageSize = 64 * 1024;
        RawPeer raw = await StartWithRawClientAsync(connection);
        Task<byte[]>? receive = consumer == Consumer.ReceiveAsync ? connection.ReceiveAsync(TimeoutToken).AsTask() : null;
        var sink = new MemoryStream();
        Task<long>? receiveStream = consumer == Consumer.ReceiveAsyncStream ? connection.ReceiveAsync(sink, TimeoutToken).AsTask() : null;

        await Bounded(raw.WriteAsync(RawPeer.Header((uint)size)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync(new byte[size / 2]));
        await raw.CompleteOutputAsync();

        await AssertFaultsAsync(connection.Completion, TinyProtoError.ProtocolViolation);
        if (receiveStream is not null)
        {
            var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(receiveStream));
            Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
            Assert.True(sink.Length < size);
        }
        else
        {
            await AssertReceiveFailsClosedAsync(connection, consumer, receive);
        }
    }

    [Fact]
    public async Task ReceiveLoop_PeerClosesBeforePayloadOfHeldHeader_NoMessage()
    {
        // The header is answered, then the peer leaves without a payload byte.
        var connection = new RecordingConnection();
        RawPeer raw = await StartWithRawClientAsync(connection);
        await Bounded(raw.WriteAsync(RawPeer.Header(5)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await raw.CompleteOutputAsync();

        await AssertFaultsAsync(connection.Completion, TinyProtoError.ProtocolViolation);
        Assert.Equal(["pre", "post"], connection.Log.Snapshot());
    }

    [Fact]
    public async Task ReceiveLoop_PeerClosesAtBoundary_QueuedMessageStillReceivableThenCompletes()
    {
        var connection = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(connection);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("kept"u8.ToArray())));
        await raw.CompleteOutputAsync();

        // With no hook and no ReceiveAsync, the receive loop waits for the inbox to drain before it reads on,
        // so the end of the stream is noticed only after the message is taken.
        Assert.Equal("kept"u8.ToArray(), await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        await Bounded(connection.Completion);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
    }

    [Fact]
    public async Task TransmitAsync_PeerAnswersHeaderWithUnknownByte_ThrowsMessageRefusedAndSendsNoPayload()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        Task transmit = client.TransmitAsync("secret"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(6), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFD)); // any status but 0xFF refuses (0x00 would read as a header, rule 4)
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);

        await raw.CompleteOutputAsync();
        byte[] rest = await Bounded(raw.ReadToEndAsync());
        Assert.Empty(rest);
    }

    private async Task AssertReceiveFailsClosedAsync(TinyProtoConnection connection, Consumer consumer, Task<byte[]>? pending)
    {
        if (consumer == Consumer.Hook)
        {
            Assert.Equal(["pre", "post"], ((RecordingConnection)connection).Log.Snapshot());
            Assert.Empty(((RecordingConnection)connection).Received);
            return;
        }

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(pending!));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        var again = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, again.Error);
    }
}
