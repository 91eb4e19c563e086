namespace TinyProto.Async.Connection;

/// <summary>
/// Wakes the hook loop when something it waits for may have changed: a message came that no <c>ReceiveAsync</c> took,
/// or the connection is ending. Reusable, so a wait costs no allocation.
/// </summary>
/// <remarks>It owns <c>_signal</c> and <c>_armed</c>, guarded by the connection's gate.</remarks>
internal sealed class HookWake
{
    private readonly object _gate;
    private readonly Signal _signal = new();
    private bool _armed;

    public HookWake(object gate)
    {
        _gate = gate;
    }

    /// <summary>Arms the wake-up the hook loop will await; the caller holds the gate (and found nothing to do).</summary>
    public ValueTask<bool> Arm()
    {
        _signal.Arm();
        _armed = true;
        return _signal.Task;
    }

    /// <summary>Wakes the hook loop if it waits; the caller holds the gate.</summary>
    public void Wake()
    {
        if (_armed)
        {
            _armed = false;
            _signal.TrySetResult(true);
        }
    }

    /// <summary>
    /// Waits for <paramref name="wake"/> or for <paramref name="interval"/> to pass (false). Only hooks with a loop pass
    /// wait with a timer; a wake-up that comes after it is dropped, since the next wait checks the inbox first.
    /// </summary>
    public async Task<bool> WaitAsync(ValueTask<bool> wake, TimeSpan interval, Deadline deadline)
    {
        Task woken = wake.AsTask();
        Task done = await Task.WhenAny(woken, deadline.DelayAsync(interval)).ConfigureAwait(false);
        if (done == woken)
        {
            return true;
        }

        lock (_gate)
        {
            _armed = false;
        }

        return false;
    }

    private sealed class Signal : ReusableSource<bool>
    {
        public void Arm() => Reset();
    }
}
