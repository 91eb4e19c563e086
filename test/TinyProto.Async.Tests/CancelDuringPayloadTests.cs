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
}
