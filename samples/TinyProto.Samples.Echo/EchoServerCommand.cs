using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary><c>server</c>: an echo server that runs until Ctrl+C or SIGTERM, then stops gracefully.</summary>
internal static class EchoServerCommand
{
    public static async Task<int> RunAsync(string host, int port, int? connectionLimit)
    {
        using var shutdown = new ShutdownSignal();
        await using var server = new TinyProtoServer { ConnectionLimit = connectionLimit };
        server.AddAddress(host, port);
        server.SetConnectionHandler<EchoConnection>();
        await server.StartAsync();

        // Scripts wait for this line (and read the port from it when started with --port 0).
        foreach (var endPoint in server.BoundEndPoints)
        {
            Console.WriteLine($"listening on {endPoint}");
        }

        Console.Out.Flush();

        try
        {
            await Task.Delay(Timeout.Infinite, shutdown.Token);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM.
        }

        Console.WriteLine("stopping");
        await server.StopAsync();
        return 0;
    }
}
