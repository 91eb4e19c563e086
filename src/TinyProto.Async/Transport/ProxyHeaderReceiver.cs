using System.Buffers;
using System.Net.Sockets;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Transport;

/// <summary>Receives the PROXY protocol header an accepted socket begins with, for <see cref="ProxyHeaderReader"/> to decide on.</summary>
internal static class ProxyHeaderReceiver
{
    /// <summary>
    /// Reads the header, and not one byte past it: each read asks for no more than the header's shortest possible rest
    /// (<see cref="ProxyHeaderReader.MinimumLength"/>), so the client's first bytes stay in the socket for the
    /// tinyproto handshake.
    /// </summary>
    /// <returns>The header, or null and why there is none (malformed, or the peer closed before it ended).</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (a timeout, the server's stop).</exception>
    /// <exception cref="SocketException">The socket failed.</exception>
    public static async Task<(ProxyHeader? Header, string? Error)> ReceiveAsync(Socket socket, int maxV2Length, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[128];
        int have = 0;
        while (true)
        {
            var received = new ReadOnlySequence<byte>(buffer, 0, have);
            switch (ProxyHeaderReader.TryRead(received, maxV2Length, out ProxyHeader? header, out long consumed, out string? error))
            {
                case ProxyReadStatus.Complete:
                    return consumed == have
                        ? (header, null)
                        : throw new InvalidOperationException($"Read {have - consumed} bytes past the PROXY protocol header."); // never: the reads are exact
                case ProxyReadStatus.Invalid:
                    return (null, error);
            }

            int wanted = checked((int)ProxyHeaderReader.MinimumLength(received));
            if (wanted > buffer.Length)
            {
                Array.Resize(ref buffer, wanted);
            }

            while (have < wanted)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(have, wanted - have), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return (null, have == 0
                        ? "the peer closed the connection before sending a PROXY protocol header"
                        : $"the peer closed the connection after {have} bytes, inside its PROXY protocol header");
                }

                have += read;
            }
        }
    }
}
