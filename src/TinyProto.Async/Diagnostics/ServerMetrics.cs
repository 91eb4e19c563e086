using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// A server's instruments on the <c>TinyProto.Async</c> meter, named after Kestrel's connection metrics
/// (OpenTelemetry semantic conventions): connections open now, how long each lasted, and those refused. Each
/// measurement carries <c>network.transport</c>, <c>server.address</c> and <c>server.port</c> (the listener's), and
/// <c>error.type</c> where something failed. Nothing is recorded per message: nothing here is on a message's path.
/// </summary>
internal sealed class ServerMetrics
{
    /// <summary>The meter's name, also of a <see cref="Meter"/> made without a factory.</summary>
    public const string MeterName = "TinyProto.Async";

    private static readonly Lazy<Meter> s_shared = new(() => new Meter(MeterName, typeof(ServerMetrics).Assembly.GetName().Version?.ToString()));

    private readonly UpDownCounter<long> _active;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _failedHandshakes;

    public ServerMetrics(IMeterFactory? factory)
    {
        Meter meter = factory?.Create(new MeterOptions(MeterName)) ?? s_shared.Value;
        _active = meter.CreateUpDownCounter<long>("tinyproto.server.active_connections", "{connection}", "Connections open on the server now.");
        _duration = meter.CreateHistogram<double>("tinyproto.server.connection.duration", "s", "How long connections lasted, from their handshake to their end.");
        _rejected = meter.CreateCounter<long>("tinyproto.server.rejected_connections", "{connection}", "Connections refused at a limit (error.type says which).");
        _failedHandshakes = meter.CreateCounter<long>("tinyproto.server.failed_handshakes", "{connection}", "Accepted sockets whose TLS or opening handshake failed.");
    }

    /// <summary>The tags of a listener: its transport, address and port.</summary>
    public static TagList Tags(EndPoint? local)
    {
        var tags = new TagList { { "network.transport", "tcp" } };
        if (local is IPEndPoint ip)
        {
            tags.Add("server.address", ip.Address.ToString());
            tags.Add("server.port", ip.Port);
        }

        return tags;
    }

    public void ConnectionStarted(in TagList tags) => _active.Add(1, tags);

    /// <summary>A connection that ended: one fewer open, its duration, and what ended it when that was an error.</summary>
    public void ConnectionEnded(TagList tags, TimeSpan duration, TinyProtoConnection connection)
    {
        _active.Add(-1, tags);
        if (_duration.Enabled)
        {
            if (connection.CloseReason == TinyProtoCloseReason.Failed)
            {
                tags.Add("error.type", ErrorType(connection.CloseError));
            }

            _duration.Record(duration.TotalSeconds, tags);
        }
    }

    /// <summary>A connection refused at a limit: <c>connection_limit</c>, <c>address_limit</c> or <c>pending_handshakes_limit</c>.</summary>
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
            tags.Add("error.type", ErrorType(error));
            _failedHandshakes.Add(1, tags);
        }
    }

    /// <summary>The error's kind, low-cardinality: a <see cref="TinyProtoError"/> in snake case, else the exception's type.</summary>
    private static string ErrorType(Exception? error) => error switch
    {
        TinyProtoException tp => tp.Error switch
        {
            TinyProtoError.HandshakeFailed => "handshake_failed",
            TinyProtoError.ConnectionLimitReached => "connection_limit",
            TinyProtoError.MessageRefused => "message_refused",
            TinyProtoError.MessageTooLarge => "message_too_large",
            TinyProtoError.ConnectionClosed => "connection_closed",
            TinyProtoError.Timeout => "timeout",
            TinyProtoError.ProtocolViolation => "protocol_violation",
            TinyProtoError.NotConnected => "not_connected",
            _ => "other",
        },
        null => "other",
        _ => error.GetType().FullName ?? "other",
    };
}
