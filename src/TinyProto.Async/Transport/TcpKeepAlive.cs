using System.Net.Sockets;

namespace TinyProto.Async.Transport;

/// <summary>Sets TCP keepalive on a socket the library made, as the connection's options say.</summary>
internal static class TcpKeepAlive
{
    // Linux's TCP_USER_TIMEOUT (netinet/tcp.h), at level IPPROTO_TCP: how long sent data may stay unacknowledged.
    private const int IpProtoTcp = 6;
    private const int TcpUserTimeout = 18;

    /// <summary>
    /// Turns keepalive on with the options' times, or off when <see cref="TinyProtoConnectionOptions.TcpKeepAliveTime"/>
    /// is infinite. Best effort: an option the platform lacks (the TCP ones before Windows 10 1709) is left at the
    /// system's setting; it never fails a connection.
    /// </summary>
    public static void Apply(Socket socket, TinyProtoConnectionOptions options)
    {
        bool on = options.TcpKeepAliveTime != Timeout.InfiniteTimeSpan;
        if (!TrySet(() => socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, on)) || !on)
        {
            return;
        }

        TrySet(() => socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)options.TcpKeepAliveTime.TotalSeconds));
        TrySet(() => socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)options.TcpKeepAliveInterval.TotalSeconds));
        TrySet(() => socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.TcpKeepAliveRetryCount));
        if (OperatingSystem.IsLinux())
        {
            // Keepalive probes only an idle socket: one whose last bytes (even a status byte) are not acknowledged yet
            // retransmits for a quarter of an hour instead. The same bound on unacknowledged data finds the dead peer
            // in the same time in both cases. (At most about 49 days: the option is an int of milliseconds.)
            TimeSpan bound = options.TcpKeepAliveTime + (options.TcpKeepAliveInterval * options.TcpKeepAliveRetryCount);
            int milliseconds = (int)Math.Min(bound.TotalMilliseconds, int.MaxValue);
            TrySet(() => socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes(milliseconds)));
        }
    }

    private static bool TrySet(Action set)
    {
        try
        {
            set();
            return true;
        }
        catch (Exception ex) when (ex is SocketException or PlatformNotSupportedException or ObjectDisposedException)
        {
            return false;
        }
    }
}
