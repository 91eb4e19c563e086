#pragma warning disable CA1848, CA1873 // README code: the plain logging calls a reader writes, not LoggerMessage delegates.

using System.Net.Security;
using System.Text;
using Microsoft.Extensions.Logging;

namespace TinyProto.Async.Tests.Readme;

// The code of the README's "Using it from a service" section, compiled and run by ReadmeSnippetTests. Each
// <readme:NAME> region is a README code block, word for word (ReadmeSnippetTests checks that too).

/// <summary>A service's client of a key-value store served over tinyproto, as the README shows it.</summary>
// <readme:reconnecting-client>
public sealed class StoreClient : IAsyncDisposable
{
    private readonly TinyProtoClient _client;
    private readonly ILogger _logger;
    private TinyProtoReconnectingConnection? _store;

    public StoreClient(ILogger<StoreClient> logger, SslClientAuthenticationOptions? tls = null)
    {
        _logger = logger;
        _client = new TinyProtoClient
        {
            Timeout = TimeSpan.FromSeconds(5),   // connect, handshakes, each status; also how long a call waits out an outage
            TlsOptions = tls,                     // null: plain TCP
            Reconnect = new TinyProtoReconnectOptions
            {
                InitialDelay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromSeconds(10),
                MaxAttempts = null,               // for ever; a number makes Completion fault after that many in a row
            },
        };
        _client.ConnectionOptions.IdleTimeout = TimeSpan.FromMinutes(5);       // a peer that went silent
        _client.ConnectionOptions.TcpKeepAliveTime = TimeSpan.FromSeconds(30); // a host that vanished
    }

    public async Task StartAsync(string host, int port, CancellationToken cancellationToken)
    {
        // Waits for the server if it is not up yet (cancel the token to give up).
        _store = await _client.ConnectReconnectingAsync(host, port, cancellationToken);
        _store.Disconnected += (_, e) => _logger.LogWarning(e.Error, "Store connection lost ({Reason})", e.Reason);
        _store.Reconnected += (_, e) => _logger.LogInformation("Store connection back after {Outage}", e.Outage);
    }

    public async Task<string?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            byte[] reply = await _store!.RequestAsync(Encoding.UTF8.GetBytes($"GET {key}"), TimeSpan.FromSeconds(2), cancellationToken);
            string text = Encoding.UTF8.GetString(reply);
            return text.StartsWith("OK ", StringComparison.Ordinal) ? text[3..] : null;
        }
        catch (TinyProtoException ex) when (ex.Error == TinyProtoError.NotConnected)
        {
            // No connection within the 2 s: nothing was sent, so trying again later is safe.
            throw new InvalidOperationException($"The store is unavailable: {ex.Message}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        await _client.DisposeAsync();
    }
}
// </readme:reconnecting-client>

/// <summary>The README's other service snippets, as methods the tests call.</summary>
internal static class ServiceSnippets
{
    public static async Task<string> RequestReplyAsync(int port, CancellationToken cancellationToken)
    {
        // <readme:request-reply>
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await client.ConnectAsync("127.0.0.1", port, cancellationToken);

        // Safe from many callers at once; a request that gets no reply in 2 s throws Timeout and closes the connection.
        byte[] reply = await connection.RequestAsync("GET greeting"u8.ToArray(), TimeSpan.FromSeconds(2), cancellationToken);
        // </readme:request-reply>
        return Encoding.UTF8.GetString(reply);
    }

    public static TinyProtoServer ServerForAnOpenPort(SslServerAuthenticationOptions? tls)
    {
        // <readme:server-limits>
        var server = new TinyProtoServer
        {
            TlsOptions = tls,                          // null: plain TCP
            ConnectionLimit = 10_000,
            MaxConnectionsPerRemoteAddress = 100,
            MaxPendingHandshakes = 1_000,
            StopTimeout = TimeSpan.FromSeconds(10),    // graceful stop: accepted messages are still answered
        };
        server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(5);          // handshakes, statuses, stalled messages
        server.ConnectionOptions.IdleTimeout = TimeSpan.FromMinutes(5);      // silent peers give their slot back
        server.ConnectionOptions.TcpKeepAliveTime = TimeSpan.FromSeconds(60); // vanished hosts (the default)
        // </readme:server-limits>
        return server;
    }
}
