using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace TinyProto.Async.Tests;

/// <summary>
/// The server's meter (<c>TinyProto.Async</c>, from the container's <see cref="IMeterFactory"/>): connections open now,
/// how long each lasted, those refused at a limit and failed handshakes, each with the listener's address and port.
/// </summary>
public sealed class ServerMetricsTests : ConnectionTestBase
{
    [Fact]
    public async Task AConnection_CountsAsActiveWhileOpen_AndRecordsItsDuration_WithTheListenersAddress()
    {
        using ServiceProvider container = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var recorded = new Recorded(container.GetRequiredService<IMeterFactory>());
        await using var server = new TinyProtoServer { MeterFactory = container.GetRequiredService<IMeterFactory>() };
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await WaitUntilAsync(() => recorded.Sum("tinyproto.server.active_connections") == 1);

        await connection.CloseAsync(TimeoutToken);
        await WaitUntilAsync(() => recorded.Sum("tinyproto.server.active_connections") == 0 && recorded.Count("tinyproto.server.connection.duration") == 1);
        Recorded.Measurement duration = recorded.Of("tinyproto.server.connection.duration").Single();
        Assert.InRange(duration.Value, 0, 10);
        Assert.Equal("tcp", duration.Tags["network.transport"]);
        Assert.Equal("127.0.0.1", duration.Tags["server.address"]);
        Assert.Equal(port, duration.Tags["server.port"]);
        Assert.False(duration.Tags.ContainsKey("error.type"));
    }

    [Fact]
    public async Task ARefusalAtTheConnectionLimit_IsCounted_WithWhichLimit()
    {
        using ServiceProvider container = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var recorded = new Recorded(container.GetRequiredService<IMeterFactory>());
        await using var server = new TinyProtoServer { ConnectionLimit = 1, MeterFactory = container.GetRequiredService<IMeterFactory>() };
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        await WaitUntilAsync(() => recorded.Count("tinyproto.server.rejected_connections") == 1);
        Assert.Equal("connection_limit", recorded.Of("tinyproto.server.rejected_connections").Single().Tags["error.type"]);
    }

    [Fact]
    public async Task AFailedHandshake_IsCounted_WithItsErrorType()
    {
        using ServiceProvider container = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var recorded = new Recorded(container.GetRequiredService<IMeterFactory>());
        await using var server = new TinyProtoServer { MeterFactory = container.GetRequiredService<IMeterFactory>() };
        int port = await StartLoopbackAsync(server);
        await using (RawPeer raw = await ConnectRawAsync(port))
        {
            await raw.WriteAsync(0x42);
            await raw.ReadToEndAsync();
        }

        await WaitUntilAsync(() => recorded.Count("tinyproto.server.failed_handshakes") == 1);
        Assert.Equal("handshake_failed", recorded.Of("tinyproto.server.failed_handshakes").Single().Tags["error.type"]);
        Assert.Equal(0, recorded.Sum("tinyproto.server.active_connections"));
    }

    /// <summary>Every measurement of the meters one factory made.</summary>
    private sealed class Recorded : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Instrument, Measurement Value)> _all = new();

        public Recorded(IMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        public sealed record Measurement(double Value, Dictionary<string, object?> Tags);

        public IEnumerable<Measurement> Of(string instrument) => _all.Where(m => m.Instrument == instrument).Select(m => m.Value);

        public int Count(string instrument) => Of(instrument).Count();

        public double Sum(string instrument) => Of(instrument).Sum(m => m.Value);

        public void Dispose() => _listener.Dispose();

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>();
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            _all.Enqueue((instrument.Name, new Measurement(value, copy)));
        }
    }
}
