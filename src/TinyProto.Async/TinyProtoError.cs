namespace TinyProto.Async;

/// <summary>Why a <see cref="TinyProtoException"/> was thrown.</summary>
public enum TinyProtoError
{
    /// <summary>The opening handshake failed: the peer sent an unexpected byte or closed first, or the TLS handshake failed.</summary>
    HandshakeFailed,

    /// <summary>The server is at its connection limit and answered the handshake with <c>0xFE</c>.</summary>
    ConnectionLimitReached,

    /// <summary>The peer refused a message (answered its size header with a byte other than <c>0xFF</c>).</summary>
    MessageRefused,

    /// <summary>A message is larger than a limit: the protocol's, the local receiver's, or a buffer's.</summary>
    MessageTooLarge,

    /// <summary>The connection was closed, locally or by the peer, before the operation could finish.</summary>
    ConnectionClosed,

    /// <summary>The peer did not answer within <see cref="TinyProtoConnectionOptions.Timeout"/>.</summary>
    Timeout,

    /// <summary>The peer broke the protocol: an unexpected status, or the stream ended inside a header or payload.</summary>
    ProtocolViolation,

    /// <summary>
    /// There is no connection to send on: a <see cref="TinyProtoReconnectingConnection"/> stayed without one longer
    /// than the operation's timeout, or gave up reconnecting. Nothing of the operation was sent.
    /// </summary>
    NotConnected,
}
