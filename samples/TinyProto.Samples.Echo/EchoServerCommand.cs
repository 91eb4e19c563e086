using System.Globalization;
using System.Net.Security;
using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary><c>server</c>: an echo server (over TLS with <c>--tls-cert</c>) that runs until Ctrl+C or SIGTERM, then stops gracefully.</summary>
internal static class EchoServerCommand
{
    /// <summary>The server's limits, each null when not given on the command line (the library's default then).</summary>
    internal sealed record Limits(int? ConnectionLimit, int? MaxConnectionsPerAddress, int? MaxPendingHandshakes, long? MaxMessageSize,
        int? TimeoutSeconds = null, int? IdleTimeoutSeconds = null);

    public static async Task<int> RunAsync(string host, int port, Limits limits, SslServerAuthenticationOptions? tls = null)
    {
        await using var server = new TinyProtoServer(new StderrLogger())
        {
            TlsOptions = tls,
            ConnectionLimit = limits.ConnectionLimit,
            MaxConnectionsPerRemoteAddress = limits.MaxConnectionsPerAddress,
            MaxPendingHandshakes = limits.MaxPendingHandshakes,
        };
        if (limits.MaxMessageSize is long maxMessageSize)
        {
            server.ConnectionOptions.MaxMessageSize = maxMessageSize;
        }

        if (limits.TimeoutSeconds is int timeout)
        {
            server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(timeout);
        }

        if (limits.IdleTimeoutSeconds is int idle)
        {
            server.ConnectionOptions.IdleTimeout = TimeSpan.FromSeconds(idle);
        }

        server.AddAddress(host, port);
        server.SetConnectionHandler<EchoConnection>();
        return await SampleHost.ServeUntilShutdownAsync(server);
    }

    /// <summary>Reads <c>--max-message-size</c>: 0 up to the protocol's maximum, which is above what an int holds.</summary>
    /// <exception cref="UsageException">The value is not a whole number in range.</exception>
    public static long? ParseMaxMessageSize(string? text)
    {
        const string Name = "--max-message-size";
        if (text is null)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
        {
            throw new UsageException($"{Name} must be a whole number of bytes, not '{text}'");
        }

        return value <= TinyProtoConnectionOptions.ProtocolMaxMessageSize
            ? value
            : throw new UsageException($"{Name} must be between 0 and {TinyProtoConnectionOptions.ProtocolMaxMessageSize} (0xF0FFFFFF, the protocol's maximum), not {value}");
    }
}
