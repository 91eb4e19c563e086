using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// A client's meter (<c>TinyProto.Async</c>, from its <see cref="TinyProtoClient.MeterFactory"/>): connections open now,
/// how long each lasted and connects that failed, each with the server as the caller named it, the mirror of the server's.
/// </summary>
public sealed class ClientMetricsTests : ConnectionTestBase
{
    [Fact]
    public async Task AConnection_CountsAsActiveWhileOpen_AndRecordsItsDuration_WithTheServerAsNamed()
    {
        using var meters = new TestMeters();
        MetricCollector<long> active = meters.Collect<long>("tinyproto.client.active_connections");
        MetricCollector<double> duration = meters.Collect<double>("tinyproto.client.connection.duration");
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };

        TinyProtoConnection connection = await Bounded(client.ConnectAsync("localhost", port, TimeoutToken));
        Assert.Equal(1, active.GetMeasurementSnapshot().Sum(m => m.Value));
        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());

        Assert.Equal(0, active.GetMeasurementSnapshot().Sum(m => m.Value));
        CollectedMeasurement<double> lasted = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.InRange(lasted.Value, 0, 10);
        Assert.Equal("tcp", lasted.Tags["network.transport"]);
        Assert.Equal("localhost", lasted.Tags["server.address"]);
        Assert.Equal(port, lasted.Tags["server.port"]);
        Assert.False(lasted.Tags.ContainsKey("error.type"));
    }

    [Fact]
    public async Task AConnectionAnErrorEnded_RecordsItsDurationWithTheErrorType()
    {
        using var meters = new TestMeters();
        MetricCollector<double> duration = meters.Collect<double>("tinyproto.client.connection.duration");
        using System.Net.Sockets.Socket listener = ListenOnLoopback(out int port);
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };
        Task<TinyProtoConnection> connecting = client.ConnectAsync("127.0.0.1", port, TimeoutToken);
        using System.Net.Sockets.Socket accepted = await listener.AcceptAsync(TimeoutToken);
        await using var raw = new RawPeer(accepted, TimeoutToken);
        await Bounded(raw.OpenAsServerAsync());
        TinyProtoConnection connection = await Bounded(connecting);

        // A status no message of the client's awaits breaks the protocol (rule 4).
        await Bounded(raw.WriteAsync(0xFF));
        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.Completion));

        Assert.Equal("protocol_violation", Assert.Single(duration.GetMeasurementSnapshot()).Tags["error.type"]);
    }

    [Fact]
    public async Task ARefusedConnect_IsCountedAsFailed_WithTheSocketError()
    {
        using var meters = new TestMeters();
        MetricCollector<long> failed = meters.Collect<long>("tinyproto.client.failed_connects");
        MetricCollector<long> active = meters.Collect<long>("tinyproto.client.active_connections");
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };
        int port = FreeLoopbackPort();

        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));

        CollectedMeasurement<long> refused = Assert.Single(failed.GetMeasurementSnapshot());
        Assert.Equal("connection_refused", refused.Tags["error.type"]);
        Assert.Equal(port, refused.Tags["server.port"]);
        Assert.Empty(active.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task AConnectAServerAtItsLimitRefuses_IsCountedAsFailed_WithConnectionLimit()
    {
        using var meters = new TestMeters();
        MetricCollector<long> failed = meters.Collect<long>("tinyproto.client.failed_connects");
        await using var server = new TinyProtoServer { ConnectionLimit = 1 };
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };
        await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));

        Assert.Equal("connection_limit", Assert.Single(failed.GetMeasurementSnapshot()).Tags["error.type"]);
    }

    [Fact]
    public async Task AConnectItsCallerCancelled_IsNotCountedAsFailed()
    {
        using var meters = new TestMeters();
        MetricCollector<long> failed = meters.Collect<long>("tinyproto.client.failed_connects");
        using System.Net.Sockets.Socket listener = ListenOnLoopback(out int port);
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };
        using var cancel = new CancellationTokenSource();

        // The listener accepts nothing, so the opening handshake waits until the caller gives up.
        Task connecting = client.ConnectAsync("127.0.0.1", port, cancel.Token);
        await Task.Delay(50, TimeoutToken);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(connecting));
        Assert.Empty(failed.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task AReconnectingConnection_RecordsOnItsClientsMeter()
    {
        using var meters = new TestMeters();
        MetricCollector<long> active = meters.Collect<long>("tinyproto.client.active_connections");
        MetricCollector<long> sent = meters.Collect<long>("tinyproto.sent.messages");
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { MeterFactory = meters.Factory };

        await using TinyProtoReconnectingConnection connection = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.TransmitAsync("hi"u8.ToArray(), TimeoutToken).AsTask());

        Assert.Equal(1, active.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, sent.GetMeasurementSnapshot().Sum(m => m.Value));
    }
}
