using System.Net;

namespace TinyProto.Async;

/// <summary>Making connections that reconnect (<see cref="TinyProtoReconnectingConnection"/>).</summary>
public partial class TinyProtoClient
{
    /// <summary>
    /// Connects as <see cref="ConnectAsync"/> does, and returns a connection that a service can hold for its life: it
    /// reconnects whenever the connection ends, as <see cref="Reconnect"/> says, and its operations wait for the next
    /// connection during an outage (<see cref="TinyProtoReconnectingConnection"/>). The first connection is tried as
    /// the later ones are, so a server that is not up yet is waited for.
    /// </summary>
    /// <param name="host">An IP address or host name.</param>
    /// <param name="port">The server's port, 1..65535.</param>
    /// <param name="cancellationToken">Cancels the first connection's attempts.</param>
    /// <returns>The reconnecting connection, connected.</returns>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is outside 1..65535.</exception>
    /// <exception cref="TinyProtoException"><see cref="TinyProtoError.NotConnected"/>: <see cref="TinyProtoReconnectOptions.MaxAttempts"/> attempts failed, or the client was stopped.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<TinyProtoReconnectingConnection> ConnectReconnectingAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        TinyProtoReconnectingConnection connection = CreateReconnecting(host, port);
        await connection.StartAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// Makes a reconnecting connection without starting it, so that handlers can be attached to its events before the
    /// first attempt; then call its <see cref="TinyProtoReconnectingConnection.StartAsync"/> (wait for the first
    /// connection) or <see cref="TinyProtoReconnectingConnection.Start"/> (connect in the background).
    /// </summary>
    /// <param name="host">An IP address or host name.</param>
    /// <param name="port">The server's port, 1..65535.</param>
    /// <returns>The reconnecting connection, not started.</returns>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is outside 1..65535.</exception>
    public TinyProtoReconnectingConnection CreateReconnecting(string host, int port)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        return new TinyProtoReconnectingConnection(this, host, port, _reconnect.Clone(), Timeout, _factory.Options.TimeProvider, _logger);
    }
}
