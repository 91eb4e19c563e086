namespace TinyProto.Async.Reconnect;

/// <summary>
/// Which connection a reconnecting connection runs over now, and the callers waiting for one during an outage. The
/// reconnect loop alone publishes and drops connections; callers only read and wait. Once ended (closed, or given up)
/// it stays ended: every waiter, present and future, gets the reason.
/// </summary>
internal sealed class CurrentConnection
{
    private readonly object _gate = new();
    private TinyProtoConnection? _connection;
    private TaskCompletionSource<TinyProtoConnection> _next = NewWait();
    private Exception? _end;

    /// <summary>The live connection, or null during an outage or after the end.</summary>
    public TinyProtoConnection? Connection
    {
        get
        {
            lock (_gate)
            {
                return _connection;
            }
        }
    }

    /// <summary>Why it ended, or null while it goes on.</summary>
    public Exception? End
    {
        get
        {
            lock (_gate)
            {
                return _end;
            }
        }
    }

    /// <summary>
    /// The live connection at once when there is one that is not ending, else a task that completes with the next
    /// one, or faults with the end.
    /// </summary>
    public Task<TinyProtoConnection> NextAsync()
    {
        lock (_gate)
        {
            if (_connection is { IsEnding: false } live)
            {
                return Task.FromResult(live);
            }

            if (_end is not null)
            {
                return Task.FromException<TinyProtoConnection>(_end);
            }

            if (_next.Task.IsCompleted)
            {
                // It holds the live connection, which is ending: wait for the one after it.
                _next = NewWait();
            }

            return _next.Task;
        }
    }

    /// <summary>Makes <paramref name="connection"/> the live one and hands it to the waiters; false when already ended.</summary>
    public bool TryPublish(TinyProtoConnection connection)
    {
        TaskCompletionSource<TinyProtoConnection> waiters;
        lock (_gate)
        {
            if (_end is not null)
            {
                return false;
            }

            _connection = connection;
            waiters = _next;
        }

        waiters.TrySetResult(connection);
        return true;
    }

    /// <summary>Drops <paramref name="connection"/>, which ended: callers wait from now on. False when already ended.</summary>
    public bool Drop(TinyProtoConnection connection)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_connection, connection))
            {
                _connection = null;
            }

            if (_end is not null)
            {
                return false;
            }

            if (_next.Task.IsCompleted)
            {
                _next = NewWait();
            }

            return true;
        }
    }

    /// <summary>Ends for good with <paramref name="reason"/>; returns the live connection, for the caller to close. Only the first call counts.</summary>
    public TinyProtoConnection? Finish(Exception reason, out bool first)
    {
        TaskCompletionSource<TinyProtoConnection> waiters;
        TinyProtoConnection? live;
        lock (_gate)
        {
            first = _end is null;
            if (!first)
            {
                return null;
            }

            _end = reason;
            live = _connection;
            _connection = null;
            waiters = _next;
        }

        if (!waiters.Task.IsCompleted)
        {
            waiters.TrySetException(reason);

            // Nobody may be waiting: the fault is still seen by later callers, never reported as unobserved.
            _ = waiters.Task.Exception;
        }

        return live;
    }

    private static TaskCompletionSource<TinyProtoConnection> NewWait() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
