using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.AspNetCore;

/// <summary>Serves tinyproto on a Kestrel endpoint: <c>listenOptions.UseTinyProto("chat")</c>.</summary>
public static class TinyProtoConnectionBuilderExtensions
{
    /// <summary>
    /// Hands every connection of this Kestrel endpoint to the tinyproto server named <paramref name="serverName"/>,
    /// registered with <c>services.AddTinyProtoServer&lt;TConnection&gt;(serverName)</c> (its <c>Endpoints</c> may be
    /// empty: Kestrel listens for it). The server serves them as its own clients: its admission limits
    /// (<c>ConnectionLimit</c> and the others), <c>ConnectionInitAsync</c>/<c>ConnectionShutdownAsync</c>,
    /// <c>ActiveConnections</c>, connection options, plugins, logging and metrics; Kestrel's endpoint appears in its
    /// <c>BoundEndPoints</c> once bound. When the host stops, Kestrel asks each connection to close and the server stops
    /// it gracefully (what it accepted is still delivered and answered), aborting it after the server's <c>StopTimeout</c>.
    /// </summary>
    /// <remarks>
    /// Kestrel owns the socket: for TLS, call <c>listenOptions.UseHttps(...)</c> before this (the server's own
    /// <c>TlsOptions</c> apply to its own endpoints, and a server with <c>TlsOptions</c> is refused here, so that a
    /// Kestrel endpoint is never plain by mistake). Kestrel's socket options (keepalive, <c>NoDelay</c>) are its own.
    /// Call this last on the endpoint: nothing after it runs.
    /// </remarks>
    /// <param name="builder">The endpoint's connection builder (<c>ListenOptions</c>).</param>
    /// <param name="serverName">The server's name, as given to <c>AddTinyProtoServer</c>; empty by default.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="serverName"/> is null.</exception>
    /// <exception cref="InvalidOperationException">No server of that name is registered, or it has <c>TlsOptions</c>.</exception>
    public static IConnectionBuilder UseTinyProto(this IConnectionBuilder builder, string serverName = "") =>
        Use(builder, serverName, null);

    /// <summary>
    /// As <see cref="UseTinyProto(IConnectionBuilder, string)"/>, each of this endpoint's clients served by a
    /// <typeparamref name="TConnection"/> made through dependency injection in a scope of its own (disposed when the
    /// connection ends), instead of the server's own connection class: one server's limits and hooks over endpoints that
    /// speak different application protocols.
    /// </summary>
    /// <typeparam name="TConnection">The connection class; its constructor's parameters come from the container.</typeparam>
    /// <param name="builder">The endpoint's connection builder (<c>ListenOptions</c>).</param>
    /// <param name="serverName">The server's name, as given to <c>AddTinyProtoServer</c>; empty by default.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="serverName"/> is null.</exception>
    /// <exception cref="InvalidOperationException">No server of that name is registered, or it has <c>TlsOptions</c>.</exception>
    public static IConnectionBuilder UseTinyProto<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(
        this IConnectionBuilder builder, string serverName = "")
        where TConnection : TinyProtoConnection
    {
        return Use(builder, serverName, static (services, name) => HostedServer.ScopedFactory<TConnection>(services, name));
    }

    private static IConnectionBuilder Use(IConnectionBuilder builder, string serverName, Func<IServiceProvider, string, Func<TinyProtoConnection>>? makeHandler)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(serverName);
        TinyProtoServer server = builder.ApplicationServices.GetKeyedService<TinyProtoServer>(serverName)
            ?? throw new InvalidOperationException(
                $"No tinyproto server named {HostedServer.Label(serverName)} is registered. Add it with builder.Services.AddTinyProtoServer<TConnection>(\"{serverName}\") " +
                "(its Endpoints may be empty: Kestrel listens for it).");
        if (server.TlsOptions is not null)
        {
            throw new InvalidOperationException(
                $"The tinyproto server {HostedServer.Label(serverName)} has TlsOptions, which apply only to its own endpoints: Kestrel owns this endpoint's socket. " +
                "Put TLS on the Kestrel endpoint with listenOptions.UseHttps(...) before UseTinyProto, and leave the server's TlsOptions unset.");
        }

        ListenOptions? listen = builder as ListenOptions;
        server.AddHandedListener(() => listen?.EndPoint);
        var listener = new KestrelListener(server, makeHandler?.Invoke(builder.ApplicationServices, serverName));
        builder.Run(listener.OnConnectedAsync);
        return builder;
    }
}
