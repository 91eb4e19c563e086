namespace TinyProto.Async.Benchmarks;

/// <summary>
/// A started server on a free loopback port and one client connection to it: what the connection-level benchmarks
/// make in their setup and dispose in their cleanup.
/// </summary>
internal sealed class LoopbackPair : IAsyncDisposable
{
    private LoopbackPair(TinyProtoServer server, TinyProtoClient client, TinyProtoConnection connection)
    {
        Server = server;
        Client = client;
        Connection = connection;
    }

    public TinyProtoServer Server { get; }

    public TinyProtoClient Client { get; }

    public TinyProtoConnection Connection { get; }

    /// <summary>Starts <paramref name="server"/> (configured by the caller) and connects <paramref name="client"/> to it.</summary>
    public static async Task<LoopbackPair> StartAsync(TinyProtoServer server, TinyProtoClient client)
    {
        int port = await LoopbackServer.StartAsync(server);
        TinyProtoConnection connection = await client.ConnectAsync(LoopbackServer.Host, port);
        return new LoopbackPair(server, client, connection);
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}
