namespace TinyProto.Async;

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
