using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// One measured run of a workload (echo or one-way) over connections already open: a worker per connection, all
/// started together after their warmup, progress once a second to an observer, and the totals at the end. The load
/// tool's <c>client</c> and <c>tinyproto bench</c> both run it; they differ only in how they show it.
/// </summary>
internal sealed class LoadRun(ClientSettings settings, IReadOnlyList<TinyProtoConnection> connections)
{
    /// <summary>
    /// Runs the workload to its count or duration, or until <paramref name="run"/> is cancelled (Ctrl+C, a stall);
    /// <paramref name="observer"/> sees the progress on a timer thread.
    /// </summary>
    public async Task<LoadResult> RunAsync(CancellationTokenSource run, Action<LoadProgress> observer)
    {
        var workers = new ClientWorker[connections.Count];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = new ClientWorker(connections[i], settings, i);
        }

        var clock = new RunClock(workers.Length, settings.DurationSeconds);
        var progress = new ProgressReporter(workers, clock, settings, observer);
        using var stopProgress = new CancellationTokenSource();
        Task progressTask = progress.RunAsync(run, stopProgress.Token);

        var tasks = new Task[workers.Length];
        for (int i = 0; i < workers.Length; i++)
        {
            long count = settings.Count is null ? long.MaxValue : settings.CountFor(i);
            ClientWorker worker = workers[i];
            // Each connection's loop on its own task, so connections run in parallel from the start.
            tasks[i] = Task.Run(() => worker.RunAsync(count, clock, run.Token));
        }

        await Task.WhenAll(tasks);
        await stopProgress.CancelAsync();
        await progressTask;

        var latency = new LatencyHistogram();
        long messages = 0;
        var errors = new List<string>();
        for (int i = 0; i < workers.Length; i++)
        {
            ClientWorker worker = workers[i];
            worker.Dispose();
            latency.Add(worker.Histogram);
            messages += worker.MeasuredMessages;
            if (worker.Error is { } error)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"connection {i}: {error}"));
            }
        }

        if (progress.StallError is { } stall)
        {
            errors.Add(stall);
        }

        return new LoadResult(messages, clock.Seconds, latency, errors);
    }
}

/// <summary>Where a run is: seconds since the measured run started, messages completed, and the rate over the last second.</summary>
internal sealed record LoadProgress(double Seconds, long Messages, double MessagesPerSecond, double MegabytesPerSecond);

/// <summary>A finished run: measured messages and seconds, the latency of each message, and what went wrong (one line each).</summary>
internal sealed record LoadResult(long Messages, double Seconds, LatencyHistogram Latency, IReadOnlyList<string> Errors);
