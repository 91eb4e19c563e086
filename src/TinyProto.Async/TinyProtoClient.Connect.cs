using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async;

/// <summary>Opening the socket: resolving the host, trying each address, a blocking connect for a dedicated thread.</summary>
public partial class TinyProtoClient
{
    /// <summary>
    /// Connects a socket to the first address of <paramref name="host"/> that accepts. A socket for a dedicated thread
    /// connects with a blocking call on a thread of its own: one asynchronous operation would register it with the
    /// runtime's asynchronous engine for good.
    /// </summary>
    private static async Task<Socket> ConnectSocketAsync(string host, int port, bool blocking, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            IPAddress[] addresses = IPAddress.TryParse(host, out IPAddress? literal)
                ? [literal]
                : await ResolveAsync(host, timeout.Token).ConfigureAwait(false);
            SocketException? last = null;
            foreach (IPAddress address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    if (blocking)
                    {
                        await ConnectBlockingAsync(socket, new IPEndPoint(address, port), timeout.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token).ConfigureAwait(false);
                    }

                    if (IsConnectedToItself(socket))
                    {
                        // Nothing listens there: the operating system picked the target port as this socket's own and
                        // connected it to itself (TCP simultaneous open). Kept, it would hold the port its server needs.
                        socket.Dispose();
                        last = new SocketException((int)SocketError.ConnectionRefused);
                        continue;
                    }

                    return socket;
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    last = ex;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            // Say which endpoints were tried, with the operating system's words for why (the runtime's own message
            // names one endpoint on some versions and none on others).
            string tried = literal is not null
                ? $"{host}:{port}"
                : $"{host}:{port} ({string.Join(", ", addresses.Select(a => new IPEndPoint(a, port).ToString()))})";
            throw last is null
                ? new SocketException((int)SocketError.HostNotFound, $"Cannot connect to {host}:{port}: the name resolves to no address.")
                : new SocketException((int)last.SocketErrorCode, $"Cannot connect to {tried}: {new SocketException((int)last.SocketErrorCode).Message}");
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TinyProtoException(TinyProtoError.Timeout, $"Connecting to {host}:{port} took longer than {limit.TotalSeconds:0.###} s.", ex);
        }
    }

    /// <summary>
    /// Whether <paramref name="socket"/> is connected to itself: on loopback, a connect to a port that nothing listens on
    /// can be given that very port as its own, and then succeeds, talking to itself.
    /// </summary>
    internal static bool IsConnectedToItself(Socket socket) =>
        socket.LocalEndPoint is IPEndPoint local && socket.RemoteEndPoint is IPEndPoint remote && local.Equals(remote);

    /// <summary>Resolves a host name; a failure names the host (the runtime's message does not).</summary>
    internal static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        try
        {
            return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new SocketException((int)ex.SocketErrorCode, $"Cannot resolve the host name '{host}': {ex.Message}");
        }
    }

    /// <summary>A blocking connect on a thread of its own; a cancellation closes the socket, which ends the connect.</summary>
    private static async Task ConnectBlockingAsync(Socket socket, IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                socket.Connect(endPoint);
                connected.TrySetResult();
            }
            catch (Exception ex)
            {
                connected.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "TinyProto connect",
        };
        thread.Start();
        using (cancellationToken.UnsafeRegister(static state => ((Socket)state!).Dispose(), socket))
        {
            try
            {
                await connected.Task.ConfigureAwait(false);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("Connecting was cancelled.", ex, cancellationToken);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
    }
}
