using System.Threading.Channels;
using StackExchange.Redis;
using TinyProto.Async.Redis;
using TinyProto.Async.ScaleOut;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>
/// <see cref="RedisBackplane"/> against a real <c>redis-server</c> of each test's own: bytes arrive whole and in order at
/// every subscription on every connection, subscriptions end alone, a failing or slow handler harms only its own, and
/// after Redis restarts the subscriptions are made again (what was published meanwhile is missed, as pub/sub is).
/// </summary>
public sealed class RedisBackplaneTests : ConnectionTestBase, IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];
    private RedisProcess _redis = null!;

    public RedisBackplaneTests()
        : base(TimeSpan.FromSeconds(60))
    {
    }

    [RedisFact]
    public async Task AMessage_ReachesEverySubscriptionOnEveryConnection_ByteForByte()
    {
        RedisBackplane a = await ConnectAsync();
        RedisBackplane b = await ConnectAsync();
        ChannelReader<byte[]> onA = await SubscribeAsync(a, "news");
        ChannelReader<byte[]> onB = await SubscribeAsync(b, "news");
        ChannelReader<byte[]> alsoOnB = await SubscribeAsync(b, "news");
        byte[] binary = [0, 1, 0xFF, 0xFE, 0, 13, 10];
        byte[] large = new byte[256 * 1024];
        new Random(14).NextBytes(large);

        foreach (byte[] message in new[] { binary, large, [] })
        {
            await a.PublishAsync("news", message, TimeoutToken);
            foreach (ChannelReader<byte[]> received in new[] { onA, onB, alsoOnB })
            {
                Assert.Equal(message, await Bounded(received.ReadAsync(TimeoutToken).AsTask()));
            }
        }
    }

    [RedisFact]
    public async Task ManyMessagesFromOnePublisher_ArriveInTheOrderPublished()
    {
        RedisBackplane a = await ConnectAsync();
        RedisBackplane b = await ConnectAsync();
        ChannelReader<byte[]> received = await SubscribeAsync(b, "ordered");

        // Published without waiting for each: the order is Redis's and the connection's, not the test's pacing.
        await Task.WhenAll(Enumerable.Range(0, 2000).Select(i => a.PublishAsync("ordered", BitConverter.GetBytes(i)).AsTask()));

        for (int i = 0; i < 2000; i++)
        {
            Assert.Equal(i, BitConverter.ToInt32(await Bounded(received.ReadAsync(TimeoutToken).AsTask())));
        }
    }

    [RedisFact]
    public async Task ADisposedSubscription_GetsNothingMore_WhileAnotherToTheChannelGoesOn()
    {
        RedisBackplane backplane = await ConnectAsync();
        var first = Channel.CreateUnbounded<byte[]>();
        IAsyncDisposable subscription = await backplane.SubscribeAsync("room", m => first.Writer.WriteAsync(m.ToArray()), TimeoutToken);
        ChannelReader<byte[]> second = await SubscribeAsync(backplane, "room");

        await subscription.DisposeAsync();
        await backplane.PublishAsync("room", "after"u8.ToArray(), TimeoutToken);

        Assert.Equal("after"u8.ToArray(), await Bounded(second.ReadAsync(TimeoutToken).AsTask()));
        Assert.False(first.Reader.TryRead(out _));
        await subscription.DisposeAsync(); // a second time: nothing
    }

    [RedisFact]
    public async Task ChannelNames_AreLiteral_NeverPatterns()
    {
        RedisBackplane backplane = await ConnectAsync();
        ChannelReader<byte[]> pattern = await SubscribeAsync(backplane, "room*");
        ChannelReader<byte[]> exact = await SubscribeAsync(backplane, "room1");

        await backplane.PublishAsync("room1", "one"u8.ToArray(), TimeoutToken);
        await backplane.PublishAsync("room*", "star"u8.ToArray(), TimeoutToken);

        Assert.Equal("one"u8.ToArray(), await Bounded(exact.ReadAsync(TimeoutToken).AsTask()));
        Assert.Equal("star"u8.ToArray(), await Bounded(pattern.ReadAsync(TimeoutToken).AsTask()));
        Assert.False(pattern.TryRead(out _));
        Assert.False(exact.TryRead(out _));
    }

    [RedisFact]
    public async Task AHandlerThatThrows_IsLogged_AndGetsTheNextMessage()
    {
        var logs = new RecordingLoggerFactory();
        RedisBackplane backplane = await ConnectAsync(logs);
        var received = Channel.CreateUnbounded<string>();
        await backplane.SubscribeAsync("flaky", m =>
        {
            string text = System.Text.Encoding.UTF8.GetString(m.Span);
            return text == "boom" ? throw new InvalidOperationException("the handler broke") : received.Writer.WriteAsync(text);
        }, TimeoutToken);

        await backplane.PublishAsync("flaky", "boom"u8.ToArray(), TimeoutToken);
        await backplane.PublishAsync("flaky", "next"u8.ToArray(), TimeoutToken);

        Assert.Equal("next", await Bounded(received.Reader.ReadAsync(TimeoutToken).AsTask()));
        RecordingLoggerFactory.Entry failed = Assert.Single(logs.Entries, e => e.EventId.Id == 301);
        Assert.Contains("subscription to flaky failed", failed.Message, StringComparison.Ordinal);
        Assert.Equal("the handler broke", failed.Exception?.Message);
    }

    [RedisFact]
    public async Task ASlowHandler_HoldsUpOnlyItsOwnSubscription()
    {
        RedisBackplane backplane = await ConnectAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await backplane.SubscribeAsync("busy", _ => new ValueTask(release.Task), TimeoutToken);
        ChannelReader<byte[]> quick = await SubscribeAsync(backplane, "busy");

        for (int i = 0; i < 50; i++)
        {
            await backplane.PublishAsync("busy", BitConverter.GetBytes(i), TimeoutToken);
        }

        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(i, BitConverter.ToInt32(await Bounded(quick.ReadAsync(TimeoutToken).AsTask())));
        }

        release.SetResult();
    }

    [RedisFact]
    public async Task AfterRedisRestarts_SubscriptionsAreMadeAgain_AndTheLossIsLogged()
    {
        var logs = new RecordingLoggerFactory();
        RedisBackplane publisher = await ConnectAsync();
        RedisBackplane subscriber = await ConnectAsync(logs);
        ChannelReader<byte[]> received = await SubscribeAsync(subscriber, "survives");

        await _redis.KillAsync();
        await WaitUntilAsync(() => logs.Entries.Any(e => e.EventId.Id == 302));
        await _redis.StartAgainAsync(TimeoutToken);

        // Published until one arrives: those published before the subscription is made again are missed (at most once).
        byte[] after = "after the restart"u8.ToArray();
        byte[]? first = null;
        while (first is null)
        {
            try
            {
                await publisher.PublishAsync("survives", after, TimeoutToken);
            }
            catch (RedisConnectionException)
            {
                // The publisher's own connection is not back yet.
            }

            using var brief = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
            brief.CancelAfter(TimeSpan.FromMilliseconds(200));
            try
            {
                first = await received.ReadAsync(brief.Token);
            }
            catch (OperationCanceledException) when (!TimeoutToken.IsCancellationRequested)
            {
            }
        }

        Assert.Equal(after, first);
        RecordingLoggerFactory.Entry lost = logs.Entries.First(e => e.EventId.Id == 302);
        Assert.Contains($"to 127.0.0.1:{_redis.Port}", lost.Message, StringComparison.Ordinal);
        Assert.Contains("is missed", lost.Message, StringComparison.Ordinal);
        await WaitUntilAsync(() => logs.Entries.Any(e => e.EventId.Id == 303));
    }

    [RedisFact]
    public async Task PublishingWhileRedisIsDown_Fails_NeverReportsSuccess()
    {
        RedisBackplane backplane = await ConnectAsync(configuration: ",asyncTimeout=500,connectTimeout=500");
        await _redis.KillAsync();

        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() => Bounded(backplane.PublishAsync("lost", "hello"u8.ToArray()).AsTask()));

        Assert.True(failure is RedisConnectionException or RedisTimeoutException, $"expected a Redis connection or timeout error, got {failure}");
    }

    [RedisFact]
    public async Task DisposingABackplaneThatConnected_ClosesItsConnection_AndRefusesUse()
    {
        RedisBackplane backplane = await RedisBackplane.ConnectAsync(_redis.Configuration);
        Assert.True(backplane.Connection.IsConnected);
        ChannelReader<byte[]> received = await SubscribeAsync(backplane, "ending");

        await backplane.DisposeAsync();

        Assert.False(backplane.Connection.IsConnected);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => backplane.PublishAsync("ending", "x"u8.ToArray()).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => backplane.SubscribeAsync("ending", _ => default).AsTask());
    }

    [RedisFact]
    public async Task DisposingABackplaneOnTheCallersConnection_EndsItsSubscriptions_ButLeavesTheConnectionOpen()
    {
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var backplane = new RedisBackplane(redis);
        var received = Channel.CreateUnbounded<byte[]>();
        await backplane.SubscribeAsync("shared", m => received.Writer.WriteAsync(m.ToArray()), TimeoutToken);

        await backplane.DisposeAsync();
        await redis.GetSubscriber().PublishAsync(RedisChannel.Literal("shared"), "after"u8.ToArray());

        Assert.True(redis.IsConnected);
        await Task.Delay(100, TimeoutToken);
        Assert.False(received.Reader.TryRead(out _));
    }

    [Fact]
    public async Task ConnectAsync_RefusesAConfigurationThatNamesNoRedis_SayingSo()
    {
        ArgumentException none = await Assert.ThrowsAsync<ArgumentException>(() => RedisBackplane.ConnectAsync("password=secret"));
        Assert.Contains("names no Redis endpoint", none.Message, StringComparison.Ordinal);
        ArgumentException bad = await Assert.ThrowsAsync<ArgumentException>(() => RedisBackplane.ConnectAsync("127.0.0.1:6379,connectTimeout=soon"));
        Assert.Contains("is not a Redis configuration string", bad.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => RedisBackplane.ConnectAsync(" "));
    }

    [RedisFact]
    public async Task FanOutOverRedis_ReachesConnectionsOnThreeServers_ByAllGroupAndId()
    {
        var fanOuts = new TinyProtoFanOut[3];
        var servers = new AttachingServer[3];
        var clients = new TinyProtoConnection[3];
        var client = new TinyProtoClient();
        _owned.Add(client);
        for (int i = 0; i < 3; i++)
        {
            // A connection to Redis each, as three server processes would have.
            fanOuts[i] = new TinyProtoFanOut(await ConnectAsync());
            _owned.Add(fanOuts[i]);
            servers[i] = new AttachingServer(fanOuts[i]);
            _owned.Add(servers[i]);
            await StartLoopbackAsync(servers[i]);
            clients[i] = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(servers[i]), TimeoutToken));
            await WaitUntilAsync(() => servers[i].Attached == 1);
        }

        TinyProtoConnection onA = Assert.Single(servers[0].ActiveConnections.Values);
        TinyProtoConnection onC = Assert.Single(servers[2].ActiveConnections.Values);
        await fanOuts[1].JoinGroupAsync(Assert.Single(servers[1].ActiveConnections.Values), "room", TimeoutToken);
        await fanOuts[2].JoinGroupAsync(onC, "room", TimeoutToken);

        // From A, to everyone but A and to the room, interleaved; to C from B; to A from C.
        const int each = 20;
        for (int i = 0; i < each; i++)
        {
            await fanOuts[0].PublishToAllAsync(System.Text.Encoding.UTF8.GetBytes($"all {i}"), except: onA.Id, TimeoutToken);
            await fanOuts[0].PublishToGroupAsync("room", System.Text.Encoding.UTF8.GetBytes($"room {i}"), cancellationToken: TimeoutToken);
        }

        await fanOuts[1].PublishToConnectionAsync(onC.Id, "to C"u8.ToArray(), TimeoutToken);
        await fanOuts[2].PublishToConnectionAsync(onA.Id, "to A"u8.ToArray(), TimeoutToken);

        Assert.Equal("to A", await ReceiveTextAsync(clients[0]));

        // Each target is a channel, and channels have no order between them (as documented): what one publisher sent to
        // one target arrives in order, the targets interleaved in any way.
        string[] toAll = [.. Enumerable.Range(0, each).Select(i => $"all {i}")];
        string[] toRoom = [.. Enumerable.Range(0, each).Select(i => $"room {i}")];
        List<string> onB = await ReceiveTextsAsync(clients[1], 2 * each);
        Assert.Equal(toAll, onB.Where(m => m.StartsWith("all ", StringComparison.Ordinal)));
        Assert.Equal(toRoom, onB.Where(m => m.StartsWith("room ", StringComparison.Ordinal)));
        List<string> onCReceived = await ReceiveTextsAsync(clients[2], (2 * each) + 1);
        Assert.Equal(toAll, onCReceived.Where(m => m.StartsWith("all ", StringComparison.Ordinal)));
        Assert.Equal(toRoom, onCReceived.Where(m => m.StartsWith("room ", StringComparison.Ordinal)));
        Assert.Single(onCReceived, "to C");
    }

    public async Task InitializeAsync() => _redis = await RedisProcess.StartAsync(TimeoutToken);

    public async Task DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private async Task<RedisBackplane> ConnectAsync(RecordingLoggerFactory? logs = null, string configuration = "")
    {
        RedisBackplane backplane = await RedisBackplane.ConnectAsync(_redis.Configuration + configuration, logs?.CreateLogger("backplane"));
        _owned.Add(backplane);
        return backplane;
    }

    private async Task<ChannelReader<byte[]>> SubscribeAsync(RedisBackplane backplane, string channel)
    {
        var received = Channel.CreateUnbounded<byte[]>();
        await backplane.SubscribeAsync(channel, m => received.Writer.WriteAsync(m.ToArray()), TimeoutToken);
        return received.Reader;
    }

    private async Task<List<string>> ReceiveTextsAsync(TinyProtoConnection connection, int count)
    {
        var texts = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            texts.Add(await ReceiveTextAsync(connection));
        }

        return texts;
    }

    private async Task<string> ReceiveTextAsync(TinyProtoConnection connection) =>
        System.Text.Encoding.UTF8.GetString(await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
}
