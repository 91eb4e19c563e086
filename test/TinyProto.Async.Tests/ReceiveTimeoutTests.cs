using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// Every wait for the peer's bytes is bounded: a peer that stops in the middle of a header or a payload is closed after
/// Timeout, one that trickles a message below MinReceiveBytesPerSecond is closed once the grace period passed, and an
/// idle connection is closed after IdleTimeout when one is set (never by default). All on fake time.
/// </summary>
public sealed class ReceiveTimeoutTests : ConnectionTestBase
{
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task PeerStopsInTheMiddleOfAPayload_IsClosedWithATimeoutAfterTimeout()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync();

        await Bounded(raw.WriteAsync(RawPeer.Header(1000)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync(new byte[10]));
        await WaitUntilAsync(() => server.PayloadBytesMoved == 10);

        await AdvanceAsync(time, ShortTimeout * 0.8);
        Assert.False(server.Completion.IsCompleted, "closed before a whole Timeout of silence");

        TimeSpan waited = await AdvanceUntilAsync(time, Ended(server), ShortTimeout / 10);
        Assert.True(waited <= ShortTimeout * 0.6, $"closed only after {waited} more");
        var ex = await AssertFaultsAsync(server.Completion, TinyProtoError.Timeout);
        Assert.Contains("middle of a message", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PeerStopsInTheMiddleOfAHeader_IsClosedWithATimeout()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync();

        await Bounded(raw.WriteAsync(0x00, 0x00));
        await Task.Delay(50, TimeoutToken);

        TimeSpan waited = await AdvanceUntilAsync(time, Ended(server), ShortTimeout / 10);
        Assert.True(waited <= ShortTimeout * 1.5, $"closed only after {waited}");
        await AssertFaultsAsync(server.Completion, TinyProtoError.Timeout);
    }

    [Fact]
    public async Task PeerTricklesAPayloadAByteAtATime_IsClosedForSendingTooSlowly()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync();

        // Each byte comes well within Timeout, so only the rate can tell this peer from a live one.
        await TrickleAsync(server, time, raw, new byte[10_000], piece: 1, upTo: 20);

        var ex = await AssertFaultsAsync(server.Completion, TinyProtoError.Timeout);
        Assert.Contains("too slowly", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PeerSendsSlowlyButAboveTheMinimumRate_TheMessageArrives()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync();
        byte[] message = RandomBytes(10_000, seed: 3);

        // 500 bytes per 0.4 s of fake time: 1,250 bytes/s, for 8 s (eight Timeouts).
        await TrickleAsync(server, time, raw, message, piece: 500);

        Assert.Equal(message, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.False(server.Completion.IsCompleted);
    }

    [Fact]
    public async Task MinimumRateOff_ATricklingPeerIsNotClosedForItsRate()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync(options => options.MinReceiveBytesPerSecond = 0);

        await TrickleAsync(server, time, raw, new byte[20], piece: 1);

        Assert.Equal(20, (await Bounded(server.ReceiveAsync(TimeoutToken).AsTask())).Length);
    }

    [Fact]
    public async Task IdleTimeoutSet_AnIdleConnectionIsClosedAfterIt_AndBytesFromThePeerRestartIt()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync(options => options.IdleTimeout = TimeSpan.FromSeconds(10));

        await AdvanceAsync(time, TimeSpan.FromSeconds(7));
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("still here"u8.ToArray())));
        Assert.Equal("still here"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        await AdvanceAsync(time, TimeSpan.FromSeconds(7));
        Assert.False(server.Completion.IsCompleted, "closed though the peer sent a message 7 s ago");

        TimeSpan waited = await AdvanceUntilAsync(time, Ended(server), TimeSpan.FromSeconds(1));
        Assert.True(waited <= TimeSpan.FromSeconds(6), $"closed only after {waited} more");
        var ex = await AssertFaultsAsync(server.Completion, TinyProtoError.Timeout);
        Assert.Contains("idle", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ByDefault_AnIdleConnectionStaysOpen()
    {
        var server = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(server, ShortTimeout);
        Assert.Equal(Timeout.InfiniteTimeSpan, server.Options.IdleTimeout);
        RawPeer raw = await StartWithRawClientAsync(server);

        await AdvanceAsync(time, TimeSpan.FromHours(2));

        Assert.False(server.Completion.IsCompleted);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync([1, 2, 3])));
    }

    [Fact]
    public async Task SmallMessagesBackToBackOverASlowRoundTrip_AreNotTakenForATrickle()
    {
        // Each payload waits a round trip for our OK, and the next header comes with the payload before it: the rate
        // is measured per message, so a slow link with small messages is not a peer that trickles.
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync();
        byte[] payload = new byte[40];

        await Bounded(raw.WriteAsync(RawPeer.Header(40)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        for (int i = 1; i <= 20; i++)
        {
            await AdvanceAsync(time, ShortTimeout * 0.3);
            await Bounded(raw.WriteAsync([.. payload, .. RawPeer.Header(40)]));
            Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        }

        Assert.False(server.Completion.IsCompleted, "a peer sending whole small messages was closed for its rate");
        Assert.Equal(40, (await Bounded(server.ReceiveAsync(TimeoutToken).AsTask())).Length);
    }

    [Fact]
    public async Task IdleTimeoutSet_APeerThatStopsInAHeader_IsStillClosedAfterTimeoutNotAfterIdleTimeout()
    {
        (TinyProtoConnection server, FakeTimeProvider time, RawPeer raw) = await StartOnFakeTimeAsync(options => options.IdleTimeout = TimeSpan.FromMinutes(5));
        await AdvanceAsync(time, TimeSpan.FromSeconds(2));

        await Bounded(raw.WriteAsync(0x00));
        await Task.Delay(50, TimeoutToken);

        TimeSpan waited = await AdvanceUntilAsync(time, Ended(server), ShortTimeout / 10);
        Assert.True(waited <= ShortTimeout * 1.5, $"closed only after {waited}");
        var ex = await AssertFaultsAsync(server.Completion, TinyProtoError.Timeout);
        Assert.Contains("middle of a message", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_RefuseABadIdleTimeoutOrRate_WithMessagesThatNameThem()
    {
        var options = new TinyProtoConnectionOptions();
        Assert.StartsWith("IdleTimeout must be above zero", Assert.Throws<ArgumentOutOfRangeException>(() => options.IdleTimeout = TimeSpan.Zero).Message, StringComparison.Ordinal);
        Assert.StartsWith("MinReceiveBytesPerSecond must be 0 (off) or more", Assert.Throws<ArgumentOutOfRangeException>(() => options.MinReceiveBytesPerSecond = -1).Message, StringComparison.Ordinal);
        Assert.Equal(240, options.MinReceiveBytesPerSecond);
    }

    /// <summary>A server connection on fake time with <see cref="ShortTimeout"/>, started with a raw client.</summary>
    private async Task<(TinyProtoConnection Server, FakeTimeProvider Time, RawPeer Raw)> StartOnFakeTimeAsync(Action<TinyProtoConnectionOptions>? configure = null)
    {
        var server = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(server, ShortTimeout);
        configure?.Invoke(server.Options);
        return (server, time, await StartWithRawClientAsync(server));
    }

    /// <summary>
    /// Announces <paramref name="message"/>, then sends it (or its first <paramref name="upTo"/> bytes) in pieces, each
    /// taken by the server before 0.4 Timeout of fake time passes; stops when the connection ends.
    /// </summary>
    private async Task TrickleAsync(TinyProtoConnection server, FakeTimeProvider time, RawPeer raw, byte[] message, int piece, int? upTo = null)
    {
        await Bounded(raw.WriteAsync(RawPeer.Header((uint)message.Length)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        int end = upTo ?? message.Length;
        for (int offset = 0; offset < end && !server.Completion.IsCompleted; offset += piece)
        {
            int sent = offset + piece;
            await Bounded(raw.WriteAsync(message[offset..sent]));
            await WaitUntilAsync(() => server.PayloadBytesMoved == sent);
            await AdvanceAsync(time, ShortTimeout * 0.4);
        }
    }

    private static Task Ended(TinyProtoConnection connection) => connection.Completion.ContinueWith(_ => { }, TaskScheduler.Default);

    /// <summary>Advances fake time in small steps, letting the connection's timers run between them.</summary>
    private async Task AdvanceAsync(FakeTimeProvider time, TimeSpan total)
    {
        TimeSpan step = total / 10;
        for (int i = 0; i < 10; i++)
        {
            time.Advance(step);
            await Task.Delay(2, TimeoutToken);
        }
    }
}
