using System.Diagnostics;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// Starts the measured run on all connections at once, after every one has finished its warmup, and records when
/// the last one finished, so the reported seconds cover the concurrent run only.
/// </summary>
internal sealed class RunClock(int workers, double? durationSeconds)
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _notArrived = workers;
    private int _running = workers;

    public long StartTimestamp { get; private set; }

    /// <summary>The timestamp after which no new message is started; <see cref="long.MaxValue"/> for a counted run.</summary>
    public long Deadline { get; private set; } = long.MaxValue;

    public long EndTimestamp { get; private set; }

    public bool HasStarted => _started.Task.IsCompleted;

    public Task Finished => _finished.Task;

    public double Seconds => (double)(EndTimestamp - StartTimestamp) / Stopwatch.Frequency;

    public Task ArriveAndWaitForStartAsync(CancellationToken cancellationToken)
    {
        Arrive();
        return _started.Task.WaitAsync(cancellationToken);
    }

    public void Arrive()
    {
        if (Interlocked.Decrement(ref _notArrived) == 0)
        {
            long now = Stopwatch.GetTimestamp();
            StartTimestamp = now;
            if (durationSeconds is { } seconds)
            {
                Deadline = now + (long)(seconds * Stopwatch.Frequency);
            }

            _started.TrySetResult();
        }
    }

    public void WorkerDone()
    {
        if (Interlocked.Decrement(ref _running) == 0)
        {
            EndTimestamp = Stopwatch.GetTimestamp();
            _finished.TrySetResult();
        }
    }
}
