using System.Globalization;

namespace TinyProto.Async.Cli.Commands;

/// <summary>What the server commands (<c>listen</c>, <c>receive-files</c>) share: start, say where, serve until Ctrl+C or SIGTERM, stop gracefully.</summary>
internal static class Serving
{
    /// <summary>
    /// Starts <paramref name="server"/>, prints <c>listening on ENDPOINT[ (TLS)]</c> and <paramref name="suffix"/> for
    /// each bound endpoint (scripts wait for the line, and read the port from it after <c>--port 0</c>), and serves until
    /// <paramref name="cancellationToken"/> is cancelled; then stops the server and prints <c>stopped</c> on stderr.
    /// </summary>
    public static async Task<int> RunAsync(TinyProtoServer server, string suffix, CancellationToken cancellationToken)
    {
        await server.StartAsync(cancellationToken);
        foreach (var endPoint in server.BoundEndPoints)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"listening on {endPoint}{(server.TlsOptions is null ? string.Empty : " (TLS)")}{suffix}"));
        }

        Console.Out.Flush();
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM: stop gracefully below (receive-files' transfers under way keep their partial copies).
        }

        await server.StopAsync(CancellationToken.None);
        Console.Error.WriteLine("stopped");
        return ExitCode.Ok;
    }
}
