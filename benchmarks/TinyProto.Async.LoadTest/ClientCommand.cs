using System.Diagnostics;
using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary><c>client</c>: opens the connections, runs the workload on all of them at once, and reports.</summary>
internal static class ClientCommand
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(ClientSettings settings)
    {
        using var reserve = new FileDescriptorReserve(64);
        using var shutdown = new ShutdownSignal();
        using var run = CancellationTokenSource.CreateLinkedTokenSource(shutdown.Token);
        await using var client = new TinyProtoClient(new StderrLogger("client"));
        client.ConnectionOptions.RequestPipelining = settings.Pipelined;

        var opener = new ConnectionOpener(client, settings, reserve);
        long openStart = Stopwatch.GetTimestamp();
        await opener.OpenAsync(run.Token);
        double openSeconds = Stopwatch.GetElapsedTime(openStart).TotalSeconds;
        IReadOnlyList<TinyProtoConnection> connections = opener.Connections;
        if (settings.Connections > 1 || settings.Mode == ClientMode.Idle)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"opened {opener.Opened} of {settings.Connections} connections in {openSeconds:0.000} s"));
        }

        try
        {
            if (settings.Mode == ClientMode.Idle)
            {
                return await RunIdleAsync(settings, opener, connections, run.Token);
            }

            if (opener.Error is { } openError)
            {
                Console.Error.WriteLine($"error: {openError}");
                return 1;
            }

            return await RunWorkloadAsync(settings, connections, run);
        }
        finally
        {
            await CloseAllAsync(opener.All);
        }
    }

    private static async Task<int> RunIdleAsync(ClientSettings settings, ConnectionOpener opener, IReadOnlyList<TinyProtoConnection> connections, CancellationToken cancellationToken)
    {
        int errors = 0;
        if (opener.Error is { } openError)
        {
            // Still hold what did open: how many connections fit under the limit is worth knowing too.
            Console.Error.WriteLine($"error: {openError}");
            Console.Error.WriteLine($"holding the {connections.Count} connections that did open");
            errors++;
        }

        (int held, double seconds) = await IdleWorkload.HoldAsync(connections, settings.DurationSeconds!.Value, cancellationToken);
        int dropped = connections.Count - held;
        if (dropped > 0)
        {
            Console.Error.WriteLine($"error: {dropped} connections dropped while idle");
            errors++;
        }

        ResultReport.PrintIdle(settings, held, dropped, seconds, errors);
        return errors == 0 ? 0 : 1;
    }

    private static async Task<int> RunWorkloadAsync(ClientSettings settings, IReadOnlyList<TinyProtoConnection> connections, CancellationTokenSource run)
    {
        LoadResult result = await new LoadRun(settings, connections).RunAsync(run, progress =>
        {
            if (progress.Seconds >= 2)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"progress: {progress.Seconds,6:0.0} s, {progress.Messages,12} messages, {progress.MessagesPerSecond,12:0} msg/s"));
            }
        });
        foreach (string error in result.Errors.Take(10))
        {
            Console.Error.WriteLine($"error: {error}");
        }

        ResultReport.Print(settings, result);
        return result.Errors.Count == 0 ? 0 : 1;
    }

    private static async Task CloseAllAsync(IEnumerable<TinyProtoConnection> connections)
    {
        using var timeout = new CancellationTokenSource(CloseTimeout);
        try
        {
            await Task.WhenAll(connections.Select(connection => connection.CloseAsync(timeout.Token).AsTask()));
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("warning: closing the connections took longer than 30 s");
        }
    }
}
