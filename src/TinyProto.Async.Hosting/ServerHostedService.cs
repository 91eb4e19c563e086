using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Runs one named server with the host: resolved and started when the host starts (so its options are validated
/// first), checked once every hosted service has started (a server with no endpoints must have a Kestrel endpoint by
/// then), stopped gracefully within the host's shutdown timeout, its connections' DI scopes drained.
/// </summary>
internal sealed class ServerHostedService(IServiceProvider services, string name) : IHostedLifecycleService
{
    private TinyProtoServer? _server;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _server = services.GetRequiredKeyedService<TinyProtoServer>(name);
        if (services.GetService<IOptions<HostOptions>>()?.Value.ShutdownTimeout is { } shutdown && shutdown > TimeSpan.Zero && shutdown < _server.StopTimeout)
        {
            // Leave the host a little time after the stop deadline to end the connections it aborts.
            _server.StopTimeout = shutdown * 0.8;
        }

        return _server.StartAsync(cancellationToken);
    }

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        // Kestrel configures its endpoints as it starts (UseTinyProto runs then), so this is the first moment to know.
        if (_server is { HasOwnAddresses: false, HandedListeners: 0 })
        {
            await _server.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"The tinyproto server {HostedServer.Label(name)} has nowhere to listen: its Endpoints are empty and no Kestrel endpoint hands it clients. " +
                $"Add an endpoint (\"Endpoints\": [ \"0.0.0.0:5000\" ]), or call listenOptions.UseTinyProto(\"{name}\") on a Kestrel endpoint (the TinyProto.Async.AspNetCore package).");
        }
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is null)
        {
            return;
        }

        try
        {
            await _server.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's deadline (shared by every hosted service) came before the server's: cut the rest short.
            _server.AbortConnections();
            await _server.Completion.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return;
        }

        try
        {
            await services.GetRequiredKeyedService<ScopedConnections>(HostedServer.KeyOf(name)).DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Out of time: the scopes still end, without the host waiting for them.
        }
    }

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
