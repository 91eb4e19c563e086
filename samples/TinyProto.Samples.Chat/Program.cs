// The chat sample: a server that relays lines between its clients, and a line-based client.
// Exit codes: 0 success, 1 failure (cannot listen or connect, connection lost), 2 bad arguments.
using System.Net.Sockets;
using System.Text;
using TinyProto.Async;
using TinyProto.Samples.Chat;

const string Usage = """
    Usage:
      TinyProto.Samples.Chat server --port P [--host H]
      TinyProto.Samples.Chat client --port P [--host H] [--name NAME]

    The client transmits each line of its standard input and prints every message that arrives;
    it exits when its input ends or the server goes away. '/nick NAME' sets the name others see.

    Options:
      --host H      address to listen on or connect to (default 127.0.0.1)
      --port P      TCP port, 0..65535 for the server (0 picks a free one), 1..65535 for a client
      --name NAME   the client's name (default: a short id the server picks)
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
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port");
            return await RunServerAsync(options.GetString("--host", "127.0.0.1"), options.GetInt("--port", 0, 65535));
        }

        case "client":
        {
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port", "--name");
            return await RunClientAsync(options.GetString("--host", "127.0.0.1"), options.GetInt("--port", 1, 65535), options.GetOptionalString("--name"));
        }

        case null:
            throw new UsageException("a command is needed");

        default:
            throw new UsageException($"unknown command '{args[0]}' (expected 'server' or 'client')");
    }
});

static async Task<int> RunServerAsync(string host, int port)
{
    await using var server = new ChatServer();
    server.AddAddress(host, port);
    return await SampleHost.ServeUntilShutdownAsync(server);
}

static async Task<int> RunClientAsync(string host, int port, string? name)
{
    await using var client = new TinyProtoClient();
    client.SetConnectionHandler<ChatClientConnection>();
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

    if (name is not null)
    {
        await connection.TransmitAsync(Encoding.UTF8.GetBytes("/nick " + name));
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
