using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>
/// What the server or client that made a connection sets on it before it starts. Each member is written once, before
/// the handshake, by that host alone, and only read by the connection after that.
/// </summary>
public partial class TinyProtoConnection
{
    /// <summary>
    /// Runs once, synchronously, when a started connection has ended, after <see cref="PostLoopAsync"/> and just before
    /// <see cref="Completion"/> completes: a host drops the connection from its <c>ActiveConnections</c> here, so no one
    /// who awaited <see cref="Completion"/> can still find it listed. It must not throw.
    /// </summary>
    internal Action? Ending { get; set; }

    /// <summary>Where the connection logs when its options name no <see cref="TinyProtoConnectionOptions.Logger"/>: its host's connection logger.</summary>
    internal ILogger? HostLogger { get; set; }

    /// <summary>Where the connection records its messages when its options name no <see cref="TinyProtoConnectionOptions.MeterFactory"/>: its host's meter.</summary>
    internal Diagnostics.MessageMetrics? HostMetrics { get; set; }

    /// <summary>
    /// The server as a client's caller named it (host and port), for the <c>server.address</c> and <c>server.port</c> of
    /// the connection's metrics (the OpenTelemetry conventions want the name, not the address it resolved to).
    /// </summary>
    internal (string Host, int Port)? ServerName { get; set; }

    /// <summary>
    /// Whether <see cref="Options"/> was assigned. A host gives its own <c>ConnectionOptions</c> (a copy) only to a
    /// connection whose handler did not assign options of its own.
    /// </summary>
    internal bool OptionsWereSet { get; private set; }

    /// <summary>
    /// Server role: asked once the client's opening byte is read and valid, just before the answer. False makes the
    /// handshake answer <c>0xFE</c> (the connection limit) and fail with <see cref="TinyProtoError.ConnectionLimitReached"/>.
    /// </summary>
    internal Func<bool>? Admit { get; set; }

    /// <summary>Whether the connection is closing or has ended, or its peer closed: a host that hands out connections skips it.</summary>
    internal bool IsEnding => _completion.Task.IsCompleted || _lifetime.IsClosingNow() || _lifetime.InputEndedNow();

    /// <summary>Whether a graceful stop began (its server is stopping it): headers from now on are declined.</summary>
    internal bool IsStopping => _lifetime.StoppingNow();

    /// <summary>Whether the caller runs on some connection's hook loop, where waiting for that connection to end would wait for itself.</summary>
    internal static bool OnAHookLoop => s_hookLoopOwner.Value is not null;
}
