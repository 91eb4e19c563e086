using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary><c>server</c>: an echo server that runs until Ctrl+C or SIGTERM, then stops gracefully.</summary>
internal static class EchoServerCommand
{
    public static async Task<int> RunAsync(string host, int port, int? connectionLimit)
    {
        await using var server = new TinyProtoServer { ConnectionLimit = connectionLimit };
        server.AddAddress(host, port);
        server.SetConnectionHandler<EchoConnection>();
        return await SampleHost.ServeUntilShutdownAsync(server);
    }
}
