using System.Net.Sockets;

namespace TinyProto.Async.Cli;

/// <summary>
/// What the command's exit status tells a script. Every command uses the same codes; <c>tinyproto --help</c> lists them.
/// </summary>
internal static class ExitCode
{
    /// <summary>Everything asked for was done.</summary>
    public const int Ok = 0;

    /// <summary>Any other failure: a protocol violation, a local file that cannot be read or written, a name that does not resolve.</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments: the command did not start.</summary>
    public const int Usage = 2;

    /// <summary>No connection: nothing listens there, or the peer declined (connection limit, busy, refused message).</summary>
    public const int Refused = 3;

    /// <summary>The peer did not answer in time (<c>--timeout</c>, or the protocol's own timeout).</summary>
    public const int Timeout = 4;

    /// <summary>The connection closed before the command was done (the peer went away or reset it).</summary>
    public const int Closed = 5;

    /// <summary>A file transfer was refused by the receiver (an unsafe name, no room) or failed its SHA-256 check.</summary>
    public const int Rejected = 6;

    /// <summary>Interrupted with Ctrl+C (128 + SIGINT), as shells report it.</summary>
    public const int Interrupted = 130;

    /// <summary>The help text's list of these codes.</summary>
    public const string Legend = """
        Exit codes: 0 ok, 1 failed, 2 bad arguments, 3 refused (nothing listening, or the peer declined),
                    4 timeout, 5 connection closed early, 6 file transfer rejected or failed verification, 130 interrupted.
        """;

    /// <summary>The code for an error that ended a command, looking through wrappers to the first exception that decides it.</summary>
    public static int For(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case TransferRejectedException:
                    return Rejected;
                case TimeoutException:
                    return Timeout;
                case TinyProtoException tinyProto:
                    return tinyProto.Error switch
                    {
                        TinyProtoError.Timeout => Timeout,
                        TinyProtoError.ConnectionClosed or TinyProtoError.NotConnected => Closed,
                        TinyProtoError.HandshakeFailed or TinyProtoError.ConnectionLimitReached or TinyProtoError.MessageRefused
                            when e.InnerException is null or not SocketException => Refused,
                        TinyProtoError.MessageTooLarge => Refused,
                        TinyProtoError.ProtocolViolation => Failed,
                        _ => e.InnerException is null ? Failed : For(e.InnerException),
                    };
                case SocketException socket:
                    return socket.SocketErrorCode switch
                    {
                        SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable
                            or SocketError.AddressNotAvailable => Refused,
                        SocketError.TimedOut => Timeout,
                        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown => Closed,
                        _ => Failed,
                    };
                case EndOfStreamException:
                    return Closed;
            }
        }

        return Failed;
    }
}
