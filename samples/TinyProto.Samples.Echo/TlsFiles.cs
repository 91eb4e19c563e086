using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TinyProto.Samples.Echo;

/// <summary>The TLS settings the command line names: the server's certificate (<c>--tls-cert</c>), the client's trust (<c>--tls</c>, <c>--tls-ca</c>).</summary>
internal static class TlsFiles
{
    /// <summary>
    /// The server's options for <c>--tls-cert FILE</c>: a PEM certificate with its key in <c>--tls-key FILE</c> (or in the
    /// same file), or a <c>.pfx</c>/<c>.p12</c> file with an optional <c>--tls-password</c>. Null without <c>--tls-cert</c>.
    /// </summary>
    /// <exception cref="UsageException">An option without the one it goes with, or a file missing, unreadable or not a certificate with its key.</exception>
    public static SslServerAuthenticationOptions? LoadServerOptions(string? certificatePath, string? keyPath, string? password)
    {
        if (certificatePath is null)
        {
            return keyPath is null && password is null
                ? null
                : throw new UsageException("--tls-key and --tls-password go with --tls-cert");
        }

        bool pkcs12 = Path.GetExtension(certificatePath).ToLowerInvariant() is ".pfx" or ".p12";
        if (pkcs12 && keyPath is not null)
        {
            throw new UsageException("--tls-key goes with a PEM certificate; a .pfx/.p12 file holds its key");
        }

        if (!pkcs12 && password is not null)
        {
            throw new UsageException("--tls-password goes with a .pfx/.p12 certificate");
        }

        RequireFile("--tls-cert", certificatePath);
        if (keyPath is not null)
        {
            RequireFile("--tls-key", keyPath);
        }

        X509Certificate2 certificate;
        try
        {
            certificate = pkcs12
                ? X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password)
                : X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new UsageException($"cannot load the certificate from '{certificatePath}'{(keyPath is null ? "" : $" and '{keyPath}'")}: {ex.Message}");
        }

        if (!certificate.HasPrivateKey)
        {
            throw new UsageException($"'{certificatePath}' holds no private key for its certificate (give it with --tls-key)");
        }

        // Windows' TLS cannot use a key that lives only in memory, as a PEM key does: give it one from PKCS#12.
        if (OperatingSystem.IsWindows() && !pkcs12)
        {
            using X509Certificate2 ephemeral = certificate;
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
        }

        return new SslServerAuthenticationOptions { ServerCertificate = certificate };
    }

    /// <summary>
    /// The client's options: with <c>--tls-ca FILE</c>, trust the PEM certificates in that file alone (a test CA, or a
    /// self-signed server certificate); with <c>--tls</c> alone, the OS trust store. The host name to check is the
    /// address connected to. Null when neither is given.
    /// </summary>
    /// <exception cref="UsageException">The file is missing, unreadable or holds no PEM certificate.</exception>
    public static SslClientAuthenticationOptions? LoadClientOptions(bool tls, string? caPath)
    {
        if (caPath is null)
        {
            return tls ? new SslClientAuthenticationOptions() : null;
        }

        RequireFile("--tls-ca", caPath);
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(caPath);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read certificates from '{caPath}': {ex.Message}");
        }

        if (roots.Count == 0)
        {
            throw new UsageException($"'{caPath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(roots);
        return new SslClientAuthenticationOptions { CertificateChainPolicy = policy };
    }

    private static void RequireFile(string option, string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"{option}: no file '{path}'");
        }
    }
}
