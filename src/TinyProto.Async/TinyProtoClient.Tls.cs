using System.Net.Security;
using System.Net.Sockets;
using TinyProto.Async.Transport;

namespace TinyProto.Async;

/// <summary>TLS on the client's sockets: the options, and the TLS handshake of each connected socket.</summary>
public partial class TinyProtoClient
{
    private volatile SslClientAuthenticationOptions? _tlsOptions;

    /// <summary>
    /// TLS for every new connection, or null for plain TCP (the default). Once its socket connects, each connection goes
    /// through a TLS handshake as the client (an <see cref="SslStream"/> authenticated with these options: how the server's
    /// certificate is validated, client certificates, as .NET defines them; leave
    /// <see cref="SslClientAuthenticationOptions.EnabledSslProtocols"/> unset to let the OS choose), and the tinyproto
    /// handshake and the connection run over it. When <see cref="SslClientAuthenticationOptions.TargetHost"/> is null or
    /// empty, the server's certificate is checked against the host passed to <see cref="ConnectAsync"/> (on a copy: this
    /// object is not changed). A change applies to the connections made after it.
    /// </summary>
    /// <remarks>
    /// The TLS handshake is bounded by the connection's <see cref="TinyProtoConnectionOptions.Timeout"/> (as connecting and
    /// the tinyproto handshake are, each on its own) and by the caller's token. Connections over TLS always use asynchronous
    /// I/O: <see cref="TinyProtoConnectionOptions.Threading"/> (the dedicated reader thread) does not apply to them.
    /// </remarks>
    public SslClientAuthenticationOptions? TlsOptions
    {
        get => _tlsOptions;
        set => _tlsOptions = value;
    }

    /// <summary>
    /// The transport of a connected socket: the socket itself, or, with <see cref="TlsOptions"/>, a TLS stream over it once
    /// the TLS handshake succeeded.
    /// </summary>
    /// <exception cref="TinyProtoException">The TLS handshake failed or timed out.</exception>
    private static async Task<StreamDuplexPipe> OpenTransportAsync(Socket socket, SslClientAuthenticationOptions? tls, string host, int port,
        TinyProtoConnection connection, CancellationToken cancellationToken) =>
        tls is null
            ? StreamTransport.Create(socket, connection.Options.Threading)
            : await TlsTransport.AuthenticateAsClientAsync(socket, tls, host, port, connection.Options, cancellationToken).ConfigureAwait(false);
}
