using System.Diagnostics;
using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary><c>--mode idle</c>: holds the opened connections without traffic for the duration and counts any that drop.</summary>
internal static class IdleWorkload
{
    /// <returns>How many connections were still open at the end, and how long they were held.</returns>
    public static async Task<(int Held, double Seconds)> HoldAsync(IReadOnlyList<TinyProtoConnection> connections, double durationSeconds, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        var hold = TimeSpan.FromSeconds(durationSeconds);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (Stopwatch.GetElapsedTime(start) < hold)
            {
                TimeSpan left = hold - Stopwatch.GetElapsedTime(start);
                if (left < TimeSpan.FromSeconds(1))
                {
                    await Task.Delay(left, cancellationToken);
                    break;
                }

                await timer.WaitForNextTickAsync(cancellationToken);
                double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (elapsed >= 2)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"progress: {elapsed,6:0.0} s, {CountOpen(connections)} of {connections.Count} connections open"));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: report what was held so far.
        }

        return (CountOpen(connections), Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private static int CountOpen(IReadOnlyList<TinyProtoConnection> connections)
    {
        int open = 0;
        foreach (TinyProtoConnection connection in connections)
        {
            if (!connection.Completion.IsCompleted)
            {
                open++;
            }
        }

        return open;
    }
}
