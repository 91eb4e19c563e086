using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// A server's instruments on the <c>TinyProto.Async</c> meter, named after Kestrel's connection metrics
/// (OpenTelemetry semantic conventions): connections open now, how long each lasted, and those refused. Each
/// measurement carries <c>network.transport</c>, <c>server.address</c> and <c>server.port</c> (the listener's), and
/// <c>error.type</c> where something failed. Nothing here is on a message's path: a connection records its messages
/// on <see cref="MessageMetrics"/>.
/// </summary>
internal sealed class ServerMetrics
{
    private readonly UpDownCounter<long> _active;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _failedHandshakes;

    public ServerMetrics(IMeterFactory? factory)
    {
        Meter meter = TinyProtoMeter.Get(factory);
        _active = meter.CreateUpDownCounter<long>("tinyproto.server.active_connections", "{connection}", "Connections open on the server now.");
        _duration = TinyProtoMeter.CreateDuration(meter, "tinyproto.server.connection.duration", "How long connections lasted, from their handshake to their end.", TinyProtoMeter.ConnectionBuckets);
        _rejected = meter.CreateCounter<long>("tinyproto.server.rejected_connections", "{connection}", "Connections refused at a limit (error.type says which).");
        _failedHandshakes = meter.CreateCounter<long>("tinyproto.server.failed_handshakes", "{connection}", "Accepted sockets whose TLS or opening handshake failed.");
    }

    /// <summary>The tags of a listener: its transport, address and port.</summary>
    public static TagList Tags(EndPoint? local)
    {
        var tags = new TagList { { "network.transport", TransportOf(local) } };
        if (local is IPEndPoint ip)
        {
            tags.Add("server.address", ip.Address.ToString());
            tags.Add("server.port", ip.Port);
        }

        return tags;
    }

    /// <summary>The <c>network.transport</c> of a listener's endpoint: <c>unix</c> for a Unix domain socket (Kestrel's <c>ListenUnixSocket</c>), else <c>tcp</c>.</summary>
    public static string TransportOf(EndPoint? local) => local is System.Net.Sockets.UnixDomainSocketEndPoint ? "unix" : "tcp";

    public void ConnectionStarted(in TagList tags) => _active.Add(1, tags);

    /// <summary>A connection that ended: one fewer open, its duration, and what ended it when that was an error.</summary>
    public void ConnectionEnded(TagList tags, TimeSpan duration, TinyProtoConnection connection) =>
        TinyProtoMeter.ConnectionEnded(_active, _duration, tags, duration, connection);

    /// <summary>
    /// A connection refused: at a limit (<c>connection_limit</c>, <c>address_limit</c>, <c>pending_handshakes_limit</c>), or
    /// on a PROXY protocol address, from an untrusted source (<c>untrusted_proxy</c>) or for its header (<c>proxy_header</c>).
    /// </summary>
    public void Rejected(TagList tags, string limit)
    {
        if (_rejected.Enabled)
        {
            tags.Add("error.type", limit);
            _rejected.Add(1, tags);
        }
    }

    public void HandshakeFailed(TagList tags, Exception error)
    {
        if (_failedHandshakes.Enabled)
        {
            tags.Add("error.type", ErrorType.Of(error));
            _failedHandshakes.Add(1, tags);
        }
    }
}
