using System.Net;

namespace TinyProto.Async.Transport;

/// <summary>
/// A peer a server serves, whoever accepted it: one of the server's own sockets (<see cref="AcceptedSocket"/>) or a
/// transport handed to it by another server, such as Kestrel (<see cref="HandedPeer"/>). The server decides what to do
/// with it (admit, refuse, serve); this says how each is done on this kind of transport. Owned by the server's task that
/// serves the peer.
/// </summary>
internal abstract class AcceptedPeer
{
    /// <summary>The address the peer reached, where the server's listener (or the other server's) is.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address: the client's, behind a proxy that sent a PROXY protocol header.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>The proxy's address, when a PROXY protocol header named the client; else null.</summary>
    public EndPoint? ProxyEndPoint { get; protected set; }

    /// <summary>What a connection's abort disposes to cut the transport at once.</summary>
    public abstract IDisposable AbortTarget { get; }

    /// <summary>Sets what the transport takes from the connection's options before its handshake (keepalive, for a socket).</summary>
    public virtual void Prepare(TinyProtoConnectionOptions options)
    {
    }

    /// <summary>Answers <c>0xFE</c> without waiting for the peer's opening byte, and closes.</summary>
    public abstract Task RefuseAtOnceAsync();

    /// <summary>Answers <c>0xFE</c> after the peer's opening byte (waiting a second at most, so the close is clean), and closes.</summary>
    public abstract Task RefuseAsync();

    /// <summary>Releases the transport (the socket; a handed transport's pipes), whether or not a connection ran over it.</summary>
    public abstract void Close();
}
