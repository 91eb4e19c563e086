using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Makes one named server from its options and the container: the server (yours, made by <see cref="ActivatorUtilities"/>),
/// its addresses and limits, the container's <see cref="ILoggerFactory"/> and <see cref="TimeProvider"/>, and a
/// connection class made through the container for each connection, in a scope of its own that ends with it.
/// </summary>
internal static class HostedServer
{
    public static TServer Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TServer, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(IServiceProvider services, string name, Action<IServiceProvider, TServer>? configure)
        where TServer : TinyProtoServer
        where TConnection : TinyProtoConnection
    {
        TinyProtoServerOptions options = services.GetRequiredService<IOptionsMonitor<TinyProtoServerOptions>>().Get(name);
        var server = typeof(TServer) == typeof(TinyProtoServer)
            ? (TServer)new TinyProtoServer(services.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance)
            : ActivatorUtilities.CreateInstance<TServer>(services);
        foreach (string text in options.Endpoints)
        {
            // Validated at start (ValidateOnStart); a server made before that still refuses a bad endpoint clearly.
            if (!HostEndpoint.TryParse(text, out HostEndpoint endpoint, out string? error))
            {
                throw new OptionsValidationException(name, typeof(TinyProtoServerOptions), [$"Endpoints: '{text}' is not HOST:PORT ({error})."]);
            }

            server.AddAddress(endpoint.Host, endpoint.Port);
        }

        // It may start with no endpoints of its own, to serve what Kestrel hands it (the AspNetCore package's UseTinyProto):
        // once every hosted service has started, one with neither fails the start (ServerHostedService.StartedAsync).
        server.ServesHandedPeers = true;
        server.ConnectionLimit = options.ConnectionLimit;
        server.MaxConnectionsPerRemoteAddress = options.MaxConnectionsPerRemoteAddress;
        server.MaxPendingHandshakes = options.MaxPendingHandshakes;
        server.StopTimeout = options.StopTimeout;
        TinyProtoConnectionOptions connection = server.ConnectionOptions;
        connection.Timeout = options.Timeout;
        connection.AcceptPipelining = options.AcceptPipelining;
        Configure(connection, options.IdleTimeout, options.MaxMessageSize, services);
        server.MeterFactory = services.GetService<System.Diagnostics.Metrics.IMeterFactory>();
        ScopedConnections scopes = services.GetRequiredKeyedService<ScopedConnections>(KeyOf(name));
        server.SetConnectionHandler(scopes.Create<TConnection>);
        configure?.Invoke(services, server);
        return server;
    }

    /// <summary>The connection settings a hosted server and client share: from their options, and the container's clock.</summary>
    public static void Configure(TinyProtoConnectionOptions connection, TimeSpan? idleTimeout, long maxMessageSize, IServiceProvider services)
    {
        connection.IdleTimeout = idleTimeout ?? Timeout.InfiniteTimeSpan;
        connection.MaxMessageSize = maxMessageSize;
        connection.TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System;
    }

    /// <summary>Makes each <typeparamref name="TConnection"/> of the server named <paramref name="name"/> in a DI scope of its own (drained when the server's hosted service stops).</summary>
    public static Func<TinyProtoConnection> ScopedFactory<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(IServiceProvider services, string name)
        where TConnection : TinyProtoConnection =>
        (services.GetKeyedService<ScopedConnections>(KeyOf(name))
            ?? throw new InvalidOperationException($"The tinyproto server {Label(name)} was not registered with AddTinyProtoServer, which makes its connections through DI: register it so, or use UseTinyProto without a connection class.")).Create<TConnection>;

    /// <summary>How messages name a server: <c>'echo'</c>, or <c>"" (the unnamed one)</c>.</summary>
    public static string Label(string name) => name.Length == 0 ? "\"\" (the unnamed one)" : $"'{name}'";

    /// <summary>The key of a server's own services beside the server (its connections' scopes).</summary>
    public static string KeyOf(string name) => "TinyProto.Async.Hosting server " + name;
}
