using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>The connection's timed waits on a fake clock: each ends exactly when its time has passed, not before.</summary>
public sealed class DeadlineTests : ConnectionTestBase
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    [Theory]
    [InlineData(TinyProtoRole.Client)]
    [InlineData(TinyProtoRole.Server)]
    public async Task StartAsync_PeerNeverAnswers_TimesOutOnceTheTimeoutHasPassed(TinyProtoRole role)
    {
        var connection = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(connection, Limit);
        (IDuplexPipe mine, IDuplexPipe peer) = CreatePipePair();

        Task start = connection.StartAsync(mine, role, TimeoutToken);
        if (role == TinyProtoRole.Client)
        {
            // The opening is out, so the handshake's timer runs.
            Assert.Equal(0xFF, (await Bounded(new RawPeer(peer, TimeoutToken).ReadByteAsync())));
        }

        time.Advance(Limit - TimeSpan.FromMilliseconds(1));
        await Task.Delay(20, TimeoutToken);
        Assert.False(start.IsCompleted, "the handshake gave up before its Timeout");
        time.Advance(TimeSpan.FromMilliseconds(1));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(start));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
    }

    [Fact]
    public async Task LoopPassAsync_IdleConnection_RunsOncePerIntervalOfTheConnectionsClock()
    {
        var connection = new CountingLoopPasses();
        FakeTimeProvider time = UseFakeTime(connection, Limit);
        connection.Options.LoopPassInterval = TimeSpan.FromSeconds(1);
        RawPeer raw = await StartWithRawServerAsync(connection);

        for (int pass = 1; pass <= 3; pass++)
        {
            await Task.Delay(20, TimeoutToken);
            Assert.Equal(pass - 1, connection.Passes);

            // One interval of fake time makes one pass. On a loaded machine the hook loop may arm its timer only after
            // an advance, so the advance repeats until the pass came; it may never make two.
            while (connection.Passes < pass)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(20, TimeoutToken);
            }

            Assert.Equal(pass, connection.Passes);
        }

        await raw.DisposeAsync();
    }

    [Fact]
    public async Task TransmitAsync_StatusComesJustBeforeTheTimeout_SucceedsAndTheNextWaitStartsAfresh()
    {
        var client = new TinyProtoConnection();
        FakeTimeProvider time = UseFakeTime(client, Limit);
        RawPeer raw = await StartWithRawServerAsync(client);

        Task first = client.TransmitAsync("one"u8.ToArray(), TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(4));
        time.Advance(Limit - TimeSpan.FromMilliseconds(1));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("one"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(3)));
        await Bounded(first);

        // The timer armed for the first wait fires now, and must measure the second wait from its own start.
        Task second = client.TransmitAsync("two"u8.ToArray(), TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(4));
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Task.Delay(20, TimeoutToken);
        Assert.False(second.IsCompleted, "the second wait was charged with the first one's time");
        time.Advance(Limit);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(second));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
    }

    private sealed class CountingLoopPasses : TinyProtoConnection
    {
        private int _passes;

        public int Passes => Volatile.Read(ref _passes);

        protected override ValueTask LoopPassAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _passes);
            return default;
        }

        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) => default;
    }
}
