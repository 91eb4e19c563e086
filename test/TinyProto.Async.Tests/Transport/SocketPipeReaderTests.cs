using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Tests.Transport;

/// <summary>The socket reader's <see cref="PipeReader"/> contract, over a real loopback connection.</summary>
public sealed class SocketPipeReaderTests : TestBase, IAsyncLifetime
{
    private Socket _peer = null!;
    private Socket _accepted = null!;
    private SocketPipeReader _reader = null!;

    public async Task InitializeAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task connect = _peer.ConnectAsync(listener.LocalEndPoint!, TimeoutToken).AsTask();
        _accepted = await Bounded(listener.AcceptAsync(TimeoutToken).AsTask());
        await Bounded(connect);
        _reader = new SocketPipeReader(new NetworkStream(_accepted, ownsSocket: true));
    }

    public Task DisposeAsync()
    {
        _reader.Complete();
        _peer.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task ReadAsync_EverythingExaminedButNothingConsumed_NextReadReturnsOldAndNewBytesTogether()
    {
        await SendAsync("ab"u8.ToArray());
        ReadResult first = await ReadAtLeastAsync(2);
        _reader.AdvanceTo(first.Buffer.Start, first.Buffer.End);

        await SendAsync("cd"u8.ToArray());
        ReadResult second = await Bounded(_reader.ReadAsync().AsTask());

        Assert.Equal("abcd"u8.ToArray(), second.Buffer.ToArray());
        Assert.False(second.IsCompleted);
    }

    [Fact]
    public async Task ReadAsync_LastAdvanceExaminedLessThanAll_ReturnsAtOnceWithTheUnconsumedBytes()
    {
        await SendAsync("abcd"u8.ToArray());
        ReadResult first = await ReadAtLeastAsync(4);
        _reader.AdvanceTo(first.Buffer.GetPosition(1), first.Buffer.GetPosition(2));

        ValueTask<ReadResult> second = _reader.ReadAsync();

        Assert.True(second.IsCompleted);
        Assert.Equal("bcd"u8.ToArray(), (await second).Buffer.ToArray());
    }

    [Fact]
    public async Task ReadAsync_WaitingAfterEverythingWasConsumed_HoldsNoBuffer()
    {
        await SendAsync("abc"u8.ToArray());
        ReadResult first = await ReadAtLeastAsync(3);
        Assert.True(_reader.HoldsBuffer);
        _reader.AdvanceTo(first.Buffer.End);

        ValueTask<ReadResult> waiting = _reader.ReadAsync();

        Assert.False(waiting.IsCompleted);
        Assert.False(_reader.HoldsBuffer);
        await SendAsync("d"u8.ToArray());
        Assert.Equal("d"u8.ToArray(), (await Bounded(waiting.AsTask())).Buffer.ToArray());
    }

    [Fact]
    public async Task CancelPendingRead_WhileWaiting_ReadReturnsCanceledAndLaterBytesAreStillRead()
    {
        ValueTask<ReadResult> waiting = _reader.ReadAsync();

        _reader.CancelPendingRead();

        ReadResult cancelled = await Bounded(waiting.AsTask());
        Assert.True(cancelled.IsCanceled);
        _reader.AdvanceTo(cancelled.Buffer.Start);
        await SendAsync("xyz"u8.ToArray());
        Assert.Equal("xyz"u8.ToArray(), (await ReadAtLeastAsync(3)).Buffer.ToArray());
    }

    [Fact]
    public async Task CancelPendingRead_BytesArriveBeforeTheCancelledResultIsAdvanced_AdvanceKeepsThemForTheNextRead()
    {
        ValueTask<ReadResult> waiting = _reader.ReadAsync();
        _reader.CancelPendingRead();
        ReadResult cancelled = await Bounded(waiting.AsTask());
        Assert.True(cancelled.IsCanceled);

        // The zero-byte wait is still armed: these bytes land in the reader before the cancelled result is advanced.
        await SendAsync("abc"u8.ToArray());
        while (_reader.UnreadCount < 3)
        {
            await Bounded(Task.Delay(5, TimeoutToken));
        }

        _reader.AdvanceTo(cancelled.Buffer.Start, cancelled.Buffer.End);
        Assert.Equal("abc"u8.ToArray(), (await ReadAtLeastAsync(3)).Buffer.ToArray());
    }

    [Fact]
    public async Task CancelPendingRead_HammeredWhileBytesStream_EveryByteArrivesOnceAndInOrder()
    {
        byte[] sent = GeneratedStream.Bytes(4 * 1024 * 1024);
        Task send = Task.Run(async () =>
        {
            // Small sends, so that reads, compactions and cancellations interleave many times.
            for (int offset = 0; offset < sent.Length; offset += 1500)
            {
                await SendAsync(sent.AsMemory(offset, Math.Min(1500, sent.Length - offset)));
            }

            _peer.Shutdown(SocketShutdown.Send);
        });
        using var stop = new CancellationTokenSource();
        var cancel = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                _reader.CancelPendingRead();
                Thread.SpinWait(20);
            }
        }) { IsBackground = true };
        cancel.Start();

        var received = new List<byte>(sent.Length);
        int cancelled = 0;
        while (true)
        {
            ReadResult result = await Bounded(_reader.ReadAsync().AsTask());
            cancelled += result.IsCanceled ? 1 : 0;

            // Consume all but the last byte seen (examining everything), so unread bytes stay behind and move.
            ReadOnlySequence<byte> buffer = result.Buffer;
            long take = result.IsCompleted ? buffer.Length : Math.Max(0, buffer.Length - 1);
            received.AddRange(buffer.Slice(0, take).ToArray());
            _reader.AdvanceTo(buffer.GetPosition(take), buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        stop.Cancel();
        cancel.Join();
        await Bounded(send);
        Assert.True(cancelled > 0, "no read was cancelled; the test did not exercise the race");
        Assert.Equal(sent, received.ToArray());
    }

    [Fact]
    public async Task CancelPendingRead_WithNoReadWaiting_CancelsTheNextReadOnly()
    {
        await SendAsync("q"u8.ToArray());
        _reader.CancelPendingRead();

        ReadResult cancelled = await Bounded(_reader.ReadAsync().AsTask());
        Assert.True(cancelled.IsCanceled);
        _reader.AdvanceTo(cancelled.Buffer.Start);

        ReadResult data = await ReadAtLeastAsync(1);
        Assert.False(data.IsCanceled);
        Assert.Equal("q"u8.ToArray(), data.Buffer.ToArray());
    }

    [Fact]
    public async Task ReadAsync_TokenCancelledWhileWaiting_ThrowsAndTheNextReadGetsTheBytes()
    {
        using var cancel = new CancellationTokenSource();
        ValueTask<ReadResult> waiting = _reader.ReadAsync(cancel.Token);

        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(waiting.AsTask()));
        await SendAsync("late"u8.ToArray());
        Assert.Equal("late"u8.ToArray(), (await ReadAtLeastAsync(4)).Buffer.ToArray());
    }

    [Fact]
    public async Task ReadAsync_PeerClosesAfterSending_ReturnsTheLastBytesThenCompleted()
    {
        await SendAsync("bye"u8.ToArray());
        _peer.Shutdown(SocketShutdown.Send);

        ReadResult result = await ReadUntilCompletedAsync();

        Assert.True(result.IsCompleted);
        Assert.Equal("bye"u8.ToArray(), result.Buffer.ToArray());
    }

    [Fact]
    public async Task ReadAsync_PeerResetsTheConnection_ThrowsIOExceptionNamingTheSocketError()
    {
        ValueTask<ReadResult> waiting = _reader.ReadAsync();

        _peer.LingerState = new LingerOption(true, 0);
        _peer.Close();

        IOException error = await Assert.ThrowsAsync<IOException>(() => Bounded(waiting.AsTask()));
        Assert.IsType<SocketException>(error.InnerException);
    }

    [Fact]
    public async Task ReadAsync_SocketClosedUnderTheReader_ThrowsIOExceptionAroundObjectDisposed()
    {
        _accepted.Dispose();

        IOException error = await Assert.ThrowsAsync<IOException>(() => Bounded(_reader.ReadAsync().AsTask()));
        Assert.IsType<ObjectDisposedException>(error.InnerException);
    }

    [Fact]
    public async Task ReadAsync_MoreUnconsumedThanOneBuffer_GrowsAndKeepsEveryByteInOrder()
    {
        byte[] sent = GeneratedStream.Bytes(200 * 1024);
        Task send = SendAsync(sent);

        ReadResult result = await ReadAtLeastAsync(sent.Length);
        await Bounded(send);

        Assert.Equal(sent, result.Buffer.ToArray());
    }

    [Fact]
    public async Task ReceiveDirectAsync_WithUnreadBytes_Throws()
    {
        await SendAsync("ab"u8.ToArray());
        ReadResult result = await ReadAtLeastAsync(2);
        _reader.AdvanceTo(result.Buffer.GetPosition(1));

        Assert.Throws<InvalidOperationException>(StartDirectReceive);
    }

    [Fact]
    public async Task ReceiveDirectAsync_AfterEverythingWasConsumed_ReceivesTheNextBytesIntoTheCallersMemory()
    {
        await SendAsync("ab"u8.ToArray());
        ReadResult result = await ReadAtLeastAsync(2);
        _reader.AdvanceTo(result.Buffer.End);
        await SendAsync("cd"u8.ToArray());

        byte[] destination = new byte[2];
        int received = 0;
        while (received < 2)
        {
            received += await Bounded(_reader.ReceiveDirectAsync(destination.AsMemory(received), TimeoutToken).AsTask());
        }

        Assert.Equal("cd"u8.ToArray(), destination);
    }

    [Fact]
    public async Task AdvanceTo_PositionFromAnotherBuffer_Throws()
    {
        await SendAsync("ab"u8.ToArray());
        await ReadAtLeastAsync(2);
        var foreign = new ReadOnlySequence<byte>(new byte[4]);

        Assert.Throws<InvalidOperationException>(() => _reader.AdvanceTo(foreign.GetPosition(1)));
    }

    [Fact]
    public async Task Complete_WhileAResultIsStillOut_DoesNotHandItsBufferToTheNextRenter()
    {
        await SendAsync("abc"u8.ToArray());
        ReadResult result = await ReadAtLeastAsync(3);

        _reader.Complete();
        byte[] rented = ArrayPool<byte>.Shared.Rent(64 * 1024);
        rented.AsSpan().Fill(0xDD);

        try
        {
            Assert.Equal("abc"u8.ToArray(), result.Buffer.ToArray());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    [Fact]
    public async Task Complete_WhileAReadIsPending_FailsTheReadAndClosesTheSocketSoThePeerSeesTheEnd()
    {
        Task<ReadResult> pending = _reader.ReadAsync().AsTask();

        _reader.Complete();

        byte[] buffer = new byte[1];
        Assert.Equal(0, await Bounded(_peer.ReceiveAsync(buffer, SocketFlags.None, TimeoutToken).AsTask()));
        Assert.Throws<InvalidOperationException>(StartRead);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(pending));
    }

    /// <summary>Starts a read; the call itself throws when the reader refuses it.</summary>
    private void StartRead() => _ = _reader.ReadAsync().AsTask();

    /// <summary>Starts a direct receive; the call itself throws when the reader refuses it.</summary>
    private void StartDirectReceive() => _ = _reader.ReceiveDirectAsync(new byte[8], TimeoutToken).AsTask();

    private async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        int sent = 0;
        while (sent < bytes.Length)
        {
            sent += await _peer.SendAsync(bytes[sent..], SocketFlags.None, TimeoutToken);
        }
    }

    /// <summary>Reads, examining everything and consuming nothing, until the reader holds at least <paramref name="count"/> bytes.</summary>
    private async Task<ReadResult> ReadAtLeastAsync(int count)
    {
        while (true)
        {
            ReadResult result = await Bounded(_reader.ReadAsync().AsTask());
            if (result.Buffer.Length >= count || result.IsCompleted)
            {
                return result;
            }

            _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private async Task<ReadResult> ReadUntilCompletedAsync()
    {
        while (true)
        {
            ReadResult result = await Bounded(_reader.ReadAsync().AsTask());
            if (result.IsCompleted)
            {
                return result;
            }

            _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
