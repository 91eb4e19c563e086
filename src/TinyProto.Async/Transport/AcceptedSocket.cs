using System.Net;
using System.Net.Sockets;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Transport;

/// <summary>A socket the server's own listener accepted: the server opens its transport (TLS, the reader thread) itself.</summary>
internal sealed class AcceptedSocket(Socket socket, ProxyTrust? proxy = null) : AcceptedPeer
{
    private EndPoint? _remoteEndPoint = socket.RemoteEndPoint;

    public Socket Socket { get; } = socket;

    /// <summary>The PROXY protocol settings of the listener that accepted it, or null when that listener has none.</summary>
    public ProxyTrust? Proxy { get; } = proxy;

    public override EndPoint? LocalEndPoint { get; } = socket.LocalEndPoint;

    /// <summary>The socket's peer; the client's address instead once a PROXY header named it (<see cref="Forwarded"/>).</summary>
    public override EndPoint? RemoteEndPoint => _remoteEndPoint;

    /// <summary>
    /// Takes what a PROXY protocol header said: the client's address becomes the remote one when the header has one, and
    /// the socket's peer, the proxy, is kept as <see cref="AcceptedPeer.ProxyEndPoint"/>.
    /// </summary>
    /// <summary>Whether a v2 <c>LOCAL</c> header began the socket: the proxy's own connection, such as its health check.</summary>
    public bool IsProxyLocal { get; private set; }

    public void Forwarded(ProxyHeader header)
    {
        ProxyEndPoint = Socket.RemoteEndPoint;
        IsProxyLocal = header.IsLocal;
        if (header.Source is { } client)
        {
            _remoteEndPoint = client;
        }
    }

    public override IDisposable AbortTarget => Socket;

    public override void Prepare(TinyProtoConnectionOptions options) => TcpKeepAlive.Apply(Socket, options);

    /// <summary>
    /// What already arrived (its opening byte, usually) is read first, so the close is a clean end rather than a reset.
    /// Blocking calls that cannot block (data already there, one byte into an empty send buffer) keep the socket off the
    /// asynchronous engine.
    /// </summary>
    public override Task RefuseAtOnceAsync()
    {
        using (Socket)
        {
            try
            {
                int available = Socket.Available;
                if (available > 0)
                {
                    Socket.Receive(new byte[Math.Min(available, 64)], SocketFlags.None);
                }

                Socket.NoDelay = true;
                Socket.Send([Handshake.ConnectionLimitAnswer], SocketFlags.None);
                Socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The client is gone already.
            }
        }

        return Task.CompletedTask;
    }

    public override async Task RefuseAsync()
    {
        using (Socket)
        {
            try
            {
                Socket.NoDelay = true;
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                byte[] buffer = new byte[1];
                try
                {
                    await Socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // A client that sends nothing still gets the answer.
                }

                buffer[0] = Handshake.ConnectionLimitAnswer;
                await Socket.SendAsync(buffer, SocketFlags.None, CancellationToken.None).ConfigureAwait(false);
                Socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The client is gone already.
            }
        }
    }

    public override void Close() => Socket.Dispose();
}
