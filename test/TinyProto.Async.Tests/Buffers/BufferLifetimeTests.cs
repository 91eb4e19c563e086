using System.IO.Pipelines;

namespace TinyProto.Async.Tests.Buffers;

/// <summary>
/// Every buffer a connection rents goes back exactly once and is not used after: in-memory connection pairs whose
/// pipes rent from a <see cref="TestMemoryPool"/> and whose message bodies rent from a <see cref="TestArrayPool"/>,
/// both checked once both connections have ended. Each test also checks the pools were used, so a broken injection
/// cannot pass for a clean run.
/// </summary>
public sealed class BufferLifetimeTests : ConnectionTestBase
{
    private const int Large = 3 * 1024 * 1024;

    /// <summary>Empty, small, above the pipes' block size, and above <c>PooledBuffer.ChunkSize</c> (several chunks).</summary>
    private static readonly int[] SizeList = [0, 64, 100 * 1024, Large];

    private readonly TestArrayPool _arrays = new();
    private readonly TestMemoryPool _blocks = new();

    public static TheoryData<int> Sizes => new(SizeList);

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task TransmitAsync_LockStepEchoRoundTrips_EveryBufferReturnedUntouched(int size)
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new EchoConnection());
        await StartPairAsync(client, server, pool: _blocks);

        byte[] echo = new byte[size];
        for (int i = 0; i < 3; i++)
        {
            byte[] message = RandomBytes(size, seed: i);
            await Bounded(client.TransmitAsync(message, TimeoutToken).AsTask());
            Assert.Equal(size, await Bounded(client.ReceiveAsync(echo.AsMemory(), TimeoutToken).AsTask()));
            AssertSameBytes(message, echo);
        }

        await CloseAndAssertCleanAsync([client, server], arraysUsed: size > 0);
    }

    [Fact]
    public async Task TransmitAsync_PipelinedEchoOfManyAtOnce_EveryBufferReturnedUntouched()
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        client.Options.RequestPipelining = true;
        TinyProtoConnection server = Pooled(new EchoConnection());
        await StartPairAsync(client, server, pool: _blocks);
        Assert.True(client.IsPipelined);

        // Distinct sizes, so the echoes can be matched to the messages whatever order the transmissions took.
        byte[][] messages = [.. new[] { 64, 0, 100 * 1024, 1, Large, 4096, 65 }.Select((size, i) => RandomBytes(size, seed: i))];
        Task<byte[][]> echoes = ReceiveManyAsync(client, messages.Length);
        await Bounded(Task.WhenAll(messages.Select(message => client.TransmitAsync(message, TimeoutToken).AsTask())));

        byte[][] received = await Bounded(echoes);
        Assert.Equal(messages.Select(m => m.Length).Order(), received.Select(m => m.Length).Order());
        Assert.All(received, echo => AssertSameBytes(messages.Single(m => m.Length == echo.Length), echo));
        await CloseAndAssertCleanAsync([client, server]);
    }

    [Fact]
    public async Task ReceiveAsync_WaitingAndFromInbox_EveryBufferReturnedUntouched()
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new TinyProtoConnection());
        await StartPairAsync(client, server, pool: _blocks);

        // Each size twice: into a call that waits, and from the inbox into a later call.
        for (int i = 0; i < SizeList.Length * 2; i++)
        {
            byte[] message = RandomBytes(SizeList[i / 2], seed: i);
            byte[] received = i % 2 == 0
                ? await TransmitWhileWaitingAsync(client, message, server.ReceiveAsync(TimeoutToken).AsTask())
                : await TransmitThenAsync(client, message, () => server.ReceiveAsync(TimeoutToken).AsTask());
            AssertSameBytes(message, received);
        }

        await CloseAndAssertCleanAsync([client, server]);
    }

    [Fact]
    public async Task ReceiveAsyncMemory_WaitingFromInboxAndRefused_EveryBufferReturnedUntouched()
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new TinyProtoConnection());
        await StartPairAsync(client, server, pool: _blocks);

        byte[] destination = new byte[Large];
        for (int i = 0; i < SizeList.Length * 2; i++)
        {
            byte[] message = RandomBytes(SizeList[i / 2], seed: i);
            int length = i % 2 == 0
                ? await TransmitWhileWaitingAsync(client, message, server.ReceiveAsync(destination.AsMemory(), TimeoutToken).AsTask())
                : await TransmitThenAsync(client, message, () => server.ReceiveAsync(destination.AsMemory(), TimeoutToken).AsTask());
            AssertSameBytes(message, destination.AsSpan(0, length));
        }

        // A destination too small for the message refuses it, which stays for the next call.
        byte[] big = RandomBytes(100 * 1024, seed: 99);
        await Bounded(client.TransmitAsync(big, TimeoutToken).AsTask());
        var refused = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(server.ReceiveAsync(new byte[64].AsMemory(), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageTooLarge, refused.Error);
        Assert.Equal(big.Length, await Bounded(server.ReceiveAsync(destination.AsMemory(), TimeoutToken).AsTask()));
        AssertSameBytes(big, destination.AsSpan(0, big.Length));

        await CloseAndAssertCleanAsync([client, server]);
    }

    [Fact]
    public async Task ReceiveAsyncStream_BufferedAndStreamed_EveryBufferReturnedUntouched()
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new TinyProtoConnection());
        server.Options.MaxBufferedMessageSize = 64 * 1024;
        await StartPairAsync(client, server, pool: _blocks);

        // Buffered, and streamed; from the inbox only what fits the stream's pipe, since the rest is read off the wire
        // only once a call has taken the message.
        (int Size, bool Waiting)[] cases = [(0, true), (0, false), (60 * 1024, true), (60 * 1024, false), (100 * 1024, true), (100 * 1024, false), (Large, true)];
        foreach ((int size, bool waiting) in cases)
        {
            byte[] message = RandomBytes(size, seed: size);
            using var destination = new MemoryStream();
            long length = waiting
                ? await TransmitWhileWaitingAsync(client, message, server.ReceiveAsync(destination, TimeoutToken).AsTask())
                : await TransmitThenAsync(client, message, () => server.ReceiveAsync(destination, TimeoutToken).AsTask());
            Assert.Equal(message.Length, length);
            AssertSameBytes(message, destination.ToArray());
        }

        await CloseAndAssertCleanAsync([client, server]);
    }

    [Fact]
    public async Task TransmissionStreamReceivedAsync_DefaultBuffersAboveMaxBufferedMessageSize_EveryBufferReturnedUntouched()
    {
        // The default stream hook buffers the message with the connection's pool and passes it to the echo hook.
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new EchoConnection());
        server.Options.MaxBufferedMessageSize = 1024;
        await StartPairAsync(client, server, pool: _blocks);

        foreach (int size in new[] { 64, 100 * 1024, Large })
        {
            byte[] message = RandomBytes(size, seed: size);
            await Bounded(client.TransmitAsync(message, TimeoutToken).AsTask());
            AssertSameBytes(message, await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        }

        await CloseAndAssertCleanAsync([client, server]);
    }

    [Fact]
    public async Task ReceiveAsync_CancelledWhileWaitingAndDuringCopy_EveryBufferReturnedUntouched()
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new TinyProtoConnection());
        server.Options.MaxBufferedMessageSize = 64 * 1024;
        await StartPairAsync(client, server, pool: _blocks);

        // Cancelled while waiting: the next message goes to a later call.
        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken))
        {
            Task<int> intoMemory = server.ReceiveAsync(new byte[64].AsMemory(), cancel.Token).AsTask();
            Task<byte[]> intoArray = server.ReceiveAsync(cancel.Token).AsTask();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(intoMemory));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(intoArray));
        }

        byte[] kept = RandomBytes(1000, seed: 1);
        await Bounded(client.TransmitAsync(kept, TimeoutToken).AsTask());
        Assert.Equal(kept, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));

        // Cancelled in the middle of the copy, for a buffered and a streamed message: each is lost, the next one is not.
        foreach (int size in new[] { 60 * 1024, Large })
        {
            Task transmit = client.TransmitAsync(RandomBytes(size, seed: size), TimeoutToken).AsTask();
            await ReceiveIntoStalledStreamThenCancelAsync(server);
            await Bounded(transmit);

            byte[] after = RandomBytes(100, seed: size + 1);
            await Bounded(client.TransmitAsync(after, TimeoutToken).AsTask());
            Assert.Equal(after, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        }

        await CloseAndAssertCleanAsync([client, server]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PeerClosesMidPayload_BufferedOrStreamedToHook_EveryBufferReturnedUntouched(bool streamed)
    {
        TinyProtoConnection server = Pooled(new EchoConnection());
        server.Options.MaxBufferedMessageSize = streamed ? 1024 : Large;
        await using (RawPeer raw = await StartWithRawClientAsync(server, pool: _blocks))
        {
            byte[] whole = RandomBytes(10, seed: 1);
            Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(whole)));
            Assert.Equal(whole, await Bounded(raw.ReceiveMessageAsync()));

            await Bounded(raw.WriteAsync(RawPeer.Header(Large)));
            Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
            await Bounded(raw.WriteAsync(RandomBytes(Large / 2, seed: 2)));
            await Bounded(raw.CompleteOutputAsync());

            await AssertFaultsAsync(server.Completion, TinyProtoError.ProtocolViolation);
        }

        await CloseAndAssertCleanAsync([server]);
    }

    [Fact]
    public async Task SizeAboveMaxMessageSize_ClosesWithAMessageInTheInbox_EveryBufferReturnedOnceItIsTaken()
    {
        TinyProtoConnection client = Pooled(new TinyProtoConnection());
        TinyProtoConnection server = Pooled(new TinyProtoConnection());
        server.Options.MaxMessageSize = 200 * 1024;
        await StartPairAsync(client, server, pool: _blocks);

        byte[] taken = RandomBytes(100 * 1024, seed: 1);
        await Bounded(client.TransmitAsync(taken, TimeoutToken).AsTask());
        AssertSameBytes(taken, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        byte[] untaken = RandomBytes(100 * 1024, seed: 2);
        await Bounded(client.TransmitAsync(untaken, TimeoutToken).AsTask());

        var refused = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.TransmitAsync(new byte[300 * 1024], TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageRefused, refused.Error);
        await AssertFaultsAsync(server.Completion, TinyProtoError.MessageTooLarge);

        // A message received before the error can still be taken after the close; only then is its buffer returned.
        AssertSameBytes(untaken, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        await CloseAndAssertCleanAsync([client, server]);
    }

    [Fact]
    public void OptionsClone_BufferPoolSet_CopiesIt()
    {
        // Servers and clients give each connection a clone of their options, so the pool must survive the copy.
        var options = new TinyProtoConnectionOptions();
        Assert.Same(System.Buffers.ArrayPool<byte>.Shared, options.BufferPool);
        options.BufferPool = _arrays;

        Assert.Same(_arrays, options.Clone().BufferPool);
    }

    /// <summary>Compares bytes as one span: far faster than a generic collection comparison for messages of megabytes.</summary>
    private static void AssertSameBytes(byte[] expected, ReadOnlySpan<byte> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int same = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(same == expected.Length, $"the {expected.Length} bytes differ from index {same} on (a poison byte is 0x{TestArrayPool.Poison:X2} or 0x{TestMemoryPool.Poison:X2})");
    }

    /// <summary>Gives the connection this test's array pool.</summary>
    private TinyProtoConnection Pooled(TinyProtoConnection connection)
    {
        connection.Options.BufferPool = _arrays;
        return connection;
    }

    /// <summary>Closes the connections, waits until each has ended, however it ended, then checks both pools.</summary>
    private async Task CloseAndAssertCleanAsync(TinyProtoConnection[] connections, bool arraysUsed = true)
    {
        foreach (TinyProtoConnection connection in connections)
        {
            await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
            try
            {
                await Bounded(connection.Completion);
            }
            catch (TinyProtoException)
            {
                // Tests that make a connection fail check how it failed themselves.
            }
        }

        _arrays.AssertClean();
        _blocks.AssertClean();
        Assert.True(_blocks.RentCount > 0, "the pipes did not use the test memory pool");
        Assert.True(!arraysUsed || _arrays.RentCount > 0, "the connections did not use the test array pool");
    }

    private async Task<T> TransmitWhileWaitingAsync<T>(TinyProtoConnection sender, byte[] message, Task<T> receive)
    {
        Assert.False(receive.IsCompleted);
        await Bounded(sender.TransmitAsync(message, TimeoutToken).AsTask());
        return await Bounded(receive);
    }

    private async Task<T> TransmitThenAsync<T>(TinyProtoConnection sender, byte[] message, Func<Task<T>> receive)
    {
        await Bounded(sender.TransmitAsync(message, TimeoutToken).AsTask());
        return await Bounded(receive());
    }

    private async Task<byte[][]> ReceiveManyAsync(TinyProtoConnection connection, int count)
    {
        byte[][] received = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            received[i] = await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());
        }

        return received;
    }

    /// <summary>
    /// Receives the next message into a pipe nobody reads, so the copy stalls once the pipe is full, then cancels
    /// the copy there: the call fails and the message is lost.
    /// </summary>
    private async Task ReceiveIntoStalledStreamThenCancelAsync(TinyProtoConnection connection)
    {
        var stalled = new Pipe(new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512, useSynchronizationContext: false));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        using Stream destination = stalled.Writer.AsStream();
        Task<long> copy = connection.ReceiveAsync(destination, cancel.Token).AsTask();

        ReadResult first = await stalled.Reader.ReadAsync(TimeoutToken);
        stalled.Reader.AdvanceTo(first.Buffer.Start, first.Buffer.End);
        Assert.False(copy.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(copy));
        await stalled.Reader.CompleteAsync();
    }
}
