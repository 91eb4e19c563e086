using System.ComponentModel.DataAnnotations;

namespace TinyProto.Async.Hosting;

/// <summary>
/// The settings of an injectable <see cref="TinyProtoClient"/>, bound from configuration (for instance
/// <c>TinyProto:Clients:NAME</c>) and checked when the host starts. With <see cref="Server"/> set, a
/// <see cref="TinyProtoReconnectingConnection"/> to it is registered too, connected in the background when the host
/// starts and closed when it stops.
/// </summary>
public sealed class TinyProtoClientOptions
{
    /// <summary>The server a reconnecting connection goes to, <c>HOST:PORT</c>; null for none (the client alone).</summary>
    [Endpoints(MinPort = 1)]
    public string? Server { get; set; }

    /// <summary>Connecting, the handshakes and each status wait (<see cref="TinyProtoClient.Timeout"/>); also how long a call waits out an outage. Default: 5 seconds.</summary>
    [TimeSpanRange("00:00:00.001", "49.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a connection may be idle (<see cref="TinyProtoConnectionOptions.IdleTimeout"/>); null for no limit (the default).</summary>
    [TimeSpanRange("00:00:00.001", "49.00:00:00")]
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>The largest incoming message (<see cref="TinyProtoConnectionOptions.MaxMessageSize"/>). Default: 64 MiB.</summary>
    [Range(0L, TinyProtoConnectionOptions.ProtocolMaxMessageSize)]
    public long MaxMessageSize { get; set; } = TinyProtoConnectionOptions.DefaultMaxMessageSize;

    /// <summary>Ask for pipelined mode (<see cref="TinyProtoConnectionOptions.RequestPipelining"/>); only towards TinyProto.Async servers. Default: false.</summary>
    public bool RequestPipelining { get; set; }

    /// <summary>The wait before the first reconnect attempt, doubled by each failure (<see cref="TinyProtoReconnectOptions.InitialDelay"/>). Default: 200 ms.</summary>
    [TimeSpanRange("00:00:00", "49.00:00:00")]
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between attempts (<see cref="TinyProtoReconnectOptions.MaxDelay"/>). Default: 30 seconds.</summary>
    [TimeSpanRange("00:00:00", "49.00:00:00")]
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How much of each wait may be cut at random, 0 to 1 (<see cref="TinyProtoReconnectOptions.Jitter"/>). Default: 0.5.</summary>
    [Range(0.0, 1.0)]
    public double ReconnectJitter { get; set; } = 0.5;

    /// <summary>Failed attempts in a row before giving up (<see cref="TinyProtoReconnectOptions.MaxAttempts"/>); null for ever (the default).</summary>
    [Range(1, int.MaxValue)]
    public int? ReconnectMaxAttempts { get; set; }
}
