namespace TinyProto.Async.LoadTest;

/// <summary><c>server</c>: an echo (or <c>--sink</c>) server that runs until Ctrl+C or SIGTERM, then stops gracefully and prints its totals.</summary>
internal static class ServerCommand
{
    public static async Task<int> RunAsync(string host, int port, bool sink)
    {
        var statistics = new ServerStatistics();
        await using var server = new TinyProtoServer(new StderrLogger("server"));
        server.AddAddress(host, port);

        // The load tool's workloads go up to the protocol maximum (its connection streams what it does not buffer).
        server.ConnectionOptions.MaxMessageSize = TinyProtoConnectionOptions.ProtocolMaxMessageSize;
        server.SetConnectionHandler(() => new ServerConnection(statistics, sink));
        await SampleHost.ServeUntilShutdownAsync(server);
        Console.WriteLine($"server: {statistics}");
        return statistics.Errors == 0 ? 0 : 1;
    }
}
