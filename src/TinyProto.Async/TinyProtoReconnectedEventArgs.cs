namespace TinyProto.Async;

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
