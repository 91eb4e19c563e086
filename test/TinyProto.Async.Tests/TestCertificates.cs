using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TinyProto.Async.Tests;

/// <summary>
/// Certificates made for the TLS tests, once per run: a test CA, a server certificate for <c>localhost</c> and
/// <c>127.0.0.1</c> and a client certificate both signed by it, and self-signed ones that nothing trusts.
/// </summary>
internal static class TestCertificates
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    private static readonly DateTimeOffset NotBefore = DateTimeOffset.UtcNow.AddDays(-1);
    private static readonly DateTimeOffset NotAfter = DateTimeOffset.UtcNow.AddDays(30);

    /// <summary>The test CA: a self-signed root, trusted only where a test says so.</summary>
    public static X509Certificate2 Ca { get; } = CreateCa();

    /// <summary>A server certificate for <c>localhost</c> and <c>127.0.0.1</c>, signed by <see cref="Ca"/>.</summary>
    public static X509Certificate2 Server { get; } = CreateLeaf("localhost", ServerAuth, Ca, "localhost", IPAddress.Loopback);

    /// <summary>A server certificate for <c>other.example</c> only, signed by <see cref="Ca"/>.</summary>
    public static X509Certificate2 OtherHost { get; } = CreateLeaf("other.example", ServerAuth, Ca, "other.example");

    /// <summary>A client certificate signed by <see cref="Ca"/>.</summary>
    public static X509Certificate2 Client { get; } = CreateLeaf("TinyProto test client", ClientAuth, Ca);

    /// <summary>A self-signed certificate for <c>localhost</c> and <c>127.0.0.1</c> (server and client use), unrelated to <see cref="Ca"/>.</summary>
    public static X509Certificate2 SelfSigned { get; } = CreateLeaf("localhost", ServerAuth, issuer: null, "localhost", IPAddress.Loopback);

    /// <summary>A chain policy that trusts <paramref name="root"/> alone (no system roots, no revocation checks).</summary>
    public static X509ChainPolicy TrustOnly(X509Certificate2 root)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.Add(root);
        return policy;
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="root"/> (what a server's client-certificate check does).</summary>
    public static bool ChainsTo(X509Certificate2 root, X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain { ChainPolicy = TrustOnly(root) };
#if NET9_0_OR_GREATER
        using X509Certificate2 presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
#else
        using var presented = new X509Certificate2(certificate.GetRawCertData());
#endif
        return chain.Build(presented);
    }

    private static X509Certificate2 CreateCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=TinyProto Test CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using X509Certificate2 ca = request.CreateSelfSigned(NotBefore.AddDays(-1), NotAfter.AddDays(1));
        return Reimport(ca);
    }

    /// <summary>A leaf for <paramref name="usage"/>, signed by <paramref name="issuer"/> (self-signed when null).</summary>
    private static X509Certificate2 CreateLeaf(string commonName, string usage, X509Certificate2? issuer, params object[] names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        if (names.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (object name in names)
            {
                if (name is IPAddress address)
                {
                    san.AddIpAddress(address);
                }
                else
                {
                    san.AddDnsName((string)name);
                }
            }

            request.CertificateExtensions.Add(san.Build());
        }

        if (issuer is null)
        {
            using X509Certificate2 selfSigned = request.CreateSelfSigned(NotBefore, NotAfter);
            return Reimport(selfSigned);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using X509Certificate2 signed = request.Create(issuer, NotBefore, NotAfter, serial);
        using X509Certificate2 withKey = signed.CopyWithPrivateKey(key);
        return Reimport(withKey);
    }

    /// <summary>Through PKCS#12 and back: a certificate whose private key SslStream can use on every platform.</summary>
    private static X509Certificate2 Reimport(X509Certificate2 certificate) =>
#if NET9_0_OR_GREATER
        X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
#else
        new(certificate.Export(X509ContentType.Pkcs12));
#endif
}
