namespace TinyProto.Async.Tests;

/// <summary>A thread-safe list of hook events that tests can wait on without sleeping.</summary>
internal sealed class EventLog
{
    private readonly object _gate = new();
    private readonly List<string> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Add(string item)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _events.Add(item);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    public string[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _events];
        }
    }

    public int Count(string item) => Snapshot().Count(e => e == item);

    /// <summary>Waits until <paramref name="condition"/> holds for the events so far.</summary>
    public async Task WaitForAsync(Func<string[], bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition([.. _events]))
                {
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    public Task WaitForAsync(string item, CancellationToken cancellationToken) =>
        WaitForAsync(events => events.Contains(item), cancellationToken);

    public override string ToString() => string.Join(", ", Snapshot());
}
