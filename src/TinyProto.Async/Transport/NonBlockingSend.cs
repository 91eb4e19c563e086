using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TinyProto.Async.Transport;

/// <summary>
/// One <c>send(2)</c> with <c>MSG_DONTWAIT</c> on a blocking socket: takes what fits in the socket's buffer and never
/// waits. .NET has no such call for a socket that must stay out of the runtime's asynchronous engine (one asynchronous
/// operation registers a socket with it for good, and from then on even its blocking calls wake extra threads), so it
/// is called directly, on Linux and macOS only.
/// </summary>
internal static partial class NonBlockingSend
{
    private const int LinuxDontWait = 0x40;
    private const int LinuxNoSignal = 0x4000;
    private const int MacDontWait = 0x80;
    private const int LinuxWouldBlock = 11;
    private const int MacWouldBlock = 35;
    private const int Interrupted = 4;

    /// <summary>Whether this platform has the call (a dedicated-thread connection needs it).</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS();

    /// <summary>Sends what the socket takes now of <paramref name="data"/>; returns the count (0 when its buffer is full).</summary>
    /// <exception cref="SocketException">The send failed (the peer reset the connection, or the socket was shut down).</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int Send(Socket socket, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return 0;
        }

        int flags = OperatingSystem.IsMacOS() ? MacDontWait : LinuxDontWait | LinuxNoSignal;
        while (true)
        {
            nint sent = SendNative(socket.SafeHandle, ref MemoryMarshal.GetReference(data), data.Length, flags);
            if (sent >= 0)
            {
                return (int)sent;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno is LinuxWouldBlock or MacWouldBlock)
            {
                return 0;
            }

            if (errno != Interrupted)
            {
                throw new SocketException(ToSocketError(errno), Marshal.GetPInvokeErrorMessage(errno));
            }
        }
    }

    private static int ToSocketError(int errno) => errno switch
    {
        32 => (int)SocketError.Shutdown,          // EPIPE
        104 or 54 => (int)SocketError.ConnectionReset, // ECONNRESET (Linux, macOS)
        107 or 57 => (int)SocketError.NotConnected,    // ENOTCONN
        9 => (int)SocketError.OperationAborted,   // EBADF: closed meanwhile
        _ => (int)SocketError.SocketError,
    };

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendNative(SafeHandle socket, ref byte buffer, nint length, int flags);
}
