using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Makes one named client from its options and the container (its <see cref="ILoggerFactory"/>, <see cref="TimeProvider"/>
/// and <see cref="System.Diagnostics.Metrics.IMeterFactory"/>), and runs its reconnecting connection with the host.
/// </summary>
internal static class HostedClient
{
    public static TinyProtoClient Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(
        IServiceProvider services, string name, Action<IServiceProvider, TinyProtoClient>? configure)
        where TConnection : TinyProtoConnection
    {
        TinyProtoClientOptions options = services.GetRequiredService<IOptionsMonitor<TinyProtoClientOptions>>().Get(name);
        var client = new TinyProtoClient(services.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance)
        {
            Timeout = options.Timeout,
            Reconnect = new TinyProtoReconnectOptions
            {
                InitialDelay = options.ReconnectInitialDelay,
                MaxDelay = options.ReconnectMaxDelay,
                Jitter = options.ReconnectJitter,
                MaxAttempts = options.ReconnectMaxAttempts,
            },
        };
        client.ConnectionOptions.RequestPipelining = options.RequestPipelining;
        HostedServer.Configure(client.ConnectionOptions, options.IdleTimeout, options.MaxMessageSize, services);
        client.MeterFactory = services.GetService<System.Diagnostics.Metrics.IMeterFactory>();
        if (typeof(TConnection) != typeof(TinyProtoConnection))
        {
            ScopedConnections scopes = services.GetRequiredKeyedService<ScopedConnections>(KeyOf(name));
            client.SetConnectionHandler(scopes.Create<TConnection>);
        }

        configure?.Invoke(services, client);
        return client;
    }

    public static TinyProtoReconnectingConnection CreateReconnecting(IServiceProvider services, string name)
    {
        TinyProtoClientOptions options = services.GetRequiredService<IOptionsMonitor<TinyProtoClientOptions>>().Get(name);
        if (!HostEndpoint.TryParse(options.Server, out HostEndpoint server, out string? error))
        {
            throw new InvalidOperationException(options.Server is null
                ? $"The tinyproto client '{name}' has no Server in its options (TinyProtoClientOptions.Server, HOST:PORT): it has no reconnecting connection."
                : $"The tinyproto client '{name}': Server '{options.Server}' is not HOST:PORT ({error}).");
        }

        return services.GetRequiredKeyedService<TinyProtoClient>(name).CreateReconnecting(server.Host, server.Port);
    }

    /// <summary>The key of a client's own services beside the client (its connections' scopes).</summary>
    public static string KeyOf(string name) => "TinyProto.Async.Hosting client " + name;

    /// <summary>
    /// Starts the reconnecting connection (in the background: the host does not wait for the server) and closes it
    /// and the client at the stop. Resolves nothing before the start, so the host has validated the options first;
    /// stops only what it started.
    /// </summary>
    internal sealed class Runner(IServiceProvider services, string name) : IHostedService
    {
        private TinyProtoClient? _client;
        private TinyProtoReconnectingConnection? _connection;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _client = services.GetRequiredKeyedService<TinyProtoClient>(name);
            if (services.GetRequiredService<IOptionsMonitor<TinyProtoClientOptions>>().Get(name).Server is not null)
            {
                _connection = services.GetRequiredKeyedService<TinyProtoReconnectingConnection>(name);
                _connection.Start();
            }

            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (_client is null)
            {
                return;
            }

            if (_connection is not null)
            {
                await _connection.CloseAsync(cancellationToken).ConfigureAwait(false);
            }

            await _client.StopAsync(cancellationToken).ConfigureAwait(false);
            await services.GetRequiredKeyedService<ScopedConnections>(KeyOf(name)).DrainAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
