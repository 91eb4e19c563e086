using TinyProto.Async.ScaleOut;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>
/// <see cref="TinyProtoFanOut"/> over <see cref="InMemoryBackplane"/>, with three real servers on loopback sharing it: a
/// message published to everyone, a group or one connection reaches those on every server, in order, and a connection
/// that cannot keep up is closed without holding up the others.
/// </summary>
public sealed class FanOutTests : ConnectionTestBase, IAsyncLifetime
{
    private readonly InMemoryBackplane _backplane = new();
    private readonly List<IAsyncDisposable> _owned = [];

    [Fact]
    public async Task PublishToAll_ReachesTheConnectionsOnEveryServer_ButTheOneLeftOut()
    {
        (TinyProtoFanOut[] fanOuts, TinyProtoServer[] servers) = await StartServersAsync(3);
        TinyProtoConnection[] clients = await ConnectAsync(servers);
        Guid first = await ServerSideIdAsync(servers[0]);

        await Bounded(fanOuts[0].PublishToAllAsync("hello, all"u8.ToArray(), except: first, TimeoutToken).AsTask());

        Assert.Equal("hello, all"u8.ToArray(), await Bounded(clients[1].ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal("hello, all"u8.ToArray(), await Bounded(clients[2].ReceiveAsync(TimeoutToken).AsTask()));
        await AssertReceivesNothingAsync(clients[0]);
    }

    [Fact]
    public async Task PublishToGroup_ReachesItsMembersOnAnyServer_AndNoOneOnceTheyLeft()
    {
        (TinyProtoFanOut[] fanOuts, TinyProtoServer[] servers) = await StartServersAsync(3);
        TinyProtoConnection[] clients = await ConnectAsync(servers);
        TinyProtoConnection memberOnB = Assert.Single(servers[1].ActiveConnections.Values);
        TinyProtoConnection memberOnC = Assert.Single(servers[2].ActiveConnections.Values);
        await fanOuts[1].JoinGroupAsync(memberOnB, "room", TimeoutToken);
        await fanOuts[2].JoinGroupAsync(memberOnC, "room", TimeoutToken);

        await Bounded(fanOuts[0].PublishToGroupAsync("room", "to the room"u8.ToArray(), cancellationToken: TimeoutToken).AsTask());

        Assert.Equal("to the room"u8.ToArray(), await Bounded(clients[1].ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal("to the room"u8.ToArray(), await Bounded(clients[2].ReceiveAsync(TimeoutToken).AsTask()));
        await AssertReceivesNothingAsync(clients[0]);

        // The last member on a server to leave ends that server's subscription to the group.
        await fanOuts[1].LeaveGroupAsync(memberOnB, "room", TimeoutToken);
        await fanOuts[2].LeaveGroupAsync(memberOnC, "room", TimeoutToken);
        Assert.Equal(0, _backplane.SubscriptionsTo("tinyproto:group:room"));
        await Bounded(fanOuts[0].PublishToGroupAsync("room", "anyone?"u8.ToArray(), cancellationToken: TimeoutToken).AsTask());
        await AssertReceivesNothingAsync(clients[1]);
    }

    [Fact]
    public async Task PublishToConnection_ReachesThatConnectionOnItsServerOnly()
    {
        (TinyProtoFanOut[] fanOuts, TinyProtoServer[] servers) = await StartServersAsync(3);
        TinyProtoConnection[] clients = await ConnectAsync(servers);
        Guid onC = await ServerSideIdAsync(servers[2]);

        await Bounded(fanOuts[0].PublishToConnectionAsync(onC, "just you"u8.ToArray(), TimeoutToken).AsTask());

        Assert.Equal("just you"u8.ToArray(), await Bounded(clients[2].ReceiveAsync(TimeoutToken).AsTask()));
        await AssertReceivesNothingAsync(clients[1]);
    }

    [Fact]
    public async Task ManyMessagesFromOnePublisher_EachRecipientGetsThemInOrder()
    {
        (TinyProtoFanOut[] fanOuts, TinyProtoServer[] servers) = await StartServersAsync(2);
        TinyProtoConnection[] clients = await ConnectAsync(servers);

        for (int i = 0; i < 300; i++)
        {
            await fanOuts[0].PublishToAllAsync(BitConverter.GetBytes(i), cancellationToken: TimeoutToken);
        }

        foreach (TinyProtoConnection client in clients)
        {
            for (int i = 0; i < 300; i++)
            {
                Assert.Equal(i, BitConverter.ToInt32(await Bounded(client.ReceiveAsync(TimeoutToken).AsTask())));
            }
        }
    }

    [Fact]
    public async Task APipelinedRecipient_GetsWhatQueuedUpInBatches_InOrder()
    {
        (TinyProtoFanOut[] fanOuts, TinyProtoServer[] servers) = await StartServersAsync(2);
        var client = new TinyProtoClient();
        client.ConnectionOptions.RequestPipelining = true;
        _owned.Add(client);
        TinyProtoConnection pipelined = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(servers[1]), TimeoutToken));
        await WaitUntilAsync(() => ((AttachingServer)servers[1]).Attached == 1);
        Assert.True(pipelined.IsPipelined);

        // Published without waiting for each: they queue up for the recipient and go out many at a time.
        await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => fanOuts[0].PublishToAllAsync(BitConverter.GetBytes(i), cancellationToken: TimeoutToken).AsTask()));

        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(i, BitConverter.ToInt32(await Bounded(pipelined.ReceiveAsync(TimeoutToken).AsTask())));
        }
    }

    [Fact]
    public async Task AMessageForAConnectionStillInItsConnectionInit_WaitsAndArrivesOnceItRuns()
    {
        var fanOut = new TinyProtoFanOut(_backplane);
        _owned.Add(fanOut);
        var server = new PublishingInInitServer(fanOut);
        _owned.Add(server);
        await StartLoopbackAsync(server);
        var client = new TinyProtoClient();
        _owned.Add(client);

        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(server), TimeoutToken));

        Assert.Equal("welcome"u8.ToArray(), await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task AConnectionThatEnds_IsDetached_AndItsSubscriptionsEnd()
    {
        (TinyProtoFanOut[] fanOuts, TinyProtoServer[] servers) = await StartServersAsync(1);
        TinyProtoConnection[] clients = await ConnectAsync(servers);
        TinyProtoConnection served = Assert.Single(servers[0].ActiveConnections.Values);
        await fanOuts[0].JoinGroupAsync(served, "room", TimeoutToken);
        Assert.Equal(1, fanOuts[0].LocalConnections);

        await Bounded(clients[0].CloseAsync(TimeoutToken).AsTask());
        await Bounded(served.Completion);
        await WaitUntilAsync(() => fanOuts[0].LocalConnections == 0);
        await WaitUntilAsync(() => _backplane.SubscriptionsTo($"tinyproto:connection:{served.Id:N}") == 0 && _backplane.SubscriptionsTo("tinyproto:group:room") == 0);
        await Assert.ThrowsAsync<InvalidOperationException>(() => fanOuts[0].JoinGroupAsync(served, "room", TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ARecipientThatStopsReading_ClosedOnceTooFarBehind_WhileAnotherGetsEveryMessage()
    {
        var logs = new RecordingLoggerFactory();
        var fanOut = new TinyProtoFanOut(_backplane, logger: logs.CreateLogger("fan-out")) { MaxQueuedPerConnection = 4 };
        _owned.Add(fanOut);
        TinyProtoServer server = await StartServerAsync(fanOut);
        TinyProtoConnection reader = (await ConnectAsync([server]))[0];
        await using RawPeer stalled = await ConnectRawAsync(PortOf(server));
        Assert.Equal(0xFF, await Bounded(stalled.OpenAsClientAsync()));
        await WaitUntilAsync(() => ((AttachingServer)server).Attached == 2);
        TinyProtoConnection stalledServed = server.ActiveConnections.Values.Single(c => c.RemoteEndPoint!.ToString() != reader.LocalEndPoint!.ToString());

        // Rounds of 3, which the reader takes before the next: the stalled peer never answers its first header, so what
        // follows queues up for it alone until the limit.
        for (int round = 0; round < 10; round++)
        {
            for (int i = 0; i < 3; i++)
            {
                await fanOut.PublishToAllAsync(BitConverter.GetBytes((round * 3) + i), cancellationToken: TimeoutToken);
            }

            for (int i = 0; i < 3; i++)
            {
                Assert.Equal((round * 3) + i, BitConverter.ToInt32(await Bounded(reader.ReceiveAsync(TimeoutToken).AsTask())));
            }
        }

        // Closed (aborted: its transport cut), whichever way its Completion reports it.
        await Bounded(stalledServed.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        Assert.False(server.ActiveConnections.ContainsKey(stalledServed.Id));
        RecordingLoggerFactory.Entry closed = Assert.Single(logs.Entries, e => e.EventId.Id == 202);
        Assert.Contains($"Closed connection {stalledServed.Id}: it fell 4 messages behind", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BytesOnTheChannelThatAreNotAnEnvelope_DroppedWithALogLine()
    {
        var logs = new RecordingLoggerFactory();
        var fanOut = new TinyProtoFanOut(_backplane, logger: logs.CreateLogger("fan-out"));
        _owned.Add(fanOut);
        TinyProtoServer server = await StartServerAsync(fanOut);
        TinyProtoConnection client = (await ConnectAsync([server]))[0];

        await _backplane.PublishAsync("tinyproto:all", "hello"u8.ToArray(), TimeoutToken);
        await fanOut.PublishToAllAsync("after"u8.ToArray(), cancellationToken: TimeoutToken);

        Assert.Equal("after"u8.ToArray(), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 201 && e.Message.Contains("version 104", StringComparison.Ordinal));
    }

    [Fact]
    public void Envelope_RoundTrips_AndRefusesWhatIsNotOne()
    {
        Guid except = Guid.NewGuid();
        Assert.True(FanOutEnvelope.TryDecode(FanOutEnvelope.Encode("m"u8, except), out ReadOnlyMemory<byte> message, out Guid decoded, out _));
        Assert.Equal("m"u8.ToArray(), message.ToArray());
        Assert.Equal(except, decoded);
        Assert.True(FanOutEnvelope.TryDecode(FanOutEnvelope.Encode([], Guid.Empty), out message, out decoded, out _));
        Assert.True(message.IsEmpty);
        Assert.Equal(Guid.Empty, decoded);

        Assert.False(FanOutEnvelope.TryDecode(new byte[] { 1 }, out _, out _, out string? error));
        Assert.Contains("shorter than an envelope's 2-byte head", error, StringComparison.Ordinal);
        Assert.False(FanOutEnvelope.TryDecode(new byte[] { 1, 1, 0, 0 }, out _, out _, out error));
        Assert.Contains("too short for the connection id", error, StringComparison.Ordinal);
        Assert.False(FanOutEnvelope.TryDecode(new byte[] { 2, 0 }, out _, out _, out error));
        Assert.Contains("version 2", error, StringComparison.Ordinal);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    private async Task<(TinyProtoFanOut[] FanOuts, TinyProtoServer[] Servers)> StartServersAsync(int count)
    {
        var fanOuts = new TinyProtoFanOut[count];
        var servers = new TinyProtoServer[count];
        for (int i = 0; i < count; i++)
        {
            fanOuts[i] = new TinyProtoFanOut(_backplane);
            _owned.Add(fanOuts[i]);
            servers[i] = await StartServerAsync(fanOuts[i]);
        }

        return (fanOuts, servers);
    }

    private async Task<TinyProtoServer> StartServerAsync(TinyProtoFanOut fanOut)
    {
        var server = new AttachingServer(fanOut);
        _owned.Add(server);
        await StartLoopbackAsync(server);
        return server;
    }

    /// <summary>One client per server, each attached on its server once this returns.</summary>
    private async Task<TinyProtoConnection[]> ConnectAsync(TinyProtoServer[] servers)
    {
        var client = new TinyProtoClient();
        _owned.Add(client);
        var connections = new TinyProtoConnection[servers.Length];
        for (int i = 0; i < servers.Length; i++)
        {
            int attached = ((AttachingServer)servers[i]).Attached;
            connections[i] = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(servers[i]), TimeoutToken));
            await WaitUntilAsync(() => ((AttachingServer)servers[i]).Attached > attached);
        }

        return connections;
    }

    private async Task<Guid> ServerSideIdAsync(TinyProtoServer server) => (await SingleServerConnectionAsync(server)).Id;

    private async Task AssertReceivesNothingAsync(TinyProtoConnection client)
    {
        using var brief = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        brief.CancelAfter(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ReceiveAsync(brief.Token).AsTask());
    }

    /// <summary>Attaches each connection and publishes to it at once, while it cannot transmit yet.</summary>
    private sealed class PublishingInInitServer(TinyProtoFanOut fanOut) : TinyProtoServer
    {
        protected override async ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            await fanOut.AttachAsync(connection, cancellationToken);
            await fanOut.PublishToConnectionAsync(id, "welcome"u8.ToArray(), cancellationToken);
            await Task.Delay(100, cancellationToken);
        }
    }
}
