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
