using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using TinyProto.Async.Transport;

namespace TinyProto.Async;

/// <summary>TLS on the server's sockets: the options, set before start, and the TLS handshake of each accepted socket.</summary>
public partial class TinyProtoServer
{
    private volatile SslServerAuthenticationOptions? _tlsOptions;

    /// <summary>
    /// TLS for every accepted client, or null for plain TCP (the default). Each accepted socket then goes through a TLS
    /// handshake as the server (an <see cref="SslStream"/> authenticated with these options: its certificate, whether a
    /// client certificate is required and how it is validated, as .NET defines them; leave
    /// <see cref="SslServerAuthenticationOptions.EnabledSslProtocols"/> unset to let the OS choose), and the tinyproto
    /// handshake and the connection run over it. <see cref="ConnectionLimit"/>, the other admission limits, the hooks and
    /// a graceful stop work as without TLS.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The TLS handshake is part of the opening handshake: it counts towards <see cref="MaxPendingHandshakes"/>, and is
    /// bounded by the connection's <see cref="TinyProtoConnectionOptions.Timeout"/> (then the tinyproto handshake has as
    /// long again) and by the server's stop. A client whose TLS handshake fails or times out is closed and logged with its
    /// endpoint and the TLS error; no other connection notices. A client refused before its handshake
    /// (<see cref="MaxPendingHandshakes"/>, <see cref="MaxConnectionsPerRemoteAddress"/>) is sent its <c>0xFE</c> outside TLS,
    /// which its TLS handshake reports as a failure; a client over <see cref="ConnectionLimit"/> is refused after the TLS
    /// handshake and gets <see cref="TinyProtoError.ConnectionLimitReached"/>.
    /// </para>
    /// <para>
    /// Connections over TLS always use asynchronous I/O: <see cref="TinyProtoConnectionOptions.Threading"/> (the dedicated
    /// reader thread) does not apply to them. The options object is shared by every handshake: do not change it once the
    /// server has started.
    /// </para>
    /// </remarks>
    /// <exception cref="InvalidOperationException">The server already started.</exception>
    public SslServerAuthenticationOptions? TlsOptions
    {
        get => _tlsOptions;
        set
        {
            ThrowIfStarted();
            _tlsOptions = value;
        }
    }

    /// <summary>Fails a start whose <see cref="TlsOptions"/> could not authenticate any client.</summary>
    private void ValidateTlsOptions()
    {
        if (_tlsOptions is not null && HandedListeners > 0)
        {
            throw new InvalidOperationException(
                "TlsOptions apply only to the server's own endpoints, and Kestrel hands this server clients (UseTinyProto): " +
                "put TLS on the Kestrel endpoint with listenOptions.UseHttps(...) before UseTinyProto, and leave TlsOptions unset.");
        }

        if (_tlsOptions is { ServerCertificate: null, ServerCertificateContext: null, ServerCertificateSelectionCallback: null })
        {
            throw new InvalidOperationException("TlsOptions names no certificate: set its ServerCertificate, ServerCertificateContext or ServerCertificateSelectionCallback.");
        }
    }

    /// <summary>
    /// The transport of an accepted peer: a handed transport as it is (the server that accepted it owns its TLS); the
    /// server's own socket, or, with <see cref="TlsOptions"/>, a TLS stream over it once the TLS handshake succeeded. Null
    /// when that failed (logged; the caller closes the socket).
    /// </summary>
    private async Task<IDuplexPipe?> OpenTransportAsync(AcceptedPeer peer, TinyProtoConnection connection, string? remote)
    {
        if (peer is HandedPeer handed)
        {
            return handed.Transport;
        }

        Socket socket = ((AcceptedSocket)peer).Socket;
        if (_tlsOptions is not { } tls)
        {
            return StreamTransport.Create(socket, connection.Options.Threading);
        }

        try
        {
            return await TlsTransport.AuthenticateAsServerAsync(socket, tls, remote ?? "?", connection.Options, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // The server is stopping: nothing went wrong with the client.
            return null;
        }
        catch (Exception ex)
        {
            Log.TlsHandshakeFailed(_logger, remote, ex.Message, ex);
            return null;
        }
    }
}
