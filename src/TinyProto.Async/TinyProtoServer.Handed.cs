using System.Net;
using TinyProto.Async.Transport;

namespace TinyProto.Async;

/// <summary>
/// Peers another server accepted and handed over (the AspNetCore package's Kestrel endpoints): which listeners hand them,
/// waiting for this server to listen, and a graceful stop of one connection when that server asks it to close. They are
/// then served as the server's own sockets are (<c>TinyProtoServer.Accept.cs</c>).
/// </summary>
public partial class TinyProtoServer
{
    /// <summary>
    /// Whether another server (Kestrel) hands peers to this one, so that it may start with no address of its own: set by
    /// the host that registered it with no endpoints, before it starts.
    /// </summary>
    internal bool ServesHandedPeers { get; set; }

    /// <summary>Whether the server has addresses of its own to listen on.</summary>
    internal bool HasOwnAddresses => _addresses.Count > 0;

    /// <summary>How many of another server's listeners hand peers to this one.</summary>
    internal int HandedListeners
    {
        get
        {
            lock (_boundEndPoints)
            {
                return _handedEndPoints.Count;
            }
        }
    }

    /// <summary>Records a listener of another server that hands peers to this one, and where it listens once bound.</summary>
    internal void AddHandedListener(Func<EndPoint?> endPoint)
    {
        lock (_boundEndPoints)
        {
            _handedEndPoints.Add(endPoint);
        }
    }

    /// <summary>
    /// Serves a peer that another server accepted and handed over (the Kestrel adapter): the same admission limits,
    /// handshake, hooks, <see cref="ActiveConnections"/>, metrics and graceful stop as the server's own sockets. Waits for
    /// the server to start (up to the handshake's timeout); a server that is not running closes the transport.
    /// <paramref name="closeRequested"/> (the other server is stopping) stops the connection gracefully, as
    /// <see cref="StopAsync"/> does, and aborts it after <see cref="StopTimeout"/>. Returns once the connection has ended
    /// and <see cref="ConnectionShutdownAsync"/> has run; it throws nothing.
    /// </summary>
    /// <param name="peer">The handed transport.</param>
    /// <param name="handler">Makes the connection for this peer, or null for the server's own handler.</param>
    /// <param name="closeRequested">Cancelled when the server that accepted the peer asks its connections to close.</param>
    internal async Task ServeHandedAsync(HandedPeer peer, Func<TinyProtoConnection>? handler, CancellationToken closeRequested)
    {
        if (!await WaitUntilAcceptingAsync(closeRequested).ConfigureAwait(false))
        {
            Log.HandedWhileNotRunning(_logger, peer.RemoteEndPoint?.ToString(), State);
            peer.Close();
            return;
        }

        Task serving = ServeAsync(peer, handler, closeRequested);
        Track(serving);
        await serving.ConfigureAwait(false);
    }

    /// <summary>Waits for the accept loops to start; false when the server stops or fails to start first, or within a handshake's timeout.</summary>
    private async Task<bool> WaitUntilAcceptingAsync(CancellationToken closeRequested)
    {
        if (Volatile.Read(ref _accepting) && Volatile.Read(ref _state) == 1)
        {
            return true;
        }

        TimeSpan bound = ConnectionOptions.Timeout;
        try
        {
            await Task.WhenAny(_accepted.Task, _stopped.Task).WaitAsync(bound == System.Threading.Timeout.InfiniteTimeSpan ? TimeSpan.FromSeconds(30) : bound, closeRequested).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return false;
        }

        return _accepted.Task.IsCompleted && Volatile.Read(ref _state) == 1;
    }

    /// <summary>
    /// Stops one connection gracefully, as <see cref="StopAsync"/> stops them all: what it accepted is still delivered
    /// and answered, and it is aborted if it has not ended within <see cref="StopTimeout"/>.
    /// </summary>
    private void StopOne(TinyProtoConnection connection)
    {
        connection.BeginStop();
        _ = AbortIfNotEndedAsync(connection, _stopTimeout);
    }

    private async Task AbortIfNotEndedAsync(TinyProtoConnection connection, TimeSpan deadline)
    {
        if (await Task.WhenAny(connection.Completion, Task.Delay(deadline)).ConfigureAwait(false) != connection.Completion)
        {
            Log.Aborted(_logger, connection.Id);
            connection.Abort();
        }
    }
}
