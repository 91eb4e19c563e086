using System.Net.Sockets;
using TinyProto.Async;

namespace TinyProto.Samples;

/// <summary>What both samples do the same way: exit codes for errors, and serving until Ctrl+C or SIGTERM.</summary>
internal static class SampleHost
{
    /// <summary>Runs a command; bad arguments exit 2 with the usage text, connection errors exit 1 with their message.</summary>
    public static async Task<int> RunAsync(string usage, Func<Task<int>> command)
    {
        try
        {
            return await command();
        }
        catch (UsageException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            Console.Error.WriteLine();
            Console.Error.WriteLine(usage);
            return 2;
        }
        catch (Exception ex) when (ex is TinyProtoException or SocketException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }
    }

    /// <summary>Starts <paramref name="server"/>, prints <c>listening on ENDPOINT</c> per endpoint, serves until Ctrl+C or SIGTERM, then stops gracefully.</summary>
    public static async Task<int> ServeUntilShutdownAsync(TinyProtoServer server)
    {
        using var shutdown = new ShutdownSignal();
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
