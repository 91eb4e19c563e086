using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// A write that waits on the transport is bounded while the connection is open, not only while it closes: a peer that
/// takes none of our bytes for a whole Timeout has stopped reading, and the connection ends with a Timeout error. A
/// slow peer that keeps taking bytes is never cut.
/// </summary>
public sealed class WriteTimeoutTests : ConnectionTestBase
{
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task TransmitAsync_PeerAcceptsOurMessageThenStopsReading_FailsAfterTheTimeoutAndTheConnectionEndsWithTimeout()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);

        Task transmit = client.TransmitAsync(new byte[4 * 1024 * 1024], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(4 * 1024 * 1024), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        await Task.Delay(100, TimeoutToken);
        Assert.False(transmit.IsCompleted, "the pipe took the whole payload; the test needs a write that waits");

        time.Advance(ShortTimeout / 2);
        await Task.Delay(50, TimeoutToken);
        Assert.False(transmit.IsCompleted, "the write was cut before a whole Timeout passed");

        TimeSpan waited = await AdvanceUntilAsync(time, transmit.ContinueWith(_ => { }, TaskScheduler.Default), ShortTimeout / 5);
        Assert.True(waited < ShortTimeout * 2, $"the stalled write was cut only after {waited} more of fake time");
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => transmit);
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        var reason = await AssertFaultsAsync(client.Completion, TinyProtoError.Timeout);
        Assert.Contains("stopped reading", reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TransmitAsync_PeerReadsSlowlyButSteadilyForManyTimeouts_Completes()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);
        const int size = 2 * 1024 * 1024;
        const int piece = 256 * 1024;

        Task transmit = client.TransmitAsync(new byte[size], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(size), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));

        TimeSpan passed = TimeSpan.Zero;
        for (int read = 0; read < size; read += piece)
        {
            long moved = client.PayloadBytesMoved;
            Assert.Equal(piece, (await Bounded(raw.ReadExactlyAsync(piece))).Length);
            await WaitUntilAsync(() => client.PayloadBytesMoved > moved || transmit.IsCompleted);
            time.Advance(ShortTimeout / 2);
            passed += ShortTimeout / 2;
        }

        Assert.True(passed > ShortTimeout * 2, $"the payload took only {passed}; the test needs a slow reader");
        await Bounded(transmit);
        Assert.False(client.Completion.IsCompleted, "a slow reader that kept reading was cut");
    }

    [Fact]
    public async Task TransmitAsync_PeerReadsSmallPiecesSlowlyButSteadily_IsNotTakenForOneThatStoppedReading()
    {
        // 32 KiB per 0.4 Timeout: each flush of ours (64 KiB of payload) completes within a Timeout.
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, ShortTimeout);
        RawPeer raw = await StartWithRawServerAsync(client, pauseThreshold: 64 * 1024);
        const int size = 1024 * 1024;
        const int piece = 32 * 1024;

        Task transmit = client.TransmitAsync(new byte[size], TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(size), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));

        for (int read = 0; read < size; read += piece)
        {
            Assert.Equal(piece, (await Bounded(raw.ReadExactlyAsync(piece))).Length);
            await Task.Delay(10, TimeoutToken);
            time.Advance(ShortTimeout * 0.4);
            await Task.Delay(5, TimeoutToken);
        }

        await Bounded(transmit);
        Assert.False(client.Completion.IsCompleted, "a peer that kept reading was cut");
    }
}
