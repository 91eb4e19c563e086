namespace TinyProto.Async.Tests;

public sealed class CancellationTests : ConnectionTestBase
{
    [Fact]
    public async Task ReceiveAsync_CancelledWhilePending_ThrowsAndNextMessageGoesToLaterCall()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task<byte[]> pending = server.ReceiveAsync(cancel.Token).AsTask();
        Assert.False(pending.IsCompleted);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(pending));

        await Bounded(client.TransmitAsync("not lost"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("not lost"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.False(server.Completion.IsCompleted);
    }

    [Fact]
    public async Task ReceiveAsync_CancelledPollsIntoBuffers_KeepNoBufferAliveAndTheNextMessageIsReceived()
    {
        // A caller polling with short-lived tokens on a quiet connection: each cancelled call must let go of its
        // buffer at once, not when the next message finally comes.
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);

        WeakReference[] buffers = await PollAndCancelAsync(server, 50);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.All(buffers, buffer => Assert.False(buffer.IsAlive, "a cancelled ReceiveAsync still holds its buffer"));

        await Bounded(client.TransmitAsync("after the polls"u8.ToArray(), TimeoutToken).AsTask());
        byte[] destination = new byte[64];
        int length = await Bounded(server.ReceiveAsync(destination.AsMemory(), TimeoutToken).AsTask());
        Assert.Equal("after the polls"u8.ToArray(), destination[..length]);
    }

    /// <summary>Starts <paramref name="count"/> receives into new buffers, cancels each, and returns weak references to the buffers.</summary>
    private async Task<WeakReference[]> PollAndCancelAsync(TinyProtoConnection connection, int count)
    {
        var buffers = new WeakReference[count];
        for (int i = 0; i < count; i++)
        {
            byte[] buffer = new byte[4096];
            buffers[i] = new WeakReference(buffer);
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
            Task<int> poll = connection.ReceiveAsync(buffer.AsMemory(), cancel.Token).AsTask();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(poll));
        }

        return buffers;
    }

    [Fact]
    public async Task ReceiveAsync_AlreadyCancelledToken_DoesNotTakeQueuedMessage()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(server.ReceiveAsync(cancelled.Token).AsTask()));
        await Bounded(client.TransmitAsync("first"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("first"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task TransmitAsync_CancelledWhileWaitingForTurnLockStep_ThrowsAndConnectionKeepsWorking()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);

        // First message: its header is out, and the raw server holds the status back.
        Task first = client.TransmitAsync("first"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));

        // Second message waits for its turn; cancel it there.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task second = client.TransmitAsync("second!"u8.ToArray(), cancel.Token).AsTask();
        Assert.False(second.IsCompleted);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(second));

        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("first"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(5)));
        await Bounded(first);

        // The cancelled message never reached the wire; the next one follows the first directly.
        Task third = client.TransmitAsync("third"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("third"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(5)));
        await Bounded(third);
        Assert.False(client.Completion.IsCompleted);

        // And receiving still works.
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("down"u8.ToArray())));
        Assert.Equal("down"u8.ToArray(), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task TransmitAsync_CancelledWhileWaitingForOutputPipelined_ThrowsAndConnectionKeepsWorking()
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;

        // A small pipe: the big first message fills it and holds the output until the raw peer reads.
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);
        Assert.True(client.IsPipelined);
        byte[] big = GeneratedStream.Bytes(2 * 1024 * 1024);
        Task first = client.TransmitAsync(big, TimeoutToken).AsTask();

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task second = client.TransmitAsync("second!"u8.ToArray(), cancel.Token).AsTask();
        Assert.False(second.IsCompleted);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(second));

        Assert.Equal(RawPeer.Header((uint)big.Length), await Bounded(raw.ReadExactlyAsync(4)));
        Assert.Equal(big, await Bounded(raw.ReadExactlyAsync(big.Length)));
        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(first);

        Task third = client.TransmitAsync("third"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));
        Assert.Equal("third"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(5)));
        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(third);
        Assert.False(client.Completion.IsCompleted);
    }

    [Fact]
    public async Task TransmitAsync_CancelledAfterHeaderSent_ClosesConnection()
    {
        // Documented: once the header is on the wire, cancelling cannot take it back, so the connection closes.
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task transmit = client.TransmitAsync("stuck"u8.ToArray(), cancel.Token).AsTask();
        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(transmit));
        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.Completion));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
    }
}
