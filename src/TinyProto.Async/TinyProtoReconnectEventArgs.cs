namespace TinyProto.Async;

/// <summary>A reconnecting connection lost its connection (<see cref="TinyProtoReconnectingConnection.Disconnected"/>).</summary>
public sealed class TinyProtoDisconnectedEventArgs : EventArgs
{
    internal TinyProtoDisconnectedEventArgs(TinyProtoConnection connection)
    {
        Connection = connection;
    }

    /// <summary>The connection that ended.</summary>
    public TinyProtoConnection Connection { get; }

    /// <summary>Why it ended.</summary>
    public TinyProtoCloseReason Reason => Connection.CloseReason;

    /// <summary>What ended it, when <see cref="Reason"/> is <see cref="TinyProtoCloseReason.Failed"/>; else null.</summary>
    public Exception? Error => Connection.CloseError;
}

/// <summary>A connection attempt failed (<see cref="TinyProtoReconnectingConnection.AttemptFailed"/>).</summary>
public sealed class TinyProtoConnectAttemptFailedEventArgs : EventArgs
{
    internal TinyProtoConnectAttemptFailedEventArgs(int attempt, Exception error, TimeSpan? nextDelay)
    {
        Attempt = attempt;
        Error = error;
        NextDelay = nextDelay;
    }

    /// <summary>How many attempts in a row have failed, this one included (1 for the first).</summary>
    public int Attempt { get; }

    /// <summary>Why it failed.</summary>
    public Exception Error { get; }

    /// <summary>How long until the next attempt; null when this was the last (<see cref="TinyProtoReconnectOptions.MaxAttempts"/>).</summary>
    public TimeSpan? NextDelay { get; }
}

/// <summary>A reconnecting connection is connected again (<see cref="TinyProtoReconnectingConnection.Reconnected"/>).</summary>
public sealed class TinyProtoReconnectedEventArgs : EventArgs
{
    internal TinyProtoReconnectedEventArgs(TinyProtoConnection connection, int failedAttempts, TimeSpan outage)
    {
        Connection = connection;
        FailedAttempts = failedAttempts;
        Outage = outage;
    }

    /// <summary>The new connection, started and handshaken.</summary>
    public TinyProtoConnection Connection { get; }

    /// <summary>How many attempts failed before this one succeeded.</summary>
    public int FailedAttempts { get; }

    /// <summary>How long there was no connection: from the old one's end to the new one's handshake.</summary>
    public TimeSpan Outage { get; }
}
