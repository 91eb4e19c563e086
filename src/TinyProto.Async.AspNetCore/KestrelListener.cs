using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using TinyProto.Async.Transport;

namespace TinyProto.Async.AspNetCore;

/// <summary>
/// One Kestrel endpoint that hands its connections to a <see cref="TinyProtoServer"/>: each <see cref="ConnectionContext"/>
/// is served by the server as one of its own clients. Made once per <c>UseTinyProto</c> call; holds nothing per connection.
/// </summary>
/// <param name="server">The server that serves the endpoint's clients.</param>
/// <param name="handler">Makes this endpoint's connections, or null for the server's own handler.</param>
internal sealed class KestrelListener(TinyProtoServer server, Func<TinyProtoConnection>? handler)
{
    /// <summary>Serves one Kestrel connection until it ends: Kestrel's connection delegate.</summary>
    public Task OnConnectedAsync(ConnectionContext context)
    {
        // Kestrel's stop asks each connection to close (then aborts them at its shutdown timeout): stop this one gracefully.
        CancellationToken closeRequested = context.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        var peer = new HandedPeer(context.Transport, context.LocalEndPoint, context.RemoteEndPoint,
            () => context.Abort(new ConnectionAbortedException("The tinyproto connection was aborted (a stop deadline, or a write that made no progress).")));
        return server.ServeHandedAsync(peer, handler, closeRequested);
    }
}
