// The chat sample: a server that relays lines between its clients, and a line-based client.
// Exit codes: 0 success, 1 failure (cannot listen or connect, connection lost), 2 bad arguments.
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;
using TinyProto.Async;
using TinyProto.Async.Redis;
using TinyProto.Async.ScaleOut;
using TinyProto.Samples.Chat;

const string Usage = """
    Usage:
      TinyProto.Samples.Chat server --port P [--host H] [--redis CONFIG] [--proxy-from CIDRS] [--server-name NAME] [--quiet]
      TinyProto.Samples.Chat client --port P [--host H] [--name NAME] [--reconnect]

    The client transmits each line of its standard input and prints every message that arrives;
    it exits when its input ends or the server goes away. '/nick NAME' sets the name others see.

    Several servers behind HAProxy: give each the same --redis, so a line reaches members on every
    server, and --proxy-from with HAProxy's address (send-proxy-v2), so each sees its clients' own
    addresses. SIGTERM drains a server: it finishes the lines it accepted, declines new ones, and its
    --reconnect clients carry on through HAProxy on another server, sending the declined lines again.

    Options:
      --host H            address to listen on or connect to (default 127.0.0.1)
      --port P            TCP port, 0..65535 for the server (0 picks a free one), 1..65535 for a client
      --redis CONFIG      the backplane: a StackExchange.Redis configuration (127.0.0.1:6379);
                          without it the server relays among its own members only
      --proxy-from CIDRS  take a PROXY protocol header (v1 or v2) from these proxies only, comma-separated
                          addresses or networks (127.0.0.1, 10.0.0.0/8)
      --server-name NAME  what the server calls itself in welcomes (default: its process id)
      --quiet             the server does not print members' lines (only joins, leaves and problems)
      --name NAME         the client's name (default: a short id the server picks)
      --reconnect         the client reconnects when the connection ends, instead of exiting
    """;

if (args is ["-h" or "--help" or "help", ..])
{
    Console.WriteLine(Usage);
    return 0;
}

return await SampleHost.RunAsync(Usage, async () =>
{
    switch (args.FirstOrDefault())
    {
        case "server":
        {
            var options = Arguments.Parse(args.AsSpan(1), ["--host", "--port", "--redis", "--proxy-from", "--server-name"], ["--quiet"]);
            return await RunServerAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 0, 65535),
                options.GetOptionalString("--redis"),
                options.GetOptionalString("--proxy-from"),
                options.GetString("--server-name", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                options.HasFlag("--quiet"));
        }

        case "client":
        {
            var options = Arguments.Parse(args.AsSpan(1), ["--host", "--port", "--name"], ["--reconnect"]);
            string host = options.GetString("--host", "127.0.0.1");
            int port = options.GetInt("--port", 1, 65535);
            string? name = options.GetOptionalString("--name");
            return options.HasFlag("--reconnect") ? await RunReconnectingClientAsync(host, port, name) : await RunClientAsync(host, port, name);
        }

        case null:
            throw new UsageException("a command is needed");

        default:
            throw new UsageException($"unknown command '{args[0]}' (expected 'server' or 'client')");
    }
});

static async Task<int> RunServerAsync(string host, int port, string? redis, string? proxyFrom, string serverName, bool quiet)
{
    TinyProtoProxyProtocolOptions? proxy = proxyFrom is null ? null : ParseProxies(proxyFrom);
    ITinyProtoBackplane backplane;
    if (redis is null)
    {
        backplane = new InMemoryBackplane();
    }
    else
    {
        try
        {
            backplane = await RedisBackplane.ConnectAsync(redis, new StderrLogger("backplane", Microsoft.Extensions.Logging.LogLevel.Information));
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"--redis: {ex.Message}");
        }
        catch (RedisConnectionException ex)
        {
            Console.Error.WriteLine($"error: cannot connect to Redis at {redis}: {ex.Message}");
            return 1;
        }
    }

    // Disposed in the reverse order: the server stops (drains) first, publishing every line it accepted, then the fan-out
    // and the backplane.
    await using var disposeBackplane = backplane as IAsyncDisposable;
    // Problems only, on standard error: a member closed for falling behind, a connection that failed.
    await using var fanOut = new TinyProtoFanOut(backplane, channelPrefix: "chat", logger: new StderrLogger("fan-out"));
    await using var server = new ChatServer(fanOut, serverName, quiet, new StderrLogger("server"));
    server.AddAddress(host, port, proxy);
    return await SampleHost.ServeUntilShutdownAsync(server);
}

static TinyProtoProxyProtocolOptions ParseProxies(string text)
{
    var options = new TinyProtoProxyProtocolOptions();
    foreach (string proxy in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
    {
        try
        {
            options.Trust(proxy);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"--proxy-from: {ex.Message}");
        }
    }

    return options.TrustedProxies.Count > 0 ? options : throw new UsageException("--proxy-from names no proxy (addresses or networks, comma-separated)");
}

static async Task<int> RunClientAsync(string host, int port, string? name)
{
    await using var client = new TinyProtoClient();
    client.SetConnectionHandler(() => new ChatClientConnection(name));
    TinyProtoConnection? connection;
    try
    {
        Guid id = await client.ConnectToAsync(host, port);
        if (!client.ActiveConnections.TryGetValue(id, out connection))
        {
            Console.Error.WriteLine($"error: the server at {host}:{port} closed the connection right after it opened");
            return 1;
        }
    }
    catch (Exception ex) when (ex is SocketException or TinyProtoException)
    {
        Console.Error.WriteLine($"error: cannot connect to {host}:{port}: {ex.Message}");
        return 1;
    }

    // Console.ReadLine blocks its thread, so it runs on its own while Completion tells us if the server goes away.
    Task typing = Task.Run(async () =>
    {
        while (Console.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                await connection.TransmitAsync(Encoding.UTF8.GetBytes(line));
            }
        }
    });

    if (await Task.WhenAny(typing, connection.Completion) == typing)
    {
        await typing; // A failed transmission (the connection broke) is reported as any other error.
        await connection.CloseAsync();
        return 0;
    }

    try
    {
        await connection.Completion;
        Console.Error.WriteLine("* the server closed the connection");
        return 0;
    }
    catch (TinyProtoException ex)
    {
        Console.Error.WriteLine($"error: connection lost: {ex.Message}");
        return 1;
    }
}

static async Task<int> RunReconnectingClientAsync(string host, int port, string? name)
{
    await using var client = new TinyProtoClient();
    client.SetConnectionHandler(() => new ChatClientConnection(name));
    TinyProtoReconnectingConnection connection;
    try
    {
        connection = await client.ConnectReconnectingAsync(host, port);
    }
    catch (Exception ex) when (ex is SocketException or TinyProtoException)
    {
        Console.Error.WriteLine($"error: cannot connect to {host}:{port}: {ex.Message}");
        return 1;
    }

    connection.Disconnected += (_, e) => Console.Error.WriteLine($"* disconnected ({e.Reason}); reconnecting");
    connection.Reconnected += (_, e) => Console.Error.WriteLine($"* reconnected after {e.Outage.TotalSeconds:0.0} s");

    // A line the server declined while it stopped (0xFD) is sent again on the next connection; one that failed
    // otherwise is reported, and the next line goes on.
    Task typing = Task.Run(async () =>
    {
        while (Console.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                try
                {
                    await connection.TransmitAsync(Encoding.UTF8.GetBytes(line));
                }
                catch (TinyProtoException ex)
                {
                    Console.Error.WriteLine($"! not sent: {line} ({ex.Message})");
                }
            }
        }
    });

    if (await Task.WhenAny(typing, connection.Completion) == typing)
    {
        await typing;
        await connection.CloseAsync();
        return 0;
    }

    try
    {
        await connection.Completion;
        return 0;
    }
    catch (TinyProtoException ex)
    {
        Console.Error.WriteLine($"error: gave up reconnecting: {ex.Message}");
        return 1;
    }
}
