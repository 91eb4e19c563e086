using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace TinyProto.Async.Tests;

/// <summary>What the TLS tests share: servers with a certificate, clients that trust one, raw TLS peers, an echo.</summary>
public abstract class TlsTestBase : ConnectionTestBase
{
    protected TlsTestBase(TimeSpan? timeout = null)
        : base(timeout)
    {
    }

    /// <summary>Server options that present <paramref name="certificate"/> (by default the CA-signed <see cref="TestCertificates.Server"/>).</summary>
    protected static SslServerAuthenticationOptions ServerTls(X509Certificate2? certificate = null) =>
        new() { ServerCertificate = certificate ?? TestCertificates.Server };

    /// <summary>Client options that trust <paramref name="root"/> alone (by default the test CA) and leave the host name to the client.</summary>
    protected static SslClientAuthenticationOptions ClientTls(X509Certificate2? root = null, X509Certificate2? clientCertificate = null) => new()
    {
        CertificateChainPolicy = TestCertificates.TrustOnly(root ?? TestCertificates.Ca),
        ClientCertificates = clientCertificate is null ? null : [clientCertificate],
    };

    /// <summary>Starts an echo server over TLS on loopback port 0 and returns the port.</summary>
    protected async Task<int> StartTlsEchoServerAsync(TinyProtoServer server, SslServerAuthenticationOptions? tls = null)
    {
        server.TlsOptions = tls ?? ServerTls();
        server.SetConnectionHandler<EchoConnection>();
        return await StartLoopbackAsync(server);
    }

    /// <summary>A TLS client that trusts the test CA, connected to <paramref name="port"/>.</summary>
    protected async Task<(TinyProtoClient Client, TinyProtoConnection Connection)> ConnectTlsAsync(int port, SslClientAuthenticationOptions? tls = null)
    {
        var client = new TinyProtoClient { TlsOptions = tls ?? ClientTls() };
        try
        {
            return (client, await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Transmits <paramref name="payload"/> and checks that its echo comes back whole.</summary>
    protected async Task AssertEchoesAsync(TinyProtoConnection connection, byte[] payload)
    {
        await Bounded(connection.TransmitAsync(payload, TimeoutToken).AsTask());
        Assert.Equal(payload, await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
    }

    /// <summary>A raw peer over a TLS stream to <paramref name="port"/> that trusts the test CA: the test writes the tinyproto bytes itself.</summary>
    internal async Task<RawPeer> ConnectRawTlsAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        SslClientAuthenticationOptions options = ClientTls();
        options.TargetHost = "localhost";
        await Bounded(ssl.AuthenticateAsClientAsync(options, TimeoutToken));
        return new RawPeer(ssl, TimeoutToken);
    }

    /// <summary>A plain TCP socket connected to <paramref name="port"/>, for peers that never speak TLS.</summary>
    protected async Task<Socket> ConnectPlainAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        return socket;
    }

    /// <summary>Waits for the server to close <paramref name="socket"/>: a read that returns 0 or fails with a reset.</summary>
    protected async Task WaitForCloseAsync(Socket socket)
    {
        byte[] buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, TimeoutToken) > 0)
            {
                // A server that closes without a TLS handshake sends nothing; whatever comes is skipped.
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with our bytes unread.
        }
    }
}
