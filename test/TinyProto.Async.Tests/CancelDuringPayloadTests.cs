using System.IO.Pipelines;

namespace TinyProto.Async.Tests;

/// <summary>
/// Cancelling a transmission whose payload is being sent is not ignored: the protocol cannot take the message back,
/// so the connection closes at once, the write is cut and the transmission throws <see cref="OperationCanceledException"/>.
/// In every mode: lock-step from memory or from a stream, and pipelined.
/// </summary>
public sealed class CancelDuringPayloadTests : ConnectionTestBase
{
    private const int Size = 20 * 1024 * 1024;

    public static TheoryData<string> Kinds => new() { "lock-step memory", "lock-step stream", "pipelined memory", "pipelined stream" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task TransmitAsync_CancelledWhileItsPayloadWaitsOnAPeerThatDoesNotRead_ThrowsAndClosesTheConnection(string kind)
    {
        bool pipelined = kind.StartsWith("pipelined", StringComparison.Ordinal);
        var client = new TinyProtoConnection { Options = new() { RequestPipelining = pipelined, Timeout = Timeout.InfiniteTimeSpan } };
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);
        Assert.Equal(pipelined, client.IsPipelined);
        using var cancel = new CancellationTokenSource();

        Task transmit = kind.EndsWith("stream", StringComparison.Ordinal)
            ? client.TransmitAsync(new GeneratedStream(Size), Size, cancel.Token).AsTask()
            : client.TransmitAsync(new byte[Size], cancel.Token).AsTask();
        Assert.Equal(RawPeer.Header(Size), await Bounded(raw.ReadExactlyAsync(4)));
        if (!pipelined)
        {
            await Bounded(raw.WriteAsync(0xFF));
        }

        // The payload flows until the pipe is full; then nothing more is read.
        await Task.Delay(200, TimeoutToken);
        Assert.False(transmit.IsCompleted, "the pipe took the whole payload; the test needs a write that waits");

        await cancel.CancelAsync();

        // Not bounded by the test's token: a timeout must not pass for the cancellation.
        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => transmit.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(cancel.Token, cancelled.CancellationToken);
        var reason = await AssertFaultsAsync(client.Completion, TinyProtoError.ConnectionClosed);
        Assert.Contains("cancelled", reason.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A cancellation that comes as the payload's write ends (it cut the connection, yet the write got to its end) must
    /// not be reported as a success: the cut transport may lose what was written. Either the cancellation cuts and the
    /// call throws, or the write ends first and the cancellation does nothing. The transport here holds the payload's
    /// flush until the test has cancelled, and then lets it succeed, as a flush racing the cut would.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task TransmitAsync_CancelledJustAsItsPayloadWriteEnds_ThrowsSinceTheCancellationClosedTheConnection(string kind)
    {
        bool pipelined = kind.StartsWith("pipelined", StringComparison.Ordinal);
        var client = new TinyProtoConnection { Options = new() { RequestPipelining = pipelined, Timeout = Timeout.InfiniteTimeSpan } };
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        var transport = new FlushHoldingPipe(clientPipe);
        var raw = new RawPeer(serverPipe, TimeoutToken);
        Task start = client.StartAsync(transport, TinyProtoRole.Client, TimeoutToken);
        byte opening = await Bounded(raw.ReadByteAsync());
        await Bounded(raw.WriteAsync(opening));
        await Bounded(start);
        Assert.Equal(pipelined, client.IsPipelined);
        using var cancel = new CancellationTokenSource();

        const int size = 1000;
        if (pipelined)
        {
            // Header and payload go out in one flush.
            transport.HoldNextFlush();
        }

        Task transmit = kind.EndsWith("stream", StringComparison.Ordinal)
            ? client.TransmitAsync(new GeneratedStream(size), size, cancel.Token).AsTask()
            : client.TransmitAsync(new byte[size], cancel.Token).AsTask();
        if (!pipelined)
        {
            Assert.Equal(RawPeer.Header(size), await Bounded(raw.ReadExactlyAsync(4)));
            transport.HoldNextFlush();
            await Bounded(raw.WriteAsync(0xFF));
        }

        await Bounded(transport.FlushHeld);
        await cancel.CancelAsync();
        transport.ReleaseFlush();

        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(transmit));
        Assert.Equal(cancel.Token, cancelled.CancellationToken);
        var reason = await AssertFaultsAsync(client.Completion, TinyProtoError.ConnectionClosed);
        Assert.Contains("cancelled", reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TransmitAsync_CancelledAfterItCompleted_LeavesTheConnectionOpen()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        using var cancel = new CancellationTokenSource();

        Task transmit = client.TransmitAsync(new byte[100_000], cancel.Token).AsTask();
        Assert.Equal(RawPeer.Header(100_000), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal(100_000, (await Bounded(raw.ReadExactlyAsync(100_000))).Length);
        await Bounded(transmit);

        await cancel.CancelAsync();
        await Task.Delay(50, TimeoutToken);
        Assert.False(client.Completion.IsCompleted, "a cancellation after the transmission completed closed the connection");
        Task next = client.TransmitAsync(new byte[3], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal(3, (await Bounded(raw.ReadExactlyAsync(3))).Length);
        await Bounded(next);
    }

    /// <summary>
    /// A transport whose next flush waits until the test releases it, and then succeeds: a cancellation's attempt to
    /// cut it meanwhile (<see cref="PipeWriter.CancelPendingFlush"/>) comes too late to stop the bytes.
    /// </summary>
    private sealed class FlushHoldingPipe(IDuplexPipe inner) : IDuplexPipe
    {
        private readonly HoldingWriter _output = new(inner.Output);

        public PipeReader Input => inner.Input;

        public PipeWriter Output => _output;

        /// <summary>Completes when the held flush has begun to wait.</summary>
        public Task FlushHeld => _output.Held.Task;

        public void HoldNextFlush() => _output.Hold = true;

        public void ReleaseFlush() => _output.Release.TrySetResult();

        private sealed class HoldingWriter(PipeWriter inner) : PipeWriter
        {
            public volatile bool Hold;
            private volatile bool _holding;

            public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public override void Advance(int bytes) => inner.Advance(bytes);

            public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

            public override void CancelPendingFlush()
            {
                if (!_holding)
                {
                    inner.CancelPendingFlush();
                }
            }

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            {
                if (Hold)
                {
                    Hold = false;
                    _holding = true;
                    Held.TrySetResult();
                    await Release.Task;
                    FlushResult result = await inner.FlushAsync(cancellationToken);
                    _holding = false;
                    return result;
                }

                return await inner.FlushAsync(cancellationToken);
            }
        }
    }
}
