namespace TinyProto.Async.LoadTest;

/// <summary><c>server</c>: an echo (or <c>--sink</c>) server that runs until Ctrl+C or SIGTERM, then stops gracefully and prints its totals.</summary>
internal static class ServerCommand
{
    public static async Task<int> RunAsync(string host, int port, bool sink)
    {
        var statistics = new ServerStatistics();
        using var shutdown = new ShutdownSignal();
        await using var server = new TinyProtoServer(new StderrLogger("server"));
        server.AddAddress(host, port);
        server.SetConnectionHandler(() => new ServerConnection(statistics, sink));
        await server.StartAsync();

        // Scripts wait for this line, and read the port from it when started with --port 0.
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
        Console.WriteLine($"server: {statistics}");
        return statistics.Errors == 0 ? 0 : 1;
    }
}
