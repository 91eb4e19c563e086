using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TinyProto.Async.Hosting;

/// <summary>Health checks for hosted tinyproto servers.</summary>
public static class TinyProtoHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a check of the tinyproto server named <paramref name="serverName"/>: healthy while it listens;
    /// <paramref name="failureStatus"/> while it starts, drains (a stop in progress: it accepts no one and finishes what it
    /// accepted) or has stopped, so that a load balancer's readiness probe sends new clients elsewhere.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="serverName">The name given to <c>AddTinyProtoServer</c>; empty for the default.</param>
    /// <param name="checkName">The check's name; by default <c>tinyproto</c>, or <c>tinyproto-NAME</c>.</param>
    /// <param name="failureStatus">What a server that does not listen reports. Default: <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for instance <c>ready</c>).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="serverName"/> is null.</exception>
    public static IHealthChecksBuilder AddTinyProtoServer(this IHealthChecksBuilder builder, string serverName = "", string? checkName = null,
        HealthStatus failureStatus = HealthStatus.Unhealthy, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(serverName);
        return builder.Add(new HealthCheckRegistration(
            checkName ?? (serverName.Length == 0 ? "tinyproto" : $"tinyproto-{serverName}"),
            provider => new TinyProtoServerHealthCheck(provider.GetRequiredKeyedService<TinyProtoServer>(serverName), serverName),
            failureStatus,
            tags));
    }
}
