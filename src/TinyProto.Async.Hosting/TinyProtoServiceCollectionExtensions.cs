using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>Registers tinyproto servers and clients in a service collection, run by the .NET generic host.</summary>
public static class TinyProtoServiceCollectionExtensions
{
    /// <summary>
    /// Adds a tinyproto server named <paramref name="name"/> that runs <typeparamref name="TConnection"/> for each client,
    /// started and stopped (gracefully) with the host. Bind its options from configuration with the returned builder:
    /// <c>services.AddTinyProtoServer&lt;EchoConnection&gt;("echo").BindConfiguration("TinyProto:Servers:echo")</c>;
    /// they are validated when the host starts.
    /// </summary>
    /// <remarks>
    /// <para>Each connection is made by <see cref="ActivatorUtilities"/> in a DI scope of its own, disposed when the
    /// connection ends: its constructor may take scoped services. The server logs through the container's
    /// <c>ILoggerFactory</c> and times with its <see cref="TimeProvider"/>, if it has one.</para>
    /// <para>The server is a keyed singleton: <c>[FromKeyedServices("echo")] TinyProtoServer</c>; the one with the
    /// empty name (the default) also without a key. Several named servers may run in one host.</para>
    /// </remarks>
    /// <typeparam name="TConnection">The connection class; its constructor's parameters come from the container.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The server's name: its options' name and its key. Empty by default.</param>
    /// <param name="configureServer">Sets what configuration does not hold (TLS, plugins), once the server is made from its options.</param>
    /// <returns>The builder of the server's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is null.</exception>
    /// <exception cref="InvalidOperationException">A server of that name was added before.</exception>
    public static OptionsBuilder<TinyProtoServerOptions> AddTinyProtoServer<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(
        this IServiceCollection services, string name = "", Action<IServiceProvider, TinyProtoServer>? configureServer = null)
        where TConnection : TinyProtoConnection =>
        services.AddTinyProtoServer<TinyProtoServer, TConnection>(name, configureServer);

    /// <summary>
    /// As <see cref="AddTinyProtoServer{TConnection}(IServiceCollection, string, Action{IServiceProvider, TinyProtoServer}?)"/>,
    /// with a server class of yours (its hooks: <c>ConnectionInitAsync</c>, <c>ConnectionShutdownAsync</c>, the main
    /// loop), made by <see cref="ActivatorUtilities"/>; give it a constructor that takes an <c>ILoggerFactory</c> to log.
    /// </summary>
    /// <typeparam name="TServer">The server class.</typeparam>
    /// <typeparam name="TConnection">The connection class.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The server's name: its options' name and its key.</param>
    /// <param name="configureServer">Sets what configuration does not hold (TLS, plugins).</param>
    /// <returns>The builder of the server's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is null.</exception>
    /// <exception cref="InvalidOperationException">A server of that name was added before.</exception>
    public static OptionsBuilder<TinyProtoServerOptions> AddTinyProtoServer<
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TServer,
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(
        this IServiceCollection services, string name = "", Action<IServiceProvider, TServer>? configureServer = null)
        where TServer : TinyProtoServer
        where TConnection : TinyProtoConnection
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        if (services.Any(d => d.IsKeyedService && d.ServiceType == typeof(TinyProtoServer) && Equals(d.ServiceKey, name)))
        {
            throw new InvalidOperationException($"A tinyproto server named '{name}' was added already; give each server a name of its own.");
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TinyProtoServerOptions>, TinyProtoServerOptionsValidator>());
        services.AddKeyedSingleton<TinyProtoServer>(name, (provider, _) => HostedServer.Create<TServer, TConnection>(provider, name, configureServer));
        if (typeof(TServer) != typeof(TinyProtoServer))
        {
            // The same server as its own class too: [FromKeyedServices(name)] MyServer.
            services.AddKeyedSingleton<TServer>(name, (provider, key) => (TServer)provider.GetRequiredKeyedService<TinyProtoServer>(key));
        }
        if (name.Length == 0)
        {
            services.TryAddSingleton(provider => provider.GetRequiredKeyedService<TinyProtoServer>(string.Empty));
        }

        services.AddKeyedSingleton(HostedServer.KeyOf(name), (provider, _) => new ScopedConnections(provider.GetRequiredService<IServiceScopeFactory>()));
        services.AddSingleton<IHostedService>(provider => new ServerHostedService(provider, name));
        return services.AddOptions<TinyProtoServerOptions>(name).ValidateOnStart();
    }

    /// <summary>
    /// Adds an injectable <see cref="TinyProtoClient"/> named <paramref name="name"/> (a keyed singleton; the default,
    /// empty name also without a key), made from options that the returned builder binds, validated when the host
    /// starts. With <see cref="TinyProtoClientOptions.Server"/> set, a <see cref="TinyProtoReconnectingConnection"/> to
    /// that server is registered the same way: connected in the background when the host starts (calls wait for it
    /// within their timeout), closed when the host stops.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name: its options' name and its key. Empty by default.</param>
    /// <param name="configureClient">Sets what configuration does not hold (TLS, a connection handler, plugins).</param>
    /// <returns>The builder of the client's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is null.</exception>
    /// <exception cref="InvalidOperationException">A client of that name was added before.</exception>
    public static OptionsBuilder<TinyProtoClientOptions> AddTinyProtoClient(this IServiceCollection services, string name = "",
        Action<IServiceProvider, TinyProtoClient>? configureClient = null) =>
        services.AddTinyProtoClient<TinyProtoConnection>(name, configureClient);

    /// <summary>
    /// As <see cref="AddTinyProtoClient(IServiceCollection, string, Action{IServiceProvider, TinyProtoClient}?)"/>, each
    /// connection a <typeparamref name="TConnection"/> made by <see cref="ActivatorUtilities"/> in a DI scope of its own.
    /// </summary>
    /// <typeparam name="TConnection">The connection class.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name: its options' name and its key.</param>
    /// <param name="configureClient">Sets what configuration does not hold (TLS, plugins).</param>
    /// <returns>The builder of the client's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is null.</exception>
    /// <exception cref="InvalidOperationException">A client of that name was added before.</exception>
    public static OptionsBuilder<TinyProtoClientOptions> AddTinyProtoClient<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(
        this IServiceCollection services, string name = "", Action<IServiceProvider, TinyProtoClient>? configureClient = null)
        where TConnection : TinyProtoConnection
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        if (services.Any(d => d.IsKeyedService && d.ServiceType == typeof(TinyProtoClient) && Equals(d.ServiceKey, name)))
        {
            throw new InvalidOperationException($"A tinyproto client named '{name}' was added already; give each client a name of its own.");
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TinyProtoClientOptions>, TinyProtoClientOptionsValidator>());
        services.AddKeyedSingleton<TinyProtoClient>(name, (provider, _) => HostedClient.Create<TConnection>(provider, name, configureClient));
        services.AddKeyedSingleton<TinyProtoReconnectingConnection>(name, (provider, _) => HostedClient.CreateReconnecting(provider, name));
        if (name.Length == 0)
        {
            services.TryAddSingleton(provider => provider.GetRequiredKeyedService<TinyProtoClient>(string.Empty));
            services.TryAddSingleton(provider => provider.GetRequiredKeyedService<TinyProtoReconnectingConnection>(string.Empty));
        }

        services.AddKeyedSingleton(HostedClient.KeyOf(name), (provider, _) => new ScopedConnections(provider.GetRequiredService<IServiceScopeFactory>()));
        services.AddSingleton<IHostedService>(provider => new HostedClient.Runner(provider, name));
        return services.AddOptions<TinyProtoClientOptions>(name).ValidateOnStart();
    }
}
