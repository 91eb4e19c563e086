namespace TinyProto.Async.Tests;

public sealed class StreamingTests : ConnectionTestBase
{
    [Fact]
    public async Task ReceiveAsyncStream_FiftyMiBAboveBufferLimit_ContentMatchesByHash()
    {
        const long length = 50L * 1024 * 1024;
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        server.Options.MaxBufferedMessageSize = 64 * 1024;
        await StartPairAsync(client, server);

        using var source = new GeneratedStream(length);
        using var destination = new HashingStream();
        Task<long> receive = server.ReceiveAsync(destination, TimeoutToken).AsTask();
        await Bounded(client.TransmitAsync(source, length, TimeoutToken).AsTask());

        Assert.Equal(length, await Bounded(receive));
        Assert.Equal(length, destination.Length);
        Assert.Equal(source.Hash(), destination.Hash());

        // The connection goes on with ordinary messages afterwards.
        await Bounded(client.TransmitAsync("after"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("after"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task TransmissionStreamReceivedAsync_Overridden_GetsStreamWithLengthAndContent()
    {
        const long length = 3L * 1024 * 1024 + 17;
        var client = new TinyProtoConnection();
        var server = new StreamHookConnection();
        server.Options.MaxBufferedMessageSize = 64 * 1024;
        await StartPairAsync(client, server);

        using var source = new GeneratedStream(length);
        await Bounded(client.TransmitAsync(source, length, TimeoutToken).AsTask());
        (long reported, long read, byte[] hash) = await Bounded(server.Received.Task);
        Assert.Equal(length, reported);
        Assert.Equal(length, read);
        Assert.Equal(source.Hash(), hash);
    }

    [Fact]
    public async Task TransmitAsyncStream_SourceEndsEarly_ThrowsConnectionClosedAndReceiverGetsNoMessage()
    {
        var client = new TinyProtoConnection();
        var server = new RecordingConnection();
        await StartPairAsync(client, server);

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.TransmitAsync(new MemoryStream(new byte[10]), 20, TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(server.Completion));
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task ReceiveAsyncStream_SmallBufferedMessage_WrittenWhole()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        byte[] payload = RandomBytes(1000, 3);
        await Bounded(client.TransmitAsync(payload, TimeoutToken).AsTask());
        var destination = new MemoryStream();
        Assert.Equal(1000, await Bounded(server.ReceiveAsync(destination, TimeoutToken).AsTask()));
        Assert.Equal(payload, destination.ToArray());
    }

    private sealed class StreamHookConnection : TinyProtoConnection
    {
        public TaskCompletionSource<(long Reported, long Read, byte[] Hash)> Received { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async ValueTask TransmissionStreamReceivedAsync(Stream message, CancellationToken cancellationToken)
        {
            using var hash = new HashingStream();
            await message.CopyToAsync(hash, cancellationToken);
            Received.TrySetResult((message.Length, hash.Length, hash.Hash()));
        }
    }
}
