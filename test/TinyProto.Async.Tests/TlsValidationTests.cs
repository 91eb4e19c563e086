using System.Net.Security;
using System.Reflection;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Tests;

/// <summary>
/// Who TLS lets in: the client checks the server's certificate and host name, a server that requires client
/// certificates refuses clients without a good one, and a refused peer never harms the connections being served.
/// </summary>
public sealed class TlsValidationTests : TlsTestBase
{
    [Fact]
    public async Task ConnectAsync_ServerCertificateUntrusted_ThrowsHandshakeFailedNamingTheEndpointAndTheServerServesOthers()
    {
        var logs = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(logs);
        int port = await StartTlsEchoServerAsync(server, ServerTls(TestCertificates.SelfSigned));

        // The OS trust store: nothing there vouches for a self-signed test certificate.
        await using var rejecting = new TinyProtoClient { TlsOptions = new SslClientAuthenticationOptions() };
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(rejecting.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(TinyProtoError.HandshakeFailed, ex.Error);
        Assert.StartsWith($"The TLS handshake with 127.0.0.1:{port} failed: ", ex.Message);
        Assert.IsType<AuthenticationException>(ex.InnerException);
        Assert.Empty(rejecting.ActiveConnections);

        // The server sees the client leave: in its TLS handshake (TLS 1.2) or, with TLS 1.3, where the server's side of
        // the TLS handshake is done before the client checks the certificate, in the opening handshake. It logs either.
        await WaitUntilAsync(() => logs.Entries.Any(e => e.Level == LogLevel.Warning));
        RecordingLoggerFactory.Entry logged = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        Assert.Matches(@"^(Closed the connection from|The opening handshake with) 127\.0\.0\.1:\d+", logged.Message);

        // A client that trusts the certificate is served.
        (TinyProtoClient trusting, TinyProtoConnection connection) = await ConnectTlsAsync(port, ClientTls(root: TestCertificates.SelfSigned));
        await using (trusting)
        {
            await AssertEchoesAsync(connection, "still serving"u8.ToArray());
        }
    }

    [Fact]
    public async Task ConnectAsync_NoTargetHost_ChecksTheNameAgainstTheHostPassedAndLeavesTheOptionsUnchanged()
    {
        await using var server = new TinyProtoServer();
        int port = await StartTlsEchoServerAsync(server, ServerTls(TestCertificates.OtherHost));

        // The certificate is for other.example; connecting to 127.0.0.1 checks it against 127.0.0.1.
        SslClientAuthenticationOptions byAddress = ClientTls();
        await using var client = new TinyProtoClient { TlsOptions = byAddress };
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(TinyProtoError.HandshakeFailed, ex.Error);
        Assert.Contains("RemoteCertificateNameMismatch", ex.Message);
        Assert.Null(byAddress.TargetHost);

        // Named explicitly, the same certificate passes.
        SslClientAuthenticationOptions byName = ClientTls();
        byName.TargetHost = "other.example";
        (TinyProtoClient named, TinyProtoConnection connection) = await ConnectTlsAsync(port, byName);
        await using (named)
        {
            await AssertEchoesAsync(connection, "named"u8.ToArray());
        }
    }

    public enum WrongCertificate
    {
        None,
        SelfSigned,
    }

    [Theory]
    [InlineData(WrongCertificate.None)]
    [InlineData(WrongCertificate.SelfSigned)]
    public async Task ConnectAsync_ClientCertificatesRequiredAndClientHasNoGoodOne_RefusedWhileAClientWithTheRightOneIsServed(WrongCertificate wrong)
    {
        await using var server = new TinyProtoServer();
        SslServerAuthenticationOptions tls = ServerTls();
        tls.ClientCertificateRequired = true;
        tls.RemoteCertificateValidationCallback = (_, certificate, _, _) => TestCertificates.ChainsTo(TestCertificates.Ca, certificate);
        int port = await StartTlsEchoServerAsync(server, tls);

        (TinyProtoClient good, TinyProtoConnection connection) = await ConnectTlsAsync(port, ClientTls(clientCertificate: TestCertificates.Client));
        await using (good)
        {
            using var stop = new CancellationTokenSource();
            Task serving = Task.Run(async () =>
            {
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    await AssertEchoesAsync(connection, RandomBytes(1000, seed: i));
                }
            });

            for (int attempt = 0; attempt < 3; attempt++)
            {
                await using var bad = new TinyProtoClient
                {
                    TlsOptions = ClientTls(clientCertificate: wrong == WrongCertificate.SelfSigned ? TestCertificates.SelfSigned : null),
                };
                var clock = System.Diagnostics.Stopwatch.StartNew();

                // With TLS 1.3 the client's side of the TLS handshake may succeed before the server checks its
                // certificate; the refusal then ends the tinyproto handshake.
                var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(bad.ConnectAsync("127.0.0.1", port, TimeoutToken)));
                Assert.True(ex.Error is TinyProtoError.HandshakeFailed or TinyProtoError.ConnectionClosed, $"{ex.Error}: {ex.Message}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"the refusal took {clock.Elapsed}: it waited for a timeout");
                Assert.Empty(bad.ActiveConnections);
            }

            await stop.CancelAsync();
            await Bounded(serving);
            Assert.Single(server.ActiveConnections);
            await AssertEchoesAsync(connection, "after the refusals"u8.ToArray());
        }
    }

    [Fact]
    public async Task StartAsync_TlsOptionsWithoutACertificate_ThrowsAndTheServerCanStillBeStarted()
    {
        await using var server = new TinyProtoServer { TlsOptions = new SslServerAuthenticationOptions() };
        server.AddAddress("127.0.0.1", 0);
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(server.StartAsync(TimeoutToken)));
        Assert.Contains("ServerCertificate", ex.Message);
        Assert.Empty(server.BoundEndPoints);

        server.TlsOptions = ServerTls();
        await Bounded(server.StartAsync(TimeoutToken));
        Assert.Single(server.BoundEndPoints);
    }

    [Fact]
    public async Task TlsOptions_SetAfterStart_Throws()
    {
        await using var server = new TinyProtoServer();
        await StartLoopbackAsync(server);
        Assert.Throws<InvalidOperationException>(() => server.TlsOptions = ServerTls());
        Assert.Null(server.TlsOptions);
    }

    [Fact]
    public void WithTargetHost_OptionsWithEveryPropertySet_CopiesEachAndOnlyChangesTheTargetHost()
    {
        if (!OperatingSystem.IsLinux())
        {
            // CipherSuitesPolicy and the padding switches exist on Linux only (the padding ones also on Windows).
            return;
        }

        RemoteCertificateValidationCallback validate = (_, certificate, _, _) => TestCertificates.ChainsTo(TestCertificates.Ca, certificate);
        LocalCertificateSelectionCallback select = (_, _, _, _, _) => TestCertificates.Client;
        var original = new SslClientAuthenticationOptions
        {
            AllowRenegotiation = false,
            AllowTlsResume = false,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            CertificateChainPolicy = TestCertificates.TrustOnly(TestCertificates.Ca),
            CertificateRevocationCheckMode = X509RevocationMode.Offline,
            CipherSuitesPolicy = new CipherSuitesPolicy([TlsCipherSuite.TLS_AES_128_GCM_SHA256]),
            ClientCertificateContext = SslStreamCertificateContext.Create(TestCertificates.Client, additionalCertificates: null),
            ClientCertificates = [TestCertificates.Client],
            EnabledSslProtocols = SslProtocols.Tls13,
            EncryptionPolicy = (EncryptionPolicy)1, // AllowNoEncryption, obsolete by name: any value but the default
            LocalCertificateSelectionCallback = select,
            RemoteCertificateValidationCallback = validate,
#if NET10_0_OR_GREATER
            AllowRsaPssPadding = false,
            AllowRsaPkcs1Padding = false,
#endif
        };

        SslClientAuthenticationOptions copy = TlsTransport.WithTargetHost(original, "example.test");

        Assert.Equal("example.test", copy.TargetHost);
        Assert.Null(original.TargetHost);
        PropertyInfo[] properties = typeof(SslClientAuthenticationOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        foreach (PropertyInfo property in properties.Where(p => p.Name != nameof(SslClientAuthenticationOptions.TargetHost)))
        {
            // A property a newer runtime adds, and the copy lacks, keeps its default here and fails the test.
            object? defaultValue = property.GetValue(new SslClientAuthenticationOptions());
            Assert.False(Equals(property.GetValue(original), defaultValue), $"the test sets no value for {property.Name}: add it here and to WithTargetHost");
            Assert.Equal(property.GetValue(original), property.GetValue(copy));
        }
    }
}
