using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// How a transmission ends when it does not succeed: status timeout, refusal, cancellation. Each must end the
/// exchange so that transmissions queued behind it are released, never left waiting. Time passes on a fake clock.
/// </summary>
public sealed class TransmitFailureTests : ConnectionTestBase
{
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task TransmitAsync_SourceFailsOneByteShortWhileAnAnswerIsQueued_TheAnswerNeverFollowsThePartialPayload()
    {
        // The peer's header arrives while our payload is being written, so its OK waits behind our payload. If that
        // payload then ends one byte short, the OK must not go out: the peer would take it as the missing last byte.
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        var fail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var source = new FailingStream(99, () => new IOException("the source broke"), fail.Task);
        Task transmit = client.TransmitAsync(source, 100, TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(100), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        await Task.Delay(50, TimeoutToken);
        await Bounded(raw.WriteAsync(RawPeer.Header(5)));
        await Task.Delay(100, TimeoutToken);
        fail.SetResult();

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        byte[] rest = await Bounded(raw.ReadToEndAsync());
        Assert.Equal(99, rest.Length);
        Assert.All(rest, b => Assert.Equal(0x41, b));
    }

    [Fact]
    public async Task TransmitAsync_LockStepNoStatusWithinTimeout_ThrowsTimeoutAndQueuedTransmitFailsToo()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client);

        Task first = client.TransmitAsync("one"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));
        Task queued = client.TransmitAsync("two"u8.ToArray(), TimeoutToken).AsTask();
        time.Advance(ShortTimeout - TimeSpan.FromMilliseconds(1));
        Assert.False(first.IsCompleted, "timed out before the Timeout");
        time.Advance(TimeSpan.FromMilliseconds(1));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(first));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
        Assert.Contains("3-byte message", ex.Message, StringComparison.Ordinal);
        var queuedError = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(queued));
        Assert.Equal(TinyProtoError.ConnectionClosed, queuedError.Error);
        var failure = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.Completion));
        Assert.Equal(TinyProtoError.Timeout, failure.Error);
    }

    [Fact]
    public async Task TransmitAsync_PipelinedNoStatusWithinTimeout_ThrowsTimeout()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        client.Options.RequestPipelining = true;
        RawPeer raw = await StartWithRawServerAsync(client);

        Task transmit = client.TransmitAsync("one"u8.ToArray(), TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(7));
        time.Advance(ShortTimeout);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
    }

    [Fact]
    public async Task TransmitManyAsync_StatusesStopHalfway_ThrowsTimeoutNamingTheBatch()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        client.Options.RequestPipelining = true;
        RawPeer raw = await StartWithRawServerAsync(client);

        ReadOnlyMemory<byte>[] batch = ["a"u8.ToArray(), "b"u8.ToArray(), "c"u8.ToArray()];
        Task transmit = client.TransmitManyAsync(batch, TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(3 * 5));
        await Bounded(raw.WriteAsync(0xFF));
        await AdvanceUntilAsync(time, transmit, ShortTimeout / 5);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
        Assert.Contains("batch of 3", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TransmitAsync_StatusesKeepComingWithinTimeout_NoTimeoutEvenIfTheWholeRunIsLonger()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, TimeSpan.FromSeconds(1));
        RawPeer raw = await StartWithRawServerAsync(client);

        // Eight exchanges spread over more than the timeout: each answered within it.
        for (int i = 0; i < 8; i++)
        {
            Task transmit = client.TransmitAsync(new[] { (byte)i }, TimeoutToken).AsTask();
            await Bounded(raw.ReadExactlyAsync(4));
            time.Advance(TimeSpan.FromMilliseconds(900));
            await Bounded(raw.WriteAsync(0xFF));
            Assert.Equal(new[] { (byte)i }, await Bounded(raw.ReadExactlyAsync(1)));
            await Bounded(transmit);
        }
    }

    [Fact]
    public async Task TransmitAsync_ServerHoldsItsAnswerWhileItsOwnPayloadTricklesPastTheTimeout_NoTimeout()
    {
        // Both ends transmit at once. By rule 5 the server answers our header only after its own payload is out,
        // and on a slow link that payload takes longer than Timeout: the bytes coming in show the peer is alive.
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, TimeSpan.FromSeconds(1));
        RawPeer raw = await StartWithRawServerAsync(client);

        Task transmit = client.TransmitAsync("ten bytes!"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(10), await Bounded(raw.ReadExactlyAsync(4)));
        const int size = 24 * 5_000;
        await Bounded(raw.WriteAsync(RawPeer.Header(size)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        for (int i = 0; i < 24; i++)
        {
            // 24 x 125 ms: three times the timeout in all, never a gap near it.
            await Bounded(raw.WriteAsync(new byte[5_000]));
            await WaitUntilAsync(() => client.PayloadBytesMoved == (i + 1) * 5_000L);
            time.Advance(TimeSpan.FromMilliseconds(125));
        }

        Assert.False(transmit.IsCompleted, transmit.Exception?.Message);
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("ten bytes!"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(10)));
        await Bounded(transmit);
        Assert.Equal(size, (await Bounded(client.ReceiveAsync(TimeoutToken).AsTask())).Length);
    }

    [Fact]
    public async Task TransmitAsync_ServerHoldsItsAnswerAndItsPayloadStalls_TimesOut()
    {
        // The other side of the rule above: a held answer with no payload bytes coming is a dead peer.
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client);

        Task transmit = client.TransmitAsync("ten bytes!"u8.ToArray(), TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(4));
        await Bounded(raw.WriteAsync(RawPeer.Header(100_000)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync(new byte[5_000]));
        await WaitUntilAsync(() => client.PayloadBytesMoved == 5_000);
        TimeSpan waited = await AdvanceUntilAsync(time, transmit, ShortTimeout / 5);
        Assert.True(waited <= ShortTimeout * 2, $"timed out only after {waited} of fake time");

        // The status wait or the wait for the rest of the peer's payload, whichever looks first, ends it as a timeout.
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.True(ex.Error == TinyProtoError.Timeout || ex.InnerException is TinyProtoException { Error: TinyProtoError.Timeout }, ex.ToString());
    }

    [Fact]
    public async Task TransmitAsync_PeerRefusesAndStaysOpen_NextTransmitGoesThrough()
    {
        // A refusal ends only that exchange: a peer that keeps the connection open gets the next message.
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);

        Task refused = client.TransmitAsync("no"u8.ToArray(), TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(4));
        await Bounded(raw.WriteAsync(0xFD));
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(refused));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);

        Task accepted = client.TransmitAsync("yes"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("yes"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(3)));
        await Bounded(accepted);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task TransmitManyAsync_LockStepPeerDeclinesOne_ThrowsNamingItAndTheRestAreNeverSent(int declined)
    {
        // As in pipelined mode, the caller learns which message failed and that the ones before it were accepted; only
        // a batch declined at its first message may be sent again elsewhere without the risk of a duplicate.
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        Task batch = client.TransmitManyAsync(["a"u8.ToArray(), "bb"u8.ToArray(), "ccc"u8.ToArray()], TimeoutToken).AsTask();
        for (int i = 0; i < declined; i++)
        {
            Assert.Equal(i + 1, (await Bounded(raw.ReceiveMessageAsync())).Length);
        }

        Assert.Equal(RawPeer.Header((uint)declined + 1), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFD));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(batch));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
        Assert.Contains($"Message {declined} of a batch of 3", ex.Message, StringComparison.Ordinal);
        Assert.Contains("0xFD", ex.Message, StringComparison.Ordinal);
        Assert.Equal(declined == 0, ex.NothingDelivered);

        // Nothing of the declined message, nor of those after it, was sent.
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
    }

    [Fact]
    public async Task TransmitAsync_CancelledAfterHeaderWithAnotherQueued_QueuedOneFailsInsteadOfWaiting()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);

        Task first = client.TransmitAsync("first"u8.ToArray(), cancel.Token).AsTask();
        await Bounded(raw.ReadExactlyAsync(4));
        Task queued = client.TransmitAsync("queued"u8.ToArray(), TimeoutToken).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(first));
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(queued));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TransmitAsync_SourceStreamThrowsCancellationMidPayload_ClosesTheConnectionSoNothingFollowsTheHalfPayload(bool pipelined)
    {
        // The header announced 100 bytes and 50 went out: whatever follows would be read as the other 50, so the
        // connection must close, even though the stream's exception is a cancellation.
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = pipelined;
        RawPeer raw = await StartWithRawServerAsync(client);

        var source = new FailingStream(50, () => new TaskCanceledException("the source gave up"));
        Task transmit = client.TransmitAsync(source, 100, TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(100), await Bounded(raw.ReadExactlyAsync(4)));
        if (!pipelined)
        {
            await Bounded(raw.WriteAsync(0xFF));
        }

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.IsType<TaskCanceledException>(ex.InnerException);
        Assert.Contains("after 50 of the announced 100 bytes", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.Completion));
        await Assert.ThrowsAsync<TinyProtoException>(() => client.TransmitAsync("next"u8.ToArray(), TimeoutToken).AsTask());

        // The peer sees at most the 50 bytes, then the end: never a following header taken as payload.
        byte[] rest = await Bounded(raw.ReadToEndAsync());
        Assert.True(rest.Length <= 50, $"{rest.Length} bytes followed the header");
        Assert.All(rest, b => Assert.Equal(0x41, b));
    }
}
