namespace TinyProto.Async.Connection;

/// <summary>
/// Every timed wait of one connection, on one <see cref="TimeProvider"/>: the opening handshake, the waits for statuses
/// (one timer serves them all), and a close that stalls while we write. Each is bounded by
/// <see cref="TinyProtoConnectionOptions.Timeout"/>, and a wait that sees payload bytes move knows the peer is alive.
/// </summary>
/// <remarks>
/// Who may touch what: the status timer's fields (<c>_statusTimer</c>, <c>_armed</c>, <c>_lastStatusAt</c>,
/// <c>_progressSeen</c>, <c>_progressAt</c>) only under the connection's gate, which every caller of the status-wait
/// members holds. <c>_received</c> is written by the receive loop alone and <c>_sent</c> by whoever holds the output;
/// both are read by anyone, without a lock.
/// </remarks>
internal sealed class Deadline
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private readonly Action _onStatusTimer;

    // Under the connection's gate.
    private ITimer? _statusTimer;
    private bool _armed;
    private long _lastStatusAt;
    private long _progressSeen;   // _received when the status timer last looked
    private long _progressAt;     // when the status timer last saw it grow

    // Payload bytes coming in mean the peer is alive and busy: it may rightly hold its answer until its own payload is
    // out (rule 5), or until its output is free (rule 6). Payload bytes leaving mean the peer is still reading.
    private long _received;
    private long _sent;
    private long _headersSent;

    /// <param name="time">The clock and timers.</param>
    /// <param name="timeout">The limit of each wait, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="onStatusTimer">Called on a timer thread when the status timer fires; it takes the gate itself.</param>
    public Deadline(TimeProvider time, TimeSpan timeout, Action onStatusTimer)
    {
        _time = time;
        _timeout = timeout;
        _onStatusTimer = onStatusTimer;
    }

    /// <summary>The limit of each wait.</summary>
    public TimeSpan Timeout => _timeout;

    /// <summary>Whether waits are unlimited.</summary>
    public bool IsInfinite => _timeout == System.Threading.Timeout.InfiniteTimeSpan;

    /// <summary>Now, as a timestamp of the connection's clock.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>Payload bytes in and out so far; a wait that sees this grow knows the transport is moving.</summary>
    public long Progress => Volatile.Read(ref _received) + Volatile.Read(ref _sent);

    /// <summary>Payload bytes the receive loop took off the wire so far.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Size headers of ours written so far: with <see cref="Sent"/>, what says this end is not idle.</summary>
    public long HeadersSent => Volatile.Read(ref _headersSent);

    /// <summary>The holder of the output wrote a size header.</summary>
    public void HeaderSent() => Volatile.Write(ref _headersSent, _headersSent + 1);

    /// <summary>Payload bytes of ours the peer took so far: what <see cref="WriteWatch"/> takes as a sign that the peer reads.</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>The time from timestamp <paramref name="from"/> to timestamp <paramref name="to"/> of the connection's clock.</summary>
    public TimeSpan Elapsed(long from, long to) => _time.GetElapsedTime(from, to);

    /// <summary>The receive loop took <paramref name="count"/> payload bytes off the wire.</summary>
    public void PayloadReceived(long count) => Volatile.Write(ref _received, _received + count);

    /// <summary>The holder of the output put <paramref name="count"/> payload bytes on the wire.</summary>
    public void PayloadSent(long count) => Volatile.Write(ref _sent, _sent + count);

    /// <summary>A source cancelled once a <see cref="Timeout"/> has passed, for the opening handshake.</summary>
    public CancellationTokenSource StartHandshakeTimer() => new(_timeout, _time);

    /// <summary>
    /// A wait for a status began; <paramref name="first"/> when no other was running, so payload bytes that came before
    /// it are no sign of life for it. Starts the status timer unless it runs. The caller holds the gate.
    /// </summary>
    public void StatusWaitBegan(bool first)
    {
        if (first)
        {
            _progressSeen = Volatile.Read(ref _received);
            _progressAt = 0;
        }

        if (_armed || IsInfinite)
        {
            return;
        }

        _statusTimer ??= _time.CreateTimer(static state => ((Deadline)state!)._onStatusTimer(), this, System.Threading.Timeout.InfiniteTimeSpan, System.Threading.Timeout.InfiniteTimeSpan);
        _progressSeen = Volatile.Read(ref _received);
        _statusTimer.Change(_timeout, System.Threading.Timeout.InfiniteTimeSpan);
        _armed = true;
    }

    /// <summary>A status came; the caller holds the gate.</summary>
    public void StatusArrived() => _lastStatusAt = Now;

    /// <summary>
    /// On the status timer, for the oldest wait (begun at <paramref name="startedAt"/>): true once, for a whole
    /// <see cref="Timeout"/> since it began, neither a status nor payload bytes have come; otherwise the timer is set for
    /// the time left. The caller holds the gate.
    /// </summary>
    public bool StatusWaitExpired(long startedAt)
    {
        _armed = false;
        long progress = Volatile.Read(ref _received);
        if (progress != _progressSeen)
        {
            _progressSeen = progress;
            _progressAt = Now;
        }

        TimeSpan waited = _time.GetElapsedTime(Math.Max(Math.Max(startedAt, _lastStatusAt), _progressAt));
        if (waited >= _timeout)
        {
            return true;
        }

        _statusTimer!.Change(_timeout - waited, System.Threading.Timeout.InfiniteTimeSpan);
        _armed = true;
        return false;
    }

    /// <summary>The status timer fired with no wait left to check; the caller holds the gate.</summary>
    public void StatusTimerIdle() => _armed = false;

    /// <summary>No wait for a status will come again: the timer stops for good. The caller holds the gate.</summary>
    public void StopStatusWaits()
    {
        _statusTimer?.Dispose();
        _armed = true;
    }

    /// <summary>
    /// Waits for <paramref name="task"/> as long as payload bytes keep moving: true once it completed, false after a
    /// whole <see cref="Timeout"/> with neither completion nor progress. Never throws.
    /// </summary>
    public async Task<bool> WaitWhileProgressingAsync(Task task)
    {
        if (IsInfinite)
        {
            await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return true;
        }

        long seen = Progress;
        while (true)
        {
            // Whatever the task ended with is reported elsewhere; here only the deadline matters, so nothing is thrown.
            await task.WaitAsync(_timeout, _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (task.IsCompleted)
            {
                return true;
            }

            long now = Progress;
            if (now == seen)
            {
                return false;
            }

            seen = now;
        }
    }

    /// <summary>Waits for <paramref name="interval"/> on the connection's clock.</summary>
    public Task DelayAsync(TimeSpan interval) => Task.Delay(interval, _time);
}
