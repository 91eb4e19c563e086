namespace TinyProto.Async.Tests;

public sealed class ReceiveTests : ConnectionTestBase
{
    [Fact]
    public async Task ReceiveAsync_HookNotOverridden_GetsEveryMessageInOrder()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task send = Task.Run(async () =>
        {
            for (int i = 0; i < 200; i++)
            {
                await client.TransmitAsync(new[] { (byte)i }, TimeoutToken);
            }
        });

        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(new[] { (byte)i }, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        }

        await Bounded(send);
    }

    [Fact]
    public async Task ReceiveAsync_MessageArrivedBeforeCall_IsQueuedForIt()
    {
        var server = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(server);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("early"u8.ToArray())));

        // Back-pressure: the next header is answered once the queued message has been taken.
        await Bounded(raw.WriteAsync(RawPeer.Header(4)));
        Assert.Equal("early"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync("late"u8.ToArray()));
        Assert.Equal("late"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task ReceiveAsync_PendingWhileHookOverridden_TakesMessageBeforeHook()
    {
        var server = new RecordingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);

        Task<byte[]> pending = server.ReceiveAsync(TimeoutToken).AsTask();
        await Bounded(client.TransmitAsync("to receive"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("to receive"u8.ToArray(), await Bounded(pending));

        await Bounded(client.TransmitAsync("to hook"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(server.Log.WaitForAsync("msg:to hook", TimeoutToken));
        Assert.Equal(["pre", "msg:to hook"], server.Log.Snapshot());
    }

    [Fact]
    public async Task ReceiveAsync_SeveralPending_EachGetsOneMessageInCallOrder()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task<byte[]>[] pending = [.. Enumerable.Range(0, 5).Select(_ => server.ReceiveAsync(TimeoutToken).AsTask())];
        for (int i = 0; i < 5; i++)
        {
            await Bounded(client.TransmitAsync(new[] { (byte)i }, TimeoutToken).AsTask());
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(new[] { (byte)i }, await Bounded(pending[i]));
        }
    }

    [Fact]
    public async Task ReceiveAsync_ConnectionClosedLocally_ThrowsConnectionClosed()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task<byte[]> pending = server.ReceiveAsync(TimeoutToken).AsTask();
        await Bounded(server.CloseAsync(TimeoutToken).AsTask());

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(pending));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        await Bounded(client.Completion);
        var clientEx = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, clientEx.Error);
    }

    /// <summary>
    /// A local close drops the messages nobody took: every receive called once the close began fails, in each form,
    /// also while the close still lets our own exchange finish. (It once handed out what was queued, after the close.)
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReceiveAsync_AfterALocalCloseBeganWithMessagesQueued_FailsWithConnectionClosed(bool ownExchangeInFlight)
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        await SendHiAndBangAsync(raw);

        Task? transmit = null;
        if (ownExchangeInFlight)
        {
            // Our header is out and unanswered: the close waits for that exchange, and receives fail meanwhile.
            transmit = client.TransmitAsync(new byte[3], TimeoutToken).AsTask();
            Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));
        }

        Task close = client.CloseAsync(TimeoutToken).AsTask();
        var array = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        var memory = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ReceiveAsync(new byte[8].AsMemory(), TimeoutToken).AsTask()));
        var stream = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ReceiveAsync(Stream.Null, TimeoutToken).AsTask()));
        foreach (TinyProtoException ex in new[] { array, memory, stream })
        {
            Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
            Assert.Contains("closed locally", ex.Message, StringComparison.Ordinal);
        }

        if (transmit is not null)
        {
            await Bounded(raw.WriteAsync(0xFF));
            Assert.Equal(3, (await Bounded(raw.ReadExactlyAsync(3))).Length);
            await Bounded(transmit);
        }

        await Bounded(close);
        await Bounded(client.Completion);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ReceiveAsync_StoppingWhileThePeerClosedWithMessagesQueued_StillHandsOutWhatWasAccepted(bool peerClosesFirst)
    {
        // A server's stop delivers what it accepted; the peer's close ends the hooks, yet that end of the stop is no
        // local close: the messages nobody took yet are still handed out.
        var client = new HooksEndObserved();
        RawPeer raw = await StartWithRawServerAsync(client);
        await SendHiAndBangAsync(raw);

        if (peerClosesFirst)
        {
            await Bounded(raw.CompleteOutputAsync());
            client.BeginStop();
        }
        else
        {
            client.BeginStop();
            await Bounded(raw.CompleteOutputAsync());
        }

        await Bounded(client.HooksEnded);
        Assert.Equal("hi"u8.ToArray(), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal("!"u8.ToArray(), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        await raw.DisposeAsync();
        await Bounded(client.Completion);
    }

    [Fact]
    public async Task ReceiveAsync_NotStarted_ThrowsInvalidOperation()
    {
        var connection = new TinyProtoConnection();
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.ReceiveAsync(TimeoutToken).AsTask());
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.TransmitAsync("x"u8.ToArray(), TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ReceiveAsyncIntoMemory_MessageArrivesWhileWaiting_CopiedAndLengthReturned()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        byte[] buffer = new byte[16];

        Task<int> pending = server.ReceiveAsync(buffer.AsMemory(), TimeoutToken).AsTask();
        await Bounded(client.TransmitAsync("hello"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal(5, await Bounded(pending));
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);
    }

    [Fact]
    public async Task ReceiveAsyncIntoMemory_MessageAlreadyQueued_CopiedAtOnce()
    {
        var server = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(server);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("early"u8.ToArray())));
        byte[] buffer = new byte[5];

        Assert.Equal(5, await Bounded(server.ReceiveAsync(buffer.AsMemory(), TimeoutToken).AsTask()));
        Assert.Equal("early"u8.ToArray(), buffer);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReceiveAsyncIntoMemory_MessageLongerThanDestination_ThrowsAndMessageStaysForNextCall(bool waiting)
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        byte[] small = new byte[3];
        Task<int> tooSmall = waiting ? server.ReceiveAsync(small.AsMemory(), TimeoutToken).AsTask() : Task.FromResult(0);

        await Bounded(client.TransmitAsync("four"u8.ToArray(), TimeoutToken).AsTask());
        if (!waiting)
        {
            tooSmall = server.ReceiveAsync(small.AsMemory(), TimeoutToken).AsTask();
        }

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(tooSmall));
        Assert.Equal(TinyProtoError.MessageTooLarge, ex.Error);
        Assert.Contains("4 bytes", ex.Message, StringComparison.Ordinal);
        byte[] big = new byte[4];
        Assert.Equal(4, await Bounded(server.ReceiveAsync(big.AsMemory(), TimeoutToken).AsTask()));
        Assert.Equal("four"u8.ToArray(), big);
    }

    [Fact]
    public async Task ReceiveAsyncIntoMemory_Cancelled_ThrowsAndNextCallGetsTheMessage()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        using var cancel = new CancellationTokenSource();
        byte[] buffer = new byte[8];

        Task<int> cancelled = server.ReceiveAsync(buffer.AsMemory(), cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(cancelled));
        await Bounded(client.TransmitAsync("kept"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal(4, await Bounded(server.ReceiveAsync(buffer.AsMemory(), TimeoutToken).AsTask()));
        Assert.Equal("kept"u8.ToArray(), buffer[..4]);
    }

    [Fact]
    public async Task ReceiveAsyncIntoMemory_ManyMessagesReusingOneBuffer_EachIntactInOrder()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task send = Task.Run(async () =>
        {
            for (int i = 0; i < 500; i++)
            {
                await client.TransmitAsync(RandomBytes(i % 97, i), TimeoutToken);
            }
        });

        byte[] buffer = new byte[100];
        for (int i = 0; i < 500; i++)
        {
            int length = await Bounded(server.ReceiveAsync(buffer.AsMemory(), TimeoutToken).AsTask());
            Assert.Equal(RandomBytes(i % 97, i), buffer[..length]);
        }

        await Bounded(send);
    }

    [Fact]
    public async Task ReceiveAsyncIntoMemory_ConnectionClosedLocally_ThrowsConnectionClosed()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task<int> pending = server.ReceiveAsync(new byte[4].AsMemory(), TimeoutToken).AsTask();

        await Bounded(server.CloseAsync(TimeoutToken).AsTask());
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(pending));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
    }

    /// <summary>
    /// Sends "hi" and "!" as the peer, reading the OK to each header; the second header is answered only once the first
    /// message was read whole and queued.
    /// </summary>
    private async Task SendHiAndBangAsync(RawPeer raw)
    {
        await Bounded(raw.WriteAsync(RawPeer.Header(2)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync([(byte)'h', (byte)'i', .. RawPeer.Header(1)]));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync((byte)'!'));
    }

    /// <summary>A connection that says when its hooks have ended (its <c>PostLoopAsync</c> ran).</summary>
    private sealed class HooksEndObserved : TinyProtoConnection
    {
        private readonly TaskCompletionSource _hooksEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task HooksEnded => _hooksEnded.Task;

        protected override ValueTask PostLoopAsync(CancellationToken cancellationToken)
        {
            _hooksEnded.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }
}
