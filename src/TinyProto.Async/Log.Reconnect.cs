using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>The reconnecting connection's messages (ids from 201).</summary>
internal static partial class Log
{
    [LoggerMessage(201, LogLevel.Information, "Lost the connection to {EndPoint} ({Reason}); reconnecting.")]
    public static partial void Disconnected(ILogger logger, string endPoint, TinyProtoCloseReason reason);

    [LoggerMessage(202, LogLevel.Information, "Connecting to {EndPoint} failed (attempt {Attempt}); next attempt in {DelayMilliseconds} ms.")]
    public static partial void ConnectAttemptFailed(ILogger logger, string endPoint, int attempt, double delayMilliseconds, Exception exception);

    [LoggerMessage(203, LogLevel.Information, "Reconnected to {EndPoint} after {FailedAttempts} failed attempts and {OutageMilliseconds} ms without a connection.")]
    public static partial void Reconnected(ILogger logger, string endPoint, int failedAttempts, double outageMilliseconds);

    [LoggerMessage(204, LogLevel.Error, "Gave up connecting to {EndPoint} after {Attempts} failed attempts in a row.")]
    public static partial void GaveUpReconnecting(ILogger logger, string endPoint, int attempts, Exception exception);

    [LoggerMessage(205, LogLevel.Error, "A handler of {Event} on the reconnecting connection to {EndPoint} threw; it was ignored.")]
    public static partial void ReconnectHandlerFailed(ILogger logger, string @event, string endPoint, Exception exception);
}
