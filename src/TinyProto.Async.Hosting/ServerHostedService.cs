using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Runs one named server with the host: made and started when the host starts (after the host validated the options),
/// stopped gracefully when it stops, its stop timeout cut to fit within the host's <see cref="HostOptions.ShutdownTimeout"/>.
/// If the host's own stop deadline comes first, what is left of the drain is aborted and the stop returns; it never
/// throws for it. The stop also waits for its connections' DI scopes to be disposed.
/// </summary>
internal sealed class ServerHostedService(IServiceProvider services, string name) : IHostedService
{
    private TinyProtoServer? _server;

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
}
