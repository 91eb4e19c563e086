namespace TinyProto.Async.Connection;

/// <summary>
/// Bounds every write that waits on the transport while the connection is open: a write that makes no progress (no
/// payload byte of ours taken by the peer) for a whole <see cref="TinyProtoConnectionOptions.Timeout"/> means the peer
/// stopped reading, and the connection is ended (<c>stalled</c>). It costs nothing while writes complete at once: the
/// watch runs only while one waits.
/// </summary>
/// <remarks>
/// It owns <c>_pending</c> (writes that wait now), <c>_pendingSince</c> and <c>_watching</c> (whether the watch task
/// runs), all touched with interlocked operations: <see cref="Begin"/> and <see cref="End"/> are called by the holder of
/// the output's turn, the watch task reads them.
/// </remarks>
internal sealed class WriteWatch
{
    private readonly Deadline _deadline;
    private readonly Action _stalled;
    private int _pending;
    private long _pendingSince;
    private int _watching;

    /// <param name="deadline">The connection's clock, timeout and payload counters.</param>
    /// <param name="stalled">Called once, on a timer, when a write made no progress for a whole timeout.</param>
    public WriteWatch(Deadline deadline, Action stalled)
    {
        _deadline = deadline;
        _stalled = stalled;
    }

    /// <summary>A write did not complete at once and is awaited now.</summary>
    public void Begin()
    {
        if (Interlocked.Increment(ref _pending) != 1 || _deadline.IsInfinite)
        {
            return;
        }

        Volatile.Write(ref _pendingSince, _deadline.Now);
        if (Interlocked.Exchange(ref _watching, 1) == 0)
        {
            _ = WatchAsync();
        }
    }

    /// <summary>The write begun by <see cref="Begin"/> completed (or failed).</summary>
    public void End() => Interlocked.Decrement(ref _pending);

    private async Task WatchAsync()
    {
        long seen = _deadline.Sent;
        long progressAt = _deadline.Now;
        TimeSpan wait = _deadline.Timeout;
        while (true)
        {
            await _deadline.DelayAsync(wait).ConfigureAwait(false);
            if (Volatile.Read(ref _pending) == 0)
            {
                // Idle again; a write that began just now finds the flag down and starts a new watch, or this one goes on.
                Volatile.Write(ref _watching, 0);
                if (Volatile.Read(ref _pending) == 0 || Interlocked.Exchange(ref _watching, 1) != 0)
                {
                    return;
                }
            }

            long now = _deadline.Now;
            long sent = _deadline.Sent;
            if (sent != seen)
            {
                seen = sent;
                progressAt = now;
            }

            TimeSpan stalledFor = _deadline.Elapsed(Math.Max(progressAt, Volatile.Read(ref _pendingSince)), now);
            if (stalledFor >= _deadline.Timeout)
            {
                _stalled();
                return;
            }

            wait = _deadline.Timeout - stalledFor;
        }
    }
}
