using System.Diagnostics;
using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// Once a second: the progress of the measured run to <paramref name="observer"/> once it has started, and the stall
/// check: when no message completes for <see cref="ClientSettings.StallSeconds"/> the run is cancelled (an echo
/// client against a sink server, for example, would otherwise wait forever, since idle time has no protocol timeout).
/// </summary>
internal sealed class ProgressReporter(IReadOnlyList<ClientWorker> workers, RunClock clock, ClientSettings settings, Action<LoadProgress> observer)
{
    public string? StallError { get; private set; }

    public async Task RunAsync(CancellationTokenSource run, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        long lastTotal = -1;
        long lastChange = Stopwatch.GetTimestamp();
        long lastMeasured = 0;
        long lastTick = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                long now = Stopwatch.GetTimestamp();
                long total = 0;
                long measured = 0;
                foreach (ClientWorker worker in workers)
                {
                    long completions = worker.Completions;
                    total += completions;
                    measured += Math.Max(0, completions - settings.Warmup);
                }

                if (total != lastTotal)
                {
                    lastTotal = total;
                    lastChange = now;
                }
                else if (Stopwatch.GetElapsedTime(lastChange, now).TotalSeconds >= settings.StallSeconds)
                {
                    StallError = string.Create(CultureInfo.InvariantCulture,
                        $"no message completed for {settings.StallSeconds:0.#} s (is the server a --sink while --mode echo, or stuck?)");
                    await run.CancelAsync();
                    return;
                }

                if (clock.HasStarted)
                {
                    double elapsed = Stopwatch.GetElapsedTime(clock.StartTimestamp, now).TotalSeconds;
                    double rate = lastTick == 0 ? measured / elapsed : (measured - lastMeasured) / Stopwatch.GetElapsedTime(lastTick, now).TotalSeconds;
                    observer(new LoadProgress(elapsed, measured, rate, rate * settings.Size / 1e6));
                    lastTick = now;
                    lastMeasured = measured;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The run is over.
        }
    }
}
