namespace TinyProto.Async.Connection;

/// <summary>
/// Bounds the receive loop's waits for the peer: in the middle of a message (a header begun, or a payload we
/// accepted) no wait may last a whole <see cref="TinyProtoConnectionOptions.Timeout"/>, and once that much waiting
/// has passed the peer must have sent at least <see cref="TinyProtoConnectionOptions.MinReceiveBytesPerSecond"/>; at
/// a boundary the connection may be idle (nothing received, nothing of ours sent) for at most
/// <see cref="TinyProtoConnectionOptions.IdleTimeout"/>. Only the time the loop spends waiting for bytes counts, so a
/// slow consumer of ours or a full inbox never counts against the peer.
/// </summary>
/// <remarks>
/// <para>The receive loop alone calls <see cref="BeginWait"/> and <see cref="EndWait"/> and writes <c>_waitStart</c>,
/// <c>_midMessage</c>, <c>_streakStart</c> (payload bytes received when the current stretch of mid-message waits
/// began) and <c>_streakWaited</c>; the timer reads them (volatile). The timer alone touches <c>_seenActivity</c> and
/// <c>_activityAt</c>. <c>_armed</c> says whether the timer runs, with interlocked operations on both sides.</para>
/// <para>It costs one volatile write per read and no timer while reads complete in whole messages; the timer runs
/// only while the loop waits in the middle of a message, or at a boundary when an idle timeout is set.</para>
/// </remarks>
internal sealed class ReceiveWatch
{
    private readonly Deadline _deadline;
    private readonly TimeProvider _time;
    private readonly TimeSpan _idleTimeout;
    private readonly long _minRate;
    private readonly Action<TinyProtoException> _expired;
    private readonly object _timerGate = new();
    private ITimer? _timer;
    private int _armed;
    private int _fired;

    private long _waitStart;        // timestamp + 1 while the loop waits for bytes (0: not waiting)
    private int _midMessage;        // 1 while that wait is in the middle of a message
    private long _streakStart = -1; // payload bytes received when the current mid-message stretch began; -1 at a boundary
    private long _streakWaited;     // ticks waited in the current stretch, before the current wait

    private long _seenActivity;
    private long _activityAt;

    /// <param name="deadline">The connection's clock, Timeout and byte counters.</param>
    /// <param name="time">The clock and timers.</param>
    /// <param name="idleTimeout">The idle limit, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="minRate">The least payload bytes per second in the middle of a message; 0 for no limit.</param>
    /// <param name="expired">Called once, on a timer thread, with the error that ends the connection.</param>
    public ReceiveWatch(Deadline deadline, TimeProvider time, TimeSpan idleTimeout, long minRate, Action<TinyProtoException> expired)
    {
        _deadline = deadline;
        _time = time;
        _idleTimeout = idleTimeout;
        _minRate = minRate;
        _expired = expired;
    }

    private bool WatchesMessages => !_deadline.IsInfinite;

    private bool WatchesIdle => _idleTimeout != Timeout.InfiniteTimeSpan;

    /// <summary>The receive loop is about to wait for bytes; <paramref name="midMessage"/> when a message is in progress.</summary>
    public void BeginWait(bool midMessage)
    {
        if (midMessage)
        {
            if (_streakStart < 0)
            {
                _streakStart = _deadline.Received;
                Volatile.Write(ref _streakWaited, 0);
            }
        }
        else
        {
            _streakStart = -1;
        }

        if (midMessage ? !WatchesMessages : !WatchesIdle)
        {
            return;
        }

        Volatile.Write(ref _midMessage, midMessage ? 1 : 0);
        Volatile.Write(ref _waitStart, _time.GetTimestamp() + 1);
        if (Interlocked.Exchange(ref _armed, 1) == 0)
        {
            Arm(midMessage ? Resolution(_deadline.Timeout) : _idleTimeout);
        }
    }

    /// <summary>The wait begun by <see cref="BeginWait"/> ended (bytes came, or the read was cancelled).</summary>
    public void EndWait()
    {
        long start = Volatile.Read(ref _waitStart);
        if (start == 0)
        {
            return;
        }

        Volatile.Write(ref _waitStart, 0);
        if (_streakStart >= 0)
        {
            Volatile.Write(ref _streakWaited, _streakWaited + (_time.GetTimestamp() - (start - 1)));
        }
    }

    /// <summary>The receive loop ended: the timer stops for good.</summary>
    public void Stop()
    {
        lock (_timerGate)
        {
            Volatile.Write(ref _fired, 1);
            _timer?.Dispose();
        }
    }

    /// <summary>How often the timer looks while a message is in progress: often enough to end a stall within a fifth of the limit.</summary>
    private static TimeSpan Resolution(TimeSpan timeout) => timeout / 5;

    private void Arm(TimeSpan due)
    {
        lock (_timerGate)
        {
            if (Volatile.Read(ref _fired) != 0)
            {
                return;
            }

            _timer ??= _time.CreateTimer(static state => ((ReceiveWatch)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnTimer()
    {
        long start = Volatile.Read(ref _waitStart);
        if (start == 0)
        {
            // Not waiting now: the timer rests until the next wait arms it. A wait that began just now finds it resting.
            Volatile.Write(ref _armed, 0);
            if (Volatile.Read(ref _waitStart) == 0 || Interlocked.Exchange(ref _armed, 1) != 0)
            {
                return;
            }

            start = Volatile.Read(ref _waitStart);
            if (start == 0)
            {
                Volatile.Write(ref _armed, 0);
                return;
            }
        }

        long now = _time.GetTimestamp();
        TimeSpan waiting = _time.GetElapsedTime(start - 1, now);
        TinyProtoException? error = Volatile.Read(ref _midMessage) == 1 ? CheckMessage(waiting) : CheckIdle(waiting, now);
        if (error is not null)
        {
            Volatile.Write(ref _fired, 1);
            _expired(error);
            return;
        }

        Arm(Volatile.Read(ref _midMessage) == 1 ? Resolution(_deadline.Timeout) : _idleTimeout / 5);
    }

    private TinyProtoException? CheckMessage(TimeSpan waiting)
    {
        TimeSpan timeout = _deadline.Timeout;
        if (waiting >= timeout)
        {
            return new TinyProtoException(TinyProtoError.Timeout,
                $"The peer sent nothing for {timeout.TotalMilliseconds:0.###} ms (Timeout) in the middle of a message; the connection was closed.");
        }

        if (_minRate == 0)
        {
            return null;
        }

        TimeSpan waited = TimeSpan.FromTicks((long)(Volatile.Read(ref _streakWaited) * ((double)TimeSpan.TicksPerSecond / _time.TimestampFrequency))) + waiting;
        long streakStart = Volatile.Read(ref _streakStart);
        if (waited < timeout || streakStart < 0)
        {
            return null;
        }

        long received = _deadline.Received - streakStart;
        double rate = received / waited.TotalSeconds;
        return rate >= _minRate
            ? null
            : new TinyProtoException(TinyProtoError.Timeout,
                $"The peer sent a message too slowly: {received} bytes in {waited.TotalSeconds:0.###} s of waiting ({rate:0.#} bytes/s, below MinReceiveBytesPerSecond = {_minRate}); the connection was closed.");
    }

    private TinyProtoException? CheckIdle(TimeSpan waiting, long now)
    {
        // Our own messages going out are activity too: a peer that only listens is not idle while we send.
        long activity = _deadline.Sent + _deadline.HeadersSent;
        if (activity != _seenActivity)
        {
            _seenActivity = activity;
            _activityAt = now;
        }

        TimeSpan idle = waiting < _time.GetElapsedTime(_activityAt, now) ? waiting : _time.GetElapsedTime(_activityAt, now);
        return idle >= _idleTimeout
            ? new TinyProtoException(TinyProtoError.Timeout,
                $"The connection was idle for {_idleTimeout.TotalMilliseconds:0.###} ms (IdleTimeout); it was closed.")
            : null;
    }
}
