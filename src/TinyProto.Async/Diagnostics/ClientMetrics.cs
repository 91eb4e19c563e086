using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// A client's connection instruments on the <c>TinyProto.Async</c> meter, the mirror of <see cref="ServerMetrics"/>:
/// connections open now, how long each lasted, and connects that failed. Each measurement carries
/// <c>network.transport</c>, <c>server.address</c> and <c>server.port</c> (the server as the caller named it, as the
/// <c>tinyproto.connect</c> span does), and <c>error.type</c> where something failed. Read-only once made.
/// </summary>
internal sealed class ClientMetrics
{
    private readonly UpDownCounter<long> _active;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _failedConnects;

    public ClientMetrics(IMeterFactory? factory)
    {
        Meter meter = TinyProtoMeter.Get(factory);
        _active = meter.CreateUpDownCounter<long>("tinyproto.client.active_connections", "{connection}", "Connections the client has open now.");
        _duration = TinyProtoMeter.CreateDuration(meter, "tinyproto.client.connection.duration", "How long the client's connections lasted, from their handshake to their end.", TinyProtoMeter.ConnectionBuckets);
        _failedConnects = meter.CreateCounter<long>("tinyproto.client.failed_connects", "{connection}", "Connects that failed: the socket, the TLS or the opening handshake (error.type says how).");
    }

    /// <summary>The tags of a connect to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static TagList Tags(string host, int port) => new()
    {
        { "network.transport", "tcp" },
        { "server.address", host },
        { "server.port", port },
    };

    public void ConnectionStarted(in TagList tags) => _active.Add(1, tags);

    /// <summary>A connection that ended: one fewer open, its duration, and what ended it when that was an error.</summary>
    public void ConnectionEnded(TagList tags, TimeSpan duration, TinyProtoConnection connection) =>
        TinyProtoMeter.ConnectionEnded(_active, _duration, tags, duration, connection);

    public void ConnectFailed(TagList tags, Exception error)
    {
        if (_failedConnects.Enabled)
        {
            tags.Add("error.type", ErrorType.Of(error));
            _failedConnects.Add(1, tags);
        }
    }
}
