using System.Buffers;
using System.Text;

namespace TinyProto.Async.Tests;

public sealed class ServerTests : ConnectionTestBase
{
    public enum Ending
    {
        PeerCloses,
        PeerSendsBadBytes,
        LocalCloseAsync,
        ServerStopAsync,
    }

    [Theory]
    [InlineData(Ending.PeerCloses)]
    [InlineData(Ending.PeerSendsBadBytes)]
    [InlineData(Ending.LocalCloseAsync)]
    [InlineData(Ending.ServerStopAsync)]
    public async Task ConnectionHooks_ConnectionEnds_InitPreMessagePostShutdownEachOnceInOrder(Ending ending)
    {
        var log = new EventLog();
        await using var server = new RecordingServer(log);
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("hi"u8.ToArray())));
        await Bounded(log.WaitForAsync("msg:hi", TimeoutToken));
        TinyProtoConnection connection = Assert.Single(server.ActiveConnections.Values);

        switch (ending)
        {
            case Ending.PeerCloses:
                await raw.CompleteOutputAsync();
                break;
            case Ending.PeerSendsBadBytes:
                await Bounded(raw.WriteAsync(0xF9));
                break;
            case Ending.LocalCloseAsync:
                await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
                break;
            case Ending.ServerStopAsync:
                await Bounded(server.StopAsync(TimeoutToken));
                break;
        }

        await Bounded(log.WaitForAsync("shutdown", TimeoutToken));
        AssertNothingOrRefusal(await Bounded(raw.ReadToEndAsync()));
        if (ending == Ending.PeerSendsBadBytes)
        {
            await AssertFaultsAsync(connection.Completion, TinyProtoError.ProtocolViolation);
        }
        else
        {
            await Bounded(connection.Completion);
        }

        await Bounded(server.StopAsync(TimeoutToken));
        Assert.Equal(["init", "pre", "msg:hi", "post", "shutdown"], log.Snapshot());
        Assert.Empty(server.ActiveConnections);
    }

    public enum FailingHook
    {
        ConnectionInitAsync,
        PreLoopAsync,
        TransmissionReceivedAsync,
        LoopPassAsync,
    }

    [Theory]
    [InlineData(FailingHook.ConnectionInitAsync)]
    [InlineData(FailingHook.PreLoopAsync)]
    [InlineData(FailingHook.TransmissionReceivedAsync)]
    [InlineData(FailingHook.LoopPassAsync)]
    public async Task Hooks_OneConnectionsHookThrows_OnlyThatConnectionEnds(FailingHook failing)
    {
        var log = new EventLog();
        await using var server = new RecordingServer(log)
        {
            FailInit = n => failing == FailingHook.ConnectionInitAsync && n == 2,
        };
        int ordinal = 0;
        server.SetConnectionHandler(() => new EchoConnection(Interlocked.Increment(ref ordinal) == 2 ? failing : null));
        int port = await StartLoopbackAsync(server);

        await using var client = new TinyProtoClient();
        TinyProtoConnection good = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        await Bounded(good.TransmitAsync("first"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("first"u8.ToArray(), await Bounded(good.ReceiveAsync(TimeoutToken).AsTask()));

        // The second connection's hook fails: that connection ends (its client sees the stream end), and may have left
        // the client's ActiveConnections before ConnectToAsync returns, so it is taken from ConnectAsync.
        TinyProtoConnection bad = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        if (failing == FailingHook.TransmissionReceivedAsync)
        {
            await Bounded(bad.TransmitAsync("boom"u8.ToArray(), TimeoutToken).AsTask());
        }

        await Bounded(bad.Completion);
        await Bounded(log.WaitForAsync(e => e.Count(x => x == "shutdown") == 1, TimeoutToken));

        // The server drops a connection before its Completion completes, and its ConnectionShutdownAsync runs after that.
        await WaitUntilAsync(() => server.ActiveConnections.Count == 1);

        // The first connection, and new ones, are still served.
        await Bounded(good.TransmitAsync("second"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("second"u8.ToArray(), await Bounded(good.ReceiveAsync(TimeoutToken).AsTask()));
        TinyProtoConnection third = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        await Bounded(third.TransmitAsync("third"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("third"u8.ToArray(), await Bounded(third.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.False(server.Completion.IsCompleted);
        Assert.Equal(2, server.ActiveConnections.Count);

        await Bounded(server.StopAsync(TimeoutToken));
        Assert.Equal(3, log.Count("init"));
        Assert.Equal(3, log.Count("shutdown"));
    }

    [Fact]
    public async Task ConnectionLimit_SecondClient_ThrowsConnectionLimitReachedAndServerKeepsServing()
    {
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        server.SetConnectionHandler(() => new EchoConnection(null));
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();

        TinyProtoConnection first = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(TinyProtoError.ConnectionLimitReached, ex.Error);
        Assert.Single(client.ActiveConnections);

        // The first connection was not disturbed.
        await Bounded(first.TransmitAsync("still here"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("still here"u8.ToArray(), await Bounded(first.ReceiveAsync(TimeoutToken).AsTask()));

        await Bounded(first.CloseAsync(TimeoutToken).AsTask());

        // The slot is freed once the server has finished with the first connection; that takes a moment
        // the client cannot observe, so retry within a deadline.
        TinyProtoConnection next = await ConnectWithinAsync(client, port, TimeSpan.FromSeconds(5));
        await Bounded(next.TransmitAsync("next"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("next"u8.ToArray(), await Bounded(next.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task ConnectionLimit_RawClientOverLimit_GetsFeAndClose()
    {
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        int port = await StartLoopbackAsync(server);
        await using RawPeer first = await ConnectRawAsync(port);
        Assert.Equal(0xFF, await Bounded(first.OpenAsClientAsync()));

        await using RawPeer second = await ConnectRawAsync(port);
        Assert.Equal(0xFE, await Bounded(second.OpenAsClientAsync()));
        Assert.Empty(await Bounded(second.ReadToEndAsync()));
    }

    [Theory]
    [InlineData(new byte[] { 0x42 })]
    [InlineData(new byte[] { 0x00, 0x00, 0x00, 0x01 })]
    [InlineData(new byte[] { 0xFE })]
    public async Task StartAsync_RawClientSendsUnknownOpening_ThatConnectionClosedAndServerKeepsServing(byte[] opening)
    {
        var log = new EventLog();
        await using var server = new RecordingServer(log);
        int port = await StartLoopbackAsync(server);

        await using RawPeer raw = await ConnectRawAsync(port);
        await Bounded(raw.WriteAsync(opening));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));

        await using var client = new TinyProtoClient();
        TinyProtoConnection good = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        await Bounded(good.TransmitAsync("ok"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(log.WaitForAsync("msg:ok", TimeoutToken));
        Assert.Equal(1, log.Count("init"));
    }

    [Fact]
    public async Task StopAsync_WithIdleClients_CompletesAndClientsSeeEnd()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        var connections = new List<TinyProtoConnection>();
        for (int i = 0; i < 3; i++)
        {
            connections.Add(client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))]);
        }

        await Bounded(server.StopAsync(TimeoutToken));
        Assert.True(server.Completion.IsCompletedSuccessfully);
        foreach (TinyProtoConnection connection in connections)
        {
            await Bounded(connection.Completion);
        }

        await Bounded(Task.Run(async () =>
        {
            while (client.ActiveConnections.Count > 0)
            {
                await Task.Delay(5, TimeoutToken);
            }
        }));
    }

    [Fact]
    public async Task DefaultHandler_ClientSendsMessageNobodyTakesThenDisconnects_ServerConnectionEnds()
    {
        // The default handler neither overrides a hook nor calls ReceiveAsync: a message it got is never taken.
        // The client leaving must still end the server's connection, or every such client leaks a socket and a slot.
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        int port = await StartLoopbackAsync(server);
        await using (RawPeer raw = await ConnectRawAsync(port))
        {
            Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
            Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("left behind"u8.ToArray())));
            await raw.CompleteOutputAsync();
            Assert.Empty(await Bounded(raw.ReadToEndAsync()).WaitAsync(TimeSpan.FromSeconds(3)));
        }

        await using var client = new TinyProtoClient();
        await ConnectWithinAsync(client, port, TimeSpan.FromSeconds(3));
    }

    private async Task<TinyProtoConnection> ConnectWithinAsync(TinyProtoClient client, int port, TimeSpan deadline)
    {
        DateTime end = DateTime.UtcNow + deadline;
        while (true)
        {
            try
            {
                return client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
            }
            catch (TinyProtoException ex) when (ex.Error == TinyProtoError.ConnectionLimitReached && DateTime.UtcNow < end)
            {
                await Task.Delay(10, TimeoutToken);
            }
        }
    }

    /// <summary>Echoes every message; the hook named by <c>failing</c> throws instead.</summary>
    private sealed class EchoConnection(FailingHook? failing) : TinyProtoConnection
    {
        protected override ValueTask PreLoopAsync(CancellationToken cancellationToken) =>
            failing == FailingHook.PreLoopAsync ? throw new InvalidOperationException("PreLoopAsync failed on purpose.") : default;

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (failing == FailingHook.TransmissionReceivedAsync)
            {
                throw new InvalidOperationException("TransmissionReceivedAsync failed on purpose: " + Encoding.ASCII.GetString(message));
            }

            await TransmitAsync(message, cancellationToken);
        }

        protected override ValueTask LoopPassAsync(CancellationToken cancellationToken) =>
            failing == FailingHook.LoopPassAsync ? throw new InvalidOperationException("LoopPassAsync failed on purpose.") : default;
    }
}
