using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TinyProto.Async.Tests;

/// <summary>What the README's <c>openssl req -x509</c> line makes: a self-signed P-256 certificate for localhost and 127.0.0.1, and its key, as PEM files.</summary>
internal static class SelfSignedPem
{
    /// <summary>Writes <c>cert.pem</c> and <c>key.pem</c> into <paramref name="folder"/>; returns their paths.</summary>
    public static (string Certificate, string Key) Write(DirectoryInfo folder)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        string certificatePath = Path.Combine(folder.FullName, "cert.pem");
        string keyPath = Path.Combine(folder.FullName, "key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }
}
