using System.Buffers;
using System.Collections.Concurrent;

namespace TinyProto.Async.Tests.Faults;

/// <summary>
/// The library through <see cref="FaultProxy"/>: split into 1-byte segments and delayed it delivers every message
/// whole and in order; reset, half-closed or cut inside a unit it ends that one connection with an error that says
/// where, and never delivers part of a message.
/// </summary>
public sealed class FaultProxyTests : ConnectionTestBase, IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OneByteSegments_BothWays_EveryMessageArrivesWholeAndInOrder(bool pipelined)
    {
        var plan = new FaultPlan { SegmentSize = 1 };
        (TinyProtoConnection client, _) = await ConnectThroughAsync(_ => (plan, plan), pipelined);
        var random = new Random(15);
        byte[][] messages = [.. Enumerable.Range(0, 40).Select(i => RandomBytes(random.Next(0, 700), seed: i))];

        Task sending = Task.WhenAll(messages.Select(m => client.TransmitAsync(m, TimeoutToken).AsTask()));
        foreach (byte[] message in messages)
        {
            Assert.Equal(message, await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        }

        await Bounded(sending);
    }

    [Fact]
    public async Task ResetInsideAPayload_EndsTheConnectionAtBothEnds_AndNothingOfItIsDelivered()
    {
        // Toward the server: the opening byte, a 4-byte header, then 10 of the payload's 100 bytes, then a reset.
        (TinyProtoConnection client, RecordingEcho server) = await ConnectThroughAsync(_ => (new FaultPlan { Fault = new Fault(FaultKind.Reset, 1 + 4 + 10) }, FaultPlan.Clean));

        await Record.ExceptionAsync(() => Bounded(client.TransmitAsync(new byte[100], TimeoutToken).AsTask()));

        TinyProtoConnection served = await server.Accepted.Task.WaitAsync(TimeoutToken);
        TinyProtoException ended = await Assert.ThrowsAnyAsync<TinyProtoException>(() => Bounded(served.Completion));
        Assert.Equal(TinyProtoError.ConnectionClosed, ended.Error);
        await Assert.ThrowsAnyAsync<TinyProtoException>(() => Bounded(client.Completion));
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task HalfCloseTowardTheServerAtABoundary_TheServerTakesTheMessageAndEndsCleanly()
    {
        // The opening byte, then a whole 5-byte message: the end of the stream comes right after it.
        (TinyProtoConnection client, RecordingEcho server) = await ConnectThroughAsync(_ => (new FaultPlan { Fault = new Fault(FaultKind.HalfClose, 1 + 4 + 5) }, FaultPlan.Clean));

        await Bounded(client.TransmitAsync("hello"u8.ToArray(), TimeoutToken).AsTask());

        TinyProtoConnection served = await server.Accepted.Task.WaitAsync(TimeoutToken);
        await Bounded(served.Completion);
        Assert.Equal(["hello"], server.Received);
        Assert.Equal(TinyProtoCloseReason.PeerClosed, served.CloseReason);
    }

    [Fact]
    public async Task HalfCloseTowardTheServerInsideAHeader_EndsThatConnectionSayingWhere()
    {
        // The opening byte and 2 bytes of the header.
        (TinyProtoConnection client, RecordingEcho server) = await ConnectThroughAsync(_ => (new FaultPlan { Fault = new Fault(FaultKind.HalfClose, 1 + 2) }, FaultPlan.Clean));

        Task transmit = client.TransmitAsync(new byte[7], TimeoutToken).AsTask();

        TinyProtoConnection served = await server.Accepted.Task.WaitAsync(TimeoutToken);
        TinyProtoException ended = await Assert.ThrowsAnyAsync<TinyProtoException>(() => Bounded(served.Completion));
        Assert.Equal(TinyProtoError.ProtocolViolation, ended.Error);
        Assert.Equal("The peer closed the connection inside a size header, after 2 of 4 bytes (0000).", ended.Message);
        await Assert.ThrowsAnyAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task StallTowardTheClient_TheClientsTransmissionTimesOut_AndTheConnectionEnds()
    {
        // The server's opening answer gets through, and then nothing: the OK for the client's header never comes.
        (TinyProtoConnection client, _) = await ConnectThroughAsync(_ => (FaultPlan.Clean, new FaultPlan { Fault = new Fault(FaultKind.Stall, 1) }), timeout: TimeSpan.FromMilliseconds(500));

        TinyProtoException failed = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.TransmitAsync("anyone?"u8.ToArray(), TimeoutToken).AsTask()));

        Assert.Equal(TinyProtoError.Timeout, failed.Error);
    }

    [Fact]
    public async Task AFaultOnOneConnection_LeavesTheOthersThroughTheSameProxyAlone()
    {
        var server = new RecordingEcho();
        _owned.Add(server);
        await StartLoopbackAsync(server);
        var proxy = new FaultProxy(PortOf(server), index => index == 1 ? (new FaultPlan { Fault = new Fault(FaultKind.Reset, 3) }, FaultPlan.Clean) : (FaultPlan.Clean, FaultPlan.Clean));
        _owned.Add(proxy);
        var client = new TinyProtoClient();
        _owned.Add(client);

        TinyProtoConnection first = await Bounded(client.ConnectAsync("127.0.0.1", proxy.Port, TimeoutToken));
        TinyProtoConnection second = await Bounded(client.ConnectAsync("127.0.0.1", proxy.Port, TimeoutToken));
        TinyProtoConnection third = await Bounded(client.ConnectAsync("127.0.0.1", proxy.Port, TimeoutToken));
        await Record.ExceptionAsync(() => Bounded(second.TransmitAsync("reset"u8.ToArray(), TimeoutToken).AsTask()));

        foreach (TinyProtoConnection survivor in new[] { first, third })
        {
            await Bounded(survivor.TransmitAsync("still here"u8.ToArray(), TimeoutToken).AsTask());
            Assert.Equal("still here"u8.ToArray(), await Bounded(survivor.ReceiveAsync(TimeoutToken).AsTask()));
        }

        Assert.Equal(["connection 1: Reset toward the server at byte 3"], proxy.Injected);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    private async Task<(TinyProtoConnection Client, RecordingEcho Server)> ConnectThroughAsync(Func<int, (FaultPlan, FaultPlan)> plans, bool pipelined = false, TimeSpan? timeout = null)
    {
        var server = new RecordingEcho();
        _owned.Add(server);
        await StartLoopbackAsync(server);
        var proxy = new FaultProxy(PortOf(server), plans);
        _owned.Add(proxy);
        var client = new TinyProtoClient();
        client.ConnectionOptions.RequestPipelining = pipelined;
        if (timeout is { } limit)
        {
            client.ConnectionOptions.Timeout = limit;
        }

        _owned.Add(client);
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", proxy.Port, TimeoutToken));
        Assert.Equal(pipelined, connection.IsPipelined);
        return (connection, server);
    }

    /// <summary>Echoes what it receives and records it (as text); hands out its first connection.</summary>
    private sealed class RecordingEcho : TinyProtoServer
    {
        private readonly ConcurrentQueue<string> _received = new();

        public RecordingEcho() => SetConnectionHandler(() => new EchoConnection(this));

        public TaskCompletionSource<TinyProtoConnection> Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string[] Received => [.. _received];

        private sealed class EchoConnection(RecordingEcho owner) : TinyProtoConnection
        {
            protected override ValueTask PreLoopAsync(CancellationToken cancellationToken)
            {
                owner.Accepted.TrySetResult(this);
                return default;
            }

            protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
            {
                owner._received.Enqueue(System.Text.Encoding.UTF8.GetString(message.ToArray()));
                return TransmitAsync(message.ToArray(), cancellationToken);
            }
        }
    }
}
