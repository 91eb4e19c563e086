using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;

namespace TinyProto.Async.Transport;

/// <summary>
/// TLS at the edge: an <see cref="SslStream"/> over a socket the library accepted or connected, authenticated within
/// the connection's handshake timeout, under the stream transport (<see cref="StreamTransport.Create(Stream, bool)"/>). The
/// tinyproto handshake then runs over it like over any stream; nothing above the transport knows about TLS. Such a
/// connection always uses asynchronous I/O: the dedicated-thread transport reads the socket itself.
/// </summary>
internal static class TlsTransport
{
    /// <summary>
    /// Authenticates as the server over an accepted socket, which the returned transport then owns. <paramref name="peer"/>
    /// (the client's endpoint) is for messages.
    /// </summary>
    /// <exception cref="TinyProtoException">
    /// <see cref="TinyProtoError.Timeout"/> when the handshake took longer than the connection's <c>Timeout</c>;
    /// <see cref="TinyProtoError.HandshakeFailed"/> when it failed (the <see cref="AuthenticationException"/> or
    /// <see cref="IOException"/> inside).
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static Task<StreamDuplexPipe> AuthenticateAsServerAsync(Socket socket, SslServerAuthenticationOptions options, string peer,
        TinyProtoConnectionOptions connectionOptions, CancellationToken cancellationToken) =>
        AuthenticateAsync(socket, (ssl, token) => ssl.AuthenticateAsServerAsync(options, token), peer, connectionOptions, cancellationToken);

    /// <summary>
    /// Authenticates as the client over a connected socket, which the returned transport then owns. With no
    /// <see cref="SslClientAuthenticationOptions.TargetHost"/>, the server is verified against <paramref name="host"/>
    /// (on a copy of the options: the caller's object is left as it is).
    /// </summary>
    /// <exception cref="TinyProtoException">As for <see cref="AuthenticateAsServerAsync"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static Task<StreamDuplexPipe> AuthenticateAsClientAsync(Socket socket, SslClientAuthenticationOptions options, string host, int port,
        TinyProtoConnectionOptions connectionOptions, CancellationToken cancellationToken)
    {
        SslClientAuthenticationOptions effective = string.IsNullOrEmpty(options.TargetHost) ? WithTargetHost(options, host) : options;
        return AuthenticateAsync(socket, (ssl, token) => ssl.AuthenticateAsClientAsync(effective, token), $"{host}:{port}", connectionOptions, cancellationToken);
    }

    /// <summary>
    /// A copy of <paramref name="options"/> with <paramref name="targetHost"/>. .NET has no public clone, so every
    /// property is copied here (a test fails when a new runtime adds one this list lacks).
    /// </summary>
    internal static SslClientAuthenticationOptions WithTargetHost(SslClientAuthenticationOptions options, string targetHost)
    {
        var copy = new SslClientAuthenticationOptions
        {
            AllowRenegotiation = options.AllowRenegotiation,
            AllowTlsResume = options.AllowTlsResume,
            ApplicationProtocols = options.ApplicationProtocols,
            CertificateChainPolicy = options.CertificateChainPolicy,
            CertificateRevocationCheckMode = options.CertificateRevocationCheckMode,
            CipherSuitesPolicy = options.CipherSuitesPolicy,
            ClientCertificateContext = options.ClientCertificateContext,
            ClientCertificates = options.ClientCertificates,
            EnabledSslProtocols = options.EnabledSslProtocols,
            EncryptionPolicy = options.EncryptionPolicy,
            LocalCertificateSelectionCallback = options.LocalCertificateSelectionCallback,
            RemoteCertificateValidationCallback = options.RemoteCertificateValidationCallback,
            TargetHost = targetHost,
        };
#if NET10_0_OR_GREATER
        if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
        {
            copy.AllowRsaPssPadding = options.AllowRsaPssPadding;
            copy.AllowRsaPkcs1Padding = options.AllowRsaPkcs1Padding;
        }
#endif
        return copy;
    }

    private static async Task<StreamDuplexPipe> AuthenticateAsync(Socket socket, Func<SslStream, CancellationToken, Task> authenticate, string peer,
        TinyProtoConnectionOptions connectionOptions, CancellationToken cancellationToken)
    {
        socket.NoDelay = true;
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        TimeSpan limit = connectionOptions.Timeout;
        using var timer = new CancellationTokenSource(limit, connectionOptions.TimeProvider);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            await authenticate(ssl, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);

            // What a cancelled handshake throws depends on where it was (an OperationCanceledException, or an IOException
            // around it): the tokens tell what happened.
            if (cancellationToken.IsCancellationRequested)
            {
                throw ex as OperationCanceledException ?? new OperationCanceledException("The TLS handshake was cancelled.", ex, cancellationToken);
            }

            if (timer.IsCancellationRequested)
            {
                throw new TinyProtoException(TinyProtoError.Timeout, $"The TLS handshake with {peer} did not finish within {limit.TotalSeconds:0.###} s.", ex);
            }

            // An AuthenticationException or IOException mostly; also what a bad certificate throws (a
            // NotSupportedException for one without its private key, a CryptographicException): the handshake failed.
            throw new TinyProtoException(TinyProtoError.HandshakeFailed, $"The TLS handshake with {peer} failed: {ex.Message}", ex);
        }

        return StreamTransport.Create(ssl, zeroByteReads: true);
    }
}
