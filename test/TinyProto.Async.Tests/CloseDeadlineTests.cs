using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// A close is bounded by the connection's Timeout: a peer that accepts our message and then stops reading while we
/// write its payload cannot keep CloseAsync waiting for ever. The transmission fails; the close completes.
/// </summary>
public sealed class CloseDeadlineTests : ConnectionTestBase
{
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task CloseAsync_PeerStopsReadingDuringOurPayloadOverLoopback_CompletesWithinTheTimeoutAndTheTransmitFails()
    {
        using Socket listener = ListenOnLoopback(out int port);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task rawServer = AcceptThenStopReadingAsync(listener, release.Task);

        await using var client = new TinyProtoClient { Timeout = ShortTimeout };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Task transmit = connection.TransmitAsync(new byte[64 * 1024 * 1024], TimeoutToken).AsTask();
        await Task.Delay(200, TimeoutToken);
        Assert.False(transmit.IsCompleted, transmit.IsFaulted
            ? $"the transmission failed before the close: {transmit.Exception!.InnerException}; the raw server: {rawServer.Status} {rawServer.Exception?.InnerException?.Message}"
            : "64 MiB fit in the socket buffers; the test needs a write that waits");

        var clock = Stopwatch.StartNew();
        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"CloseAsync took {clock.Elapsed}");
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        release.SetResult();
        await Bounded(rawServer);
    }

    [Fact]
    public async Task CloseAsync_PeerStopsReadingDuringOurPayloadOverAPipe_CompletesWithinTheTimeoutAndTheTransmitFails()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);

        Task transmit = client.TransmitAsync(new byte[4 * 1024 * 1024], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(4 * 1024 * 1024), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        await Task.Delay(200, TimeoutToken);
        Assert.False(transmit.IsCompleted, "the pipe took the whole payload; the test needs a write that waits");

        Task close = client.CloseAsync(TimeoutToken).AsTask();
        TimeSpan waited = await AdvanceUntilAsync(time, close, ShortTimeout / 5);
        Assert.True(waited < TimeSpan.FromSeconds(4), $"CloseAsync took {waited} of fake time");
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
    }

    [Fact]
    public async Task CloseAsync_PeerReadsOurPayloadSlowlyButSteadily_TheTransmitFinishesAndNothingIsCut()
    {
        // A slow peer that keeps taking bytes is not a stalled one: the close waits for our payload as long as it
        // moves, even for several times the Timeout.
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);
        const int size = 2 * 1024 * 1024;
        const int piece = 256 * 1024;

        Task transmit = client.TransmitAsync(new byte[size], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(size), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Task close = client.CloseAsync(TimeoutToken).AsTask();

        TimeSpan passed = TimeSpan.Zero;
        for (int read = 0; read < size; read += piece)
        {
            // Each piece the peer takes lets a flush of ours finish: progress, seen before the next half Timeout passes.
            long moved = client.PayloadBytesMoved;
            Assert.Equal(piece, (await Bounded(raw.ReadExactlyAsync(piece))).Length);
            await WaitUntilAsync(() => client.PayloadBytesMoved > moved || transmit.IsCompleted);
            time.Advance(ShortTimeout / 2);
            passed += ShortTimeout / 2;
        }

        Assert.True(passed > ShortTimeout * 2, $"the payload took only {passed}; the test needs a slow reader");
        await Bounded(transmit);
        await Bounded(close);
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
    }
}
