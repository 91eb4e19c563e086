using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Runs one named server with the host: started when the host starts, stopped gracefully when it stops, within the
/// host's <see cref="HostOptions.ShutdownTimeout"/> (the server's stop timeout is cut to fit it).
/// </summary>
internal sealed class ServerHostedService(TinyProtoServer server, IOptions<HostOptions>? hostOptions) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (hostOptions?.Value.ShutdownTimeout is { } shutdown && shutdown > TimeSpan.Zero && shutdown < server.StopTimeout)
        {
            // Leave the host a little time after the stop deadline to end the connections it aborts.
            server.StopTimeout = shutdown * 0.8;
        }

        return server.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => server.StopAsync(cancellationToken);
}
