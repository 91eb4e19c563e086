using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>The log messages of the library, generated at compile time.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Connection {ConnectionId} established ({Role}, pipelined: {Pipelined}).")]
    public static partial void Established(ILogger logger, Guid connectionId, TinyProtoRole role, bool pipelined);

    [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId} ended: the peer closed it.")]
    public static partial void PeerClosed(ILogger logger, Guid connectionId);

    [LoggerMessage(3, LogLevel.Warning, "Connection {ConnectionId} failed and was closed.")]
    public static partial void ConnectionFailed(ILogger logger, Guid connectionId, Exception exception);

    [LoggerMessage(4, LogLevel.Error, "Hook {Hook} of connection {ConnectionId} threw; the connection was closed.")]
    public static partial void HookFailed(ILogger logger, string hook, Guid connectionId, Exception exception);

    [LoggerMessage(5, LogLevel.Warning, "The opening handshake with {RemoteEndPoint} failed.")]
    public static partial void HandshakeFailed(ILogger logger, string? remoteEndPoint, Exception exception);

    [LoggerMessage(6, LogLevel.Information, "Refused a connection from {RemoteEndPoint}: the limit of {Limit} connections is reached.")]
    public static partial void ConnectionLimitReached(ILogger logger, string? remoteEndPoint, int limit);

    [LoggerMessage(7, LogLevel.Error, "Server hook {Hook} threw.")]
    public static partial void ServerHookFailed(ILogger logger, string hook, Exception exception);

    [LoggerMessage(8, LogLevel.Information, "Listening on {EndPoint}.")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(9, LogLevel.Warning, "Accepting on {EndPoint} failed.")]
    public static partial void AcceptFailed(ILogger logger, string endPoint, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Connection {ConnectionId} did not end within the stop deadline and was aborted.")]
    public static partial void Aborted(ILogger logger, Guid connectionId);

    [LoggerMessage(11, LogLevel.Warning, "Connection {ConnectionId} did not finish closing within {TimeoutMilliseconds} ms (the peer stopped reading); its transport was cut.")]
    public static partial void CloseStalled(ILogger logger, Guid connectionId, double timeoutMilliseconds);

    [LoggerMessage(12, LogLevel.Warning, "Closed the connection from {RemoteEndPoint}: {Failure}")]
    public static partial void TlsHandshakeFailed(ILogger logger, string? remoteEndPoint, string failure, Exception exception);

    [LoggerMessage(20, LogLevel.Debug, "Connection {ConnectionId}: releasing its transport failed.")]
    public static partial void TransportReleaseFailed(ILogger logger, Guid connectionId, Exception exception);

    [LoggerMessage(21, LogLevel.Warning, "Connection {ConnectionId}: a write made no progress for {TimeoutMilliseconds} ms (the peer stopped reading); the connection was closed.")]
    public static partial void WriteStalled(ILogger logger, Guid connectionId, double timeoutMilliseconds);
}
