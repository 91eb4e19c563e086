using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>The server's admission messages (ids from 101, apart from the connection's).</summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Information, "Refused a connection from {RemoteEndPoint}: address {Address} is at its limit of {Limit} connections (MaxConnectionsPerRemoteAddress).")]
    public static partial void AddressLimitReached(ILogger logger, string? remoteEndPoint, string address, int limit);

    [LoggerMessage(102, LogLevel.Warning, "Closed a connection from {RemoteEndPoint} at once: {Limit} opening handshakes are already in progress (MaxPendingHandshakes).")]
    public static partial void PendingHandshakesLimitReached(ILogger logger, string? remoteEndPoint, int limit);

    [LoggerMessage(103, LogLevel.Warning, "Closed a connection from {RemoteEndPoint} that another server handed over: this server is {State}, not listening.")]
    public static partial void HandedWhileNotRunning(ILogger logger, string? remoteEndPoint, TinyProtoServerState state);

    [LoggerMessage(104, LogLevel.Warning, "Closed a connection from {RemoteEndPoint} to {LocalEndPoint} at once: that address expects the PROXY protocol, and {RemoteEndPoint} is not one of its trusted proxies (TinyProtoProxyProtocolOptions.TrustedProxies).")]
    public static partial void UntrustedProxy(ILogger logger, string? remoteEndPoint, string? localEndPoint);

    [LoggerMessage(105, LogLevel.Warning, "Closed a connection from proxy {ProxyEndPoint}: {Reason}.")]
    public static partial void ProxyHeaderRefused(ILogger logger, string? proxyEndPoint, string reason);

    [LoggerMessage(106, LogLevel.Debug, "Proxy {ProxyEndPoint} ended a connection of its own (a PROXY v2 LOCAL header, such as its health check) before the handshake was done: {Reason}")]
    public static partial void ProxyHealthCheck(ILogger logger, string? proxyEndPoint, string reason);
}
