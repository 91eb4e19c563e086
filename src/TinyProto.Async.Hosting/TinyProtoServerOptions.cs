using System.ComponentModel.DataAnnotations;

namespace TinyProto.Async.Hosting;

/// <summary>
/// The settings of a hosted <see cref="TinyProtoServer"/>, bound from configuration (for instance the section
/// <c>TinyProto:Servers:NAME</c>) and checked when the host starts: a bad value stops the start with a message that names
/// it. Anything else (TLS, plugins) is set in code, by the <c>configureServer</c> callback of <c>AddTinyProtoServer</c>.
/// </summary>
/// <example>
/// <code>
/// "TinyProto": { "Servers": { "echo": { "Endpoints": [ "0.0.0.0:5000", "[::]:5000" ], "ConnectionLimit": 1000, "IdleTimeout": "00:05:00" } } }
/// </code>
/// </example>
public sealed class TinyProtoServerOptions
{
    /// <summary>
    /// Where to listen, each <c>HOST:PORT</c> (an IP address or a host name; <c>[::1]:PORT</c> for IPv6; port 0 picks a
    /// free one). Empty for a server that listens only through Kestrel (the AspNetCore package's
    /// <c>listenOptions.UseTinyProto(name)</c>); a server with neither fails the host's start.
    /// </summary>
    [Required]
    [Endpoints]
    public IList<string> Endpoints { get; set; } = [];

    /// <summary>The most connections served at once (<see cref="TinyProtoServer.ConnectionLimit"/>); null for no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? ConnectionLimit { get; set; }

    /// <summary>The most connections from one IP address (<see cref="TinyProtoServer.MaxConnectionsPerRemoteAddress"/>); null for no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? MaxConnectionsPerRemoteAddress { get; set; }

    /// <summary>The most sockets in their opening handshake at once (<see cref="TinyProtoServer.MaxPendingHandshakes"/>); null for no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? MaxPendingHandshakes { get; set; }

    /// <summary>
    /// How long a stop lets connections finish what they accepted (<see cref="TinyProtoServer.StopTimeout"/>); at most
    /// the host's <c>HostOptions.ShutdownTimeout</c> is used. Default: 5 seconds.
    /// </summary>
    [TimeSpanRange("00:00:00", "1.00:00:00")]
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The limit of every wait a peer controls (<see cref="TinyProtoConnectionOptions.Timeout"/>). Default: 5 seconds.</summary>
    [TimeSpanRange("00:00:00.001", "49.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a connection may be idle (<see cref="TinyProtoConnectionOptions.IdleTimeout"/>); null for no limit (the default).</summary>
    [TimeSpanRange("00:00:00.001", "49.00:00:00")]
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>The largest incoming message (<see cref="TinyProtoConnectionOptions.MaxMessageSize"/>). Default: 64 MiB.</summary>
    [Range(0L, TinyProtoConnectionOptions.ProtocolMaxMessageSize)]
    public long MaxMessageSize { get; set; } = TinyProtoConnectionOptions.DefaultMaxMessageSize;

    /// <summary>Whether clients may have pipelined mode (<see cref="TinyProtoConnectionOptions.AcceptPipelining"/>). Default: true.</summary>
    public bool AcceptPipelining { get; set; } = true;
}
