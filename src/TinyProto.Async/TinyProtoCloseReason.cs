namespace TinyProto.Async;

/// <summary>Why a connection ended (<see cref="TinyProtoConnection.CloseReason"/>).</summary>
public enum TinyProtoCloseReason
{
    /// <summary>The connection has not ended (it may be closing).</summary>
    None,

    /// <summary>The peer closed the connection at a message boundary.</summary>
    PeerClosed,

    /// <summary>This end closed it: <see cref="TinyProtoConnection.CloseAsync"/>, a dispose, or a cancelled <c>RunAsync</c>.</summary>
    ClosedLocally,

    /// <summary>Its server stopped (gracefully, or aborted at the stop deadline).</summary>
    ServerStopped,

    /// <summary>An error ended it: a broken transport, bad bytes, a timeout, a hook's exception; see <see cref="TinyProtoConnection.CloseError"/>.</summary>
    Failed,
}
