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
/// <para>The receive loop alone calls <see cref="BeginWait"/>, <see cref="EndWait"/> and <see cref="MessageBegan"/> and
/// writes <c>_wait</c> (when the current wait began, and whether it is in the middle of a message, in one word so the
/// timer never pairs one wait's start with another's kind), <c>_streakStart</c> (payload bytes received when the
/// current message's waits began) and <c>_streakWaited</c>; the timer reads them (volatile). The timer alone touches
/// <c>_seenActivity</c> and <c>_activityAt</c>. <c>_armed</c> and <c>_armedShort</c> say whether the timer runs and
/// whether it is due soon, with interlocked operations on both sides; <c>_fired</c> is set once, under <c>_timerGate</c>.</para>
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
    private int _armedShort;
    private bool _fired;

    private long _wait;             // 0: not waiting; else (start timestamp + 1) << 1, | 1 in the middle of a message
    private long _streakStart = -1; // payload bytes received when the current message's waits began; -1: none yet
    private long _streakWaited;     // timestamp ticks waited for the current message, before the current wait

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

    /// <summary>How often the timer looks while a message is in progress: often enough to end a stall within a fifth of the limit.</summary>
    private TimeSpan Resolution => _deadline.Timeout / 5;

    /// <summary>A header was answered: its message's rate is measured on its own (a wait for it begins a new stretch).</summary>
    public void MessageBegan() => Volatile.Write(ref _streakStart, -1);

    /// <summary>The receive loop is about to wait for bytes; <paramref name="midMessage"/> when a message is in progress.</summary>
    public void BeginWait(bool midMessage)
    {
        if (midMessage ? !WatchesMessages : !WatchesIdle)
        {
            return;
        }

        if (midMessage && _streakStart < 0)
        {
            Volatile.Write(ref _streakStart, _deadline.Received);
            Volatile.Write(ref _streakWaited, 0);
        }

        Volatile.Write(ref _wait, ((_time.GetTimestamp() + 1) << 1) | (midMessage ? 1L : 0L));
        if (Volatile.Read(ref _armed) == 0 && Interlocked.Exchange(ref _armed, 1) == 0)
        {
            Arm(midMessage ? Resolution : _idleTimeout);
        }
        else if (midMessage && Volatile.Read(ref _armedShort) == 0)
        {
            // The timer runs for an idle wait, due late: a stall in the middle of a message must be seen sooner.
            Arm(Resolution);
        }
    }

    /// <summary>The wait begun by <see cref="BeginWait"/> ended (bytes came, or the read was cancelled).</summary>
    public void EndWait()
    {
        long wait = Volatile.Read(ref _wait);
        if (wait == 0)
        {
            return;
        }

        if ((wait & 1) != 0)
        {
            Volatile.Write(ref _streakWaited, _streakWaited + (_time.GetTimestamp() - ((wait >> 1) - 1)));
        }

        Volatile.Write(ref _wait, 0);
    }

    /// <summary>The receive loop ended: the timer stops for good.</summary>
    public void Stop()
    {
        lock (_timerGate)
        {
            _fired = true;
            _timer?.Dispose();
        }
    }

    private void Arm(TimeSpan due)
    {
        lock (_timerGate)
        {
            if (_fired)
            {
                return;
            }

            _timer ??= _time.CreateTimer(static state => ((ReceiveWatch)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            Volatile.Write(ref _armedShort, WatchesMessages && due <= Resolution ? 1 : 0);
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnTimer()
    {
        long wait = Volatile.Read(ref _wait);
        if (wait == 0)
        {
            // Not waiting now: the timer rests until the next wait arms it. A wait that began just now finds it resting.
            Volatile.Write(ref _armed, 0);
            if (Volatile.Read(ref _wait) == 0 || Interlocked.Exchange(ref _armed, 1) != 0)
            {
                return;
            }

            wait = Volatile.Read(ref _wait);
            if (wait == 0)
            {
                Volatile.Write(ref _armed, 0);
                return;
            }
        }

        bool midMessage = (wait & 1) != 0;
        long now = _time.GetTimestamp();
        TimeSpan waiting = _time.GetElapsedTime((wait >> 1) - 1, now);
        TinyProtoException? error = midMessage ? CheckMessage(waiting) : CheckIdle(waiting, now);
        if (error is null)
        {
            Arm(midMessage ? Resolution : _idleTimeout / 5);
            return;
        }

        lock (_timerGate)
        {
            if (_fired)
            {
                // The receive loop ended meanwhile: the connection ended for a reason of its own.
                return;
            }

            _fired = true;
        }

        _expired(error);
    }

    private TinyProtoException? CheckMessage(TimeSpan waiting)
    {
        TimeSpan timeout = _deadline.Timeout;
        if (waiting >= timeout)
        {
            return new TinyProtoException(TinyProtoError.Timeout,
                $"The peer sent nothing for {timeout.TotalMilliseconds:0.###} ms (Timeout) in the middle of a message; the connection was closed.");
        }

        long streakStart = Volatile.Read(ref _streakStart);
        if (_minRate == 0 || streakStart < 0)
        {
            return null;
        }

        TimeSpan waited = TimeSpan.FromTicks((long)(Volatile.Read(ref _streakWaited) * ((double)TimeSpan.TicksPerSecond / _time.TimestampFrequency))) + waiting;
        if (waited < timeout)
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

        TimeSpan sinceActivity = _activityAt == 0 ? waiting : _time.GetElapsedTime(_activityAt, now);
        TimeSpan idle = waiting < sinceActivity ? waiting : sinceActivity;
        return idle >= _idleTimeout
            ? new TinyProtoException(TinyProtoError.Timeout,
                $"The connection was idle for {_idleTimeout.TotalMilliseconds:0.###} ms (IdleTimeout); it was closed.")
            : null;
    }
}
