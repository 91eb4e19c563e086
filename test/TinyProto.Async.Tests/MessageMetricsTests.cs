using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// The message instruments of the <c>TinyProto.Async</c> meter: each end counts the messages and payload bytes it sends
/// and receives, in both modes, and times its operations (<c>transmit</c>, <c>transmit_many</c>, <c>request</c>,
/// <c>receive</c>), with <c>error.type</c> when one fails; a connection records on its options' meter factory, or on its
/// host's.
/// </summary>
public sealed class MessageMetricsTests : ConnectionTestBase
{
    private static readonly KeyValuePair<string, object?> Client = new("tinyproto.role", "client");
    private static readonly KeyValuePair<string, object?> Server = new("tinyproto.role", "server");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnEchoedExchange_EachEndCountsItsMessagesAndPayloadBytes_BothWays(bool pipelined)
    {
        using var meters = new TestMeters();
        MetricCollector<long> sent = meters.Collect<long>("tinyproto.sent.messages");
        MetricCollector<long> sentBytes = meters.Collect<long>("tinyproto.sent.bytes");
        MetricCollector<long> received = meters.Collect<long>("tinyproto.received.messages");
        MetricCollector<long> receivedBytes = meters.Collect<long>("tinyproto.received.bytes");
        var client = new TinyProtoConnection { Options = { MeterFactory = meters.Factory, RequestPipelining = pipelined } };
        var server = new EchoConnection { Options = { MeterFactory = meters.Factory } };
        await StartPairAsync(client, server);
        Assert.Equal(pipelined, client.IsPipelined);

        foreach (int size in new[] { 5, 10, 0 })
        {
            await Bounded(client.TransmitAsync(new byte[size], TimeoutToken).AsTask());
            Assert.Equal(size, (await Bounded(client.ReceiveAsync(TimeoutToken).AsTask())).Length);
        }

        // The server's last echo completes (its OK read) a moment after the client took the message.
        await WaitUntilAsync(() => Sum(sent, Server) == 3);
        Assert.Equal(3, Sum(sent, Client));
        Assert.Equal(15, Sum(sentBytes, Client));
        Assert.Equal(15, Sum(sentBytes, Server));
        Assert.Equal(3, Sum(received, Server));
        Assert.Equal(3, Sum(received, Client));
        Assert.Equal(15, Sum(receivedBytes, Server));
        Assert.Equal(15, Sum(receivedBytes, Client));
        Assert.All(sent.GetMeasurementSnapshot(), m => Assert.False(m.Tags.ContainsKey("error.type")));

        // Over an in-memory pipe there is no server endpoint to name: the role alone.
        Assert.Equal(["tinyproto.role"], sent.GetMeasurementSnapshot()[0].Tags.Keys);
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ATransmitAndAReceive_AreEachTimedAsOneOperation_WithItsName(bool pipelined)
    {
        using var meters = new TestMeters();
        MetricCollector<double> durations = meters.Collect<double>("tinyproto.operation.duration");
        var client = new TinyProtoConnection { Options = { MeterFactory = meters.Factory, RequestPipelining = pipelined } };
        var server = new EchoConnection { Options = { MeterFactory = meters.Factory } };
        await StartPairAsync(client, server);

        await Bounded(client.TransmitAsync("hello"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(client.ReceiveAsync(TimeoutToken).AsTask());
        await WaitUntilAsync(() => Of(durations, Server, "transmit").Count == 1);

        Assert.Single(Of(durations, Client, "transmit"));
        Assert.Single(Of(durations, Server, "receive"));
        Assert.Single(Of(durations, Client, "receive"));
        Assert.All(durations.GetMeasurementSnapshot(), m => Assert.InRange(m.Value, 0, 10));
        Assert.Equal(4, durations.GetMeasurementSnapshot().Count);
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TransmitManyAsync_CountsEveryMessage_AndIsTimedAsOneTransmitMany(bool pipelined)
    {
        using var meters = new TestMeters();
        MetricCollector<long> sent = meters.Collect<long>("tinyproto.sent.messages");
        MetricCollector<long> sentBytes = meters.Collect<long>("tinyproto.sent.bytes");
        MetricCollector<double> durations = meters.Collect<double>("tinyproto.operation.duration");
        var client = new TinyProtoConnection { Options = { MeterFactory = meters.Factory, RequestPipelining = pipelined } };
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);

        await Bounded(client.TransmitManyAsync([new byte[1], new byte[2], new byte[3]], TimeoutToken).AsTask());

        Assert.Equal(3, Sum(sent, Client));
        Assert.Equal(6, Sum(sentBytes, Client));
        Assert.Single(Of(durations, Client, "transmit_many"));
        Assert.Empty(Of(durations, Client, "transmit"));
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ARequest_IsTimedAsARequest_AndItsMessageCounted_ButNotTimedAsATransmit()
    {
        using var meters = new TestMeters();
        MetricCollector<long> sent = meters.Collect<long>("tinyproto.sent.messages");
        MetricCollector<double> durations = meters.Collect<double>("tinyproto.operation.duration");
        var client = new TinyProtoConnection { Options = { MeterFactory = meters.Factory } };
        await StartPairAsync(client, new EchoConnection());

        await Bounded(client.RequestAsync("ping"u8.ToArray(), TimeoutToken).AsTask());

        Assert.Single(Of(durations, Client, "request"));
        Assert.Empty(Of(durations, Client, "transmit"));
        Assert.Equal(1, Sum(sent, Client));
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ARefusedTransmission_IsCountedAndTimedWithErrorTypeMessageRefused_AndItsBytesAreNot()
    {
        using var meters = new TestMeters();
        MetricCollector<long> sent = meters.Collect<long>("tinyproto.sent.messages");
        MetricCollector<long> sentBytes = meters.Collect<long>("tinyproto.sent.bytes");
        MetricCollector<double> durations = meters.Collect<double>("tinyproto.operation.duration");
        var client = new TinyProtoConnection { Options = { MeterFactory = meters.Factory } };
        var server = new TinyProtoConnection { Options = { MaxMessageSize = 4 } };
        await StartPairAsync(client, server);

        var refused = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.TransmitAsync(new byte[5], TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageRefused, refused.Error);

        CollectedMeasurement<long> count = Assert.Single(sent.GetMeasurementSnapshot());
        Assert.Equal(1, count.Value);
        Assert.Equal("message_refused", count.Tags["error.type"]);
        Assert.Empty(sentBytes.GetMeasurementSnapshot());
        CollectedMeasurement<double> transmit = Assert.Single(Of(durations, Client, "transmit"));
        Assert.Equal("message_refused", transmit.Tags["error.type"]);
    }

    [Fact]
    public async Task ATransmissionThatTimesOut_IsTimedUntilTheTimeout_WithErrorTypeTimeout()
    {
        using var meters = new TestMeters();
        MetricCollector<double> durations = meters.Collect<double>("tinyproto.operation.duration");
        var client = new TinyProtoConnection { Options = { MeterFactory = meters.Factory } };
        Microsoft.Extensions.Time.Testing.FakeTimeProvider time = UseFakeTime(client, TimeSpan.FromSeconds(2));
        await using RawPeer raw = await StartWithRawServerAsync(client);

        // The raw server never answers the header: the status timer ends the wait after 2 s of (fake) time.
        Task transmit = client.TransmitAsync("hello"u8.ToArray(), TimeoutToken).AsTask();
        TimeSpan passed = await AdvanceUntilAsync(time, transmit, TimeSpan.FromMilliseconds(250));
        var timeout = await Assert.ThrowsAsync<TinyProtoException>(() => transmit);
        Assert.Equal(TinyProtoError.Timeout, timeout.Error);

        CollectedMeasurement<double> duration = Assert.Single(Of(durations, Client, "transmit"));
        Assert.Equal("timeout", duration.Tags["error.type"]);
        Assert.InRange(duration.Value, 2.0, passed.TotalSeconds);
    }

    [Fact]
    public async Task AMessageTheConnectionsEndCutsShort_IsCountedAsReceivedWithWhatEndedIt_WithoutItsBytes()
    {
        using var meters = new TestMeters();
        MetricCollector<long> received = meters.Collect<long>("tinyproto.received.messages");
        MetricCollector<long> receivedBytes = meters.Collect<long>("tinyproto.received.bytes");
        MetricCollector<double> durations = meters.Collect<double>("tinyproto.operation.duration");
        var server = new TinyProtoConnection { Options = { MeterFactory = meters.Factory } };
        RawPeer raw = await StartWithRawClientAsync(server);

        await Bounded(raw.WriteAsync(RawPeer.Header(10)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync(1, 2, 3));
        await raw.DisposeAsync();

        // A peer that closes inside a message breaks rule 7: that is what ended the connection, and the message.
        TinyProtoException ended = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(server.Completion));
        Assert.Equal(TinyProtoError.ProtocolViolation, ended.Error);
        CollectedMeasurement<long> cut = Assert.Single(received.GetMeasurementSnapshot());
        Assert.Equal("protocol_violation", cut.Tags["error.type"]);
        Assert.Empty(receivedBytes.GetMeasurementSnapshot());
        Assert.Equal("protocol_violation", Assert.Single(Of(durations, Server, "receive")).Tags["error.type"]);
    }

    [Fact]
    public async Task AServersAndAClientsConnections_RecordOnTheirHostsMeter_WithTheServersAddressAndTheirRole()
    {
        using var meters = new TestMeters();
        MetricCollector<long> sent = meters.Collect<long>("tinyproto.sent.messages");
        MetricCollector<long> received = meters.Collect<long>("tinyproto.received.messages");
        await using var server = new TinyProtoServer { MeterFactory = meters.Factory };
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        await Bounded(connection.TransmitAsync("hi"u8.ToArray(), TimeoutToken).AsTask());
        await WaitUntilAsync(() => received.GetMeasurementSnapshot().Count == 1);

        CollectedMeasurement<long> byClient = Assert.Single(sent.GetMeasurementSnapshot());
        CollectedMeasurement<long> byServer = Assert.Single(received.GetMeasurementSnapshot());
        foreach ((CollectedMeasurement<long> measurement, string role) in new[] { (byClient, "client"), (byServer, "server") })
        {
            Assert.Equal("tcp", measurement.Tags["network.transport"]);
            Assert.Equal("127.0.0.1", measurement.Tags["server.address"]);
            Assert.Equal(port, measurement.Tags["server.port"]);
            Assert.Equal(role, measurement.Tags["tinyproto.role"]);
        }
    }

    [Fact]
    public async Task AConnectionsOwnMeterFactory_WinsOverItsHosts()
    {
        using var hostMeters = new TestMeters();
        using var ownMeters = new TestMeters();
        MetricCollector<long> onHost = hostMeters.Collect<long>("tinyproto.sent.messages");
        MetricCollector<long> onOwn = ownMeters.Collect<long>("tinyproto.sent.messages");
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { MeterFactory = hostMeters.Factory };
        client.ConnectionOptions.MeterFactory = ownMeters.Factory;
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        await Bounded(connection.TransmitAsync("hi"u8.ToArray(), TimeoutToken).AsTask());

        Assert.Single(onOwn.GetMeasurementSnapshot());
        Assert.Empty(onHost.GetMeasurementSnapshot());
    }

    private static long Sum(MetricCollector<long> collector, KeyValuePair<string, object?> role) =>
        collector.GetMeasurementSnapshot().Where(m => Equals(m.Tags["tinyproto.role"], role.Value)).Sum(m => m.Value);

    private static List<CollectedMeasurement<double>> Of(MetricCollector<double> durations, KeyValuePair<string, object?> role, string operation) =>
        durations.GetMeasurementSnapshot()
            .Where(m => Equals(m.Tags["tinyproto.role"], role.Value) && Equals(m.Tags["tinyproto.operation.name"], operation))
            .ToList();
}
