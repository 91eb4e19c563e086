using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// Rule 5: reading never stops because of writing. Our lock-step payload, due when its OK arrives, is written without
/// holding up the receive loop, so a peer that accepts our message, stops reading and closes its side is still seen
/// to close, and the connection ends (the stalled write is cut after Timeout) instead of being held for ever.
/// </summary>
public sealed class ReadingWhileWritingTests : ConnectionTestBase
{
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task EchoOverAPipe_PeerAcceptsOurEchoThenStopsReadingAndCloses_TheConnectionEnds()
    {
        var server = new EchoConnection();
        FakeTimeProvider time = UseFakeTime(server, ShortTimeout);
        RawPeer raw = await StartWithRawClientAsync(server, pauseThreshold: 64 * 1024);
        byte[] message = RandomBytes(200_000, seed: 5);

        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(message)));
        Assert.Equal(RawPeer.Header(200_000), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));

        // Our echo's payload now waits on a full pipe; the peer reads nothing more and ends its side.
        await Task.Delay(100, TimeoutToken);
        await Bounded(raw.CompleteOutputAsync());

        TimeSpan waited = await AdvanceUntilAsync(time, server.Completion.ContinueWith(_ => { }, TaskScheduler.Default), ShortTimeout / 5);
        Assert.True(waited < TimeSpan.FromSeconds(5), $"the connection took {waited} of fake time to end");
        Assert.NotNull(server.EchoFailure);
        Assert.Equal(TinyProtoError.ConnectionClosed, server.EchoFailure!.Error);
    }

    [Fact]
    public async Task EchoOverAPipe_PeerSendsAStrayStatusWhileOurPayloadWaits_TheViolationIsSeenAndEndsTheConnection()
    {
        var server = new EchoConnection();
        FakeTimeProvider time = UseFakeTime(server, ShortTimeout);
        RawPeer raw = await StartWithRawClientAsync(server, pauseThreshold: 64 * 1024);

        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(RandomBytes(200_000, seed: 6))));
        Assert.Equal(RawPeer.Header(200_000), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        await Task.Delay(100, TimeoutToken);

        // Our payload waits on the full pipe; a status now answers nothing of ours. A loop that reads sees it at once;
        // one stuck in the write would only learn of the peer when the stalled write is cut.
        await Bounded(raw.WriteAsync(0xFF));
        await Task.Delay(100, TimeoutToken);

        await AdvanceUntilAsync(time, server.Completion.ContinueWith(_ => { }, TaskScheduler.Default), ShortTimeout / 5);
        await AssertFaultsAsync(server.Completion, TinyProtoError.ProtocolViolation);
    }

    [Fact]
    public async Task EchoOverLoopback_PeerSends4MiBAcceptsOurEchoNeverReadsAndHalfCloses_TheServerClosesTheSocket()
    {
        await using var server = new TinyProtoServer { ConnectionOptions = new() { Timeout = ShortTimeout } };
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.ReceiveBufferSize = 64 * 1024;
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        var raw = new RawPeer(socket, TimeoutToken);
        await Bounded(raw.OpenAsClientAsync());
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(new byte[4 * 1024 * 1024])));
        Assert.Equal(RawPeer.Header(4 * 1024 * 1024), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);

        // Nothing more is read; our side is closed for sending.
        await Task.Delay(200, TimeoutToken);
        socket.Shutdown(SocketShutdown.Send);

        var clock = Stopwatch.StartNew();
        await Bounded(connection.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the server held the connection for {clock.Elapsed}");
        await WaitUntilAsync(() => server.ActiveConnections.Count == 0);
    }

    private sealed class EchoConnection : TinyProtoConnection
    {
        public TinyProtoException? EchoFailure { get; private set; }

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            try
            {
                await TransmitAsync(message, cancellationToken);
            }
            catch (TinyProtoException ex)
            {
                EchoFailure = ex;
                throw;
            }
        }
    }
}
