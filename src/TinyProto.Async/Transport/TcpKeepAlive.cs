using System.Net.Sockets;

namespace TinyProto.Async.Transport;

/// <summary>Sets TCP keepalive on a socket the library made, as the connection's options say.</summary>
internal static class TcpKeepAlive
{
    // Linux's TCP_USER_TIMEOUT (netinet/tcp.h), at level IPPROTO_TCP: how long sent data may stay unacknowledged.
    private const int IpProtoTcp = 6;
    private const int TcpUserTimeout = 18;

    /// <summary>Turns keepalive on with the options' times, or off when <see cref="TinyProtoConnectionOptions.TcpKeepAliveTime"/> is infinite.</summary>
    public static void Apply(Socket socket, TinyProtoConnectionOptions options)
    {
        if (options.TcpKeepAliveTime == Timeout.InfiniteTimeSpan)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, false);
            return;
        }

        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)options.TcpKeepAliveTime.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)options.TcpKeepAliveInterval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.TcpKeepAliveRetryCount);
        if (OperatingSystem.IsLinux())
        {
            // Keepalive probes only an idle socket: one whose last bytes (even a status byte) are not acknowledged yet
            // retransmits for a quarter of an hour instead. The same bound on unacknowledged data finds the dead peer
            // in the same time in both cases.
            TimeSpan bound = options.TcpKeepAliveTime + (options.TcpKeepAliveInterval * options.TcpKeepAliveRetryCount);
            socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes((int)bound.TotalMilliseconds));
        }
    }
}
