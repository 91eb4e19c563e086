using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Reports a server's state: healthy while it listens (with its endpoints and connections), and the registration's
/// failure status while it starts, drains (stops, finishing what it accepted) or has stopped, so a load balancer
/// sends new clients elsewhere during a drain.
/// </summary>
internal sealed class TinyProtoServerHealthCheck(TinyProtoServer server, string name) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        TinyProtoServerState state = server.State;
        var data = new Dictionary<string, object>
        {
            ["state"] = state.ToString(),
            ["endpoints"] = string.Join(", ", server.BoundEndPoints),
            ["active_connections"] = server.ActiveConnections.Count,
        };
        string label = name.Length == 0 ? "The tinyproto server" : $"The tinyproto server '{name}'";
        HealthCheckResult result = state switch
        {
            TinyProtoServerState.Listening => HealthCheckResult.Healthy($"{label} is listening on {data["endpoints"]} with {data["active_connections"]} connections.", data),
            TinyProtoServerState.Stopping => new HealthCheckResult(context.Registration.FailureStatus, $"{label} is draining: it stopped accepting and its connections finish what they accepted.", data: data),
            TinyProtoServerState.Stopped => new HealthCheckResult(context.Registration.FailureStatus, $"{label} has stopped.", data: data),
            _ => new HealthCheckResult(context.Registration.FailureStatus, $"{label} is not listening yet.", data: data),
        };
        return Task.FromResult(result);
    }
}
