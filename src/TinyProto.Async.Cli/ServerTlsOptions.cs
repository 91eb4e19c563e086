using System.CommandLine;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TinyProto.Async.Cli;

/// <summary>The listening commands' TLS options: <c>--tls-cert</c>, <c>--tls-key</c> and <c>--tls-password</c>.</summary>
internal sealed class ServerTlsOptions
{
    private readonly Option<FileInfo?> _certificate = new("--tls-cert") { Description = "Serve TLS with this certificate: a PKCS#12 (.pfx/.p12) file, or PEM with its key in it or in --tls-key", HelpName = "FILE" };
    private readonly Option<FileInfo?> _key = new("--tls-key") { Description = "The PEM private key of --tls-cert, when it is in a file of its own", HelpName = "FILE" };
    private readonly Option<string?> _password = new("--tls-password") { Description = "The password of a PKCS#12 --tls-cert (or set TINYPROTO_TLS_PASSWORD)", HelpName = "PASSWORD" };

    public void AddTo(Command command)
    {
        command.Options.Add(_certificate);
        command.Options.Add(_key);
        command.Options.Add(_password);
    }

    /// <summary>The server's TLS settings, or null without <c>--tls-cert</c>.</summary>
    public SslServerAuthenticationOptions? Create(ParseResult parse)
    {
        FileInfo? certificateFile = parse.GetValue(_certificate);
        FileInfo? keyFile = parse.GetValue(_key);
        if (certificateFile is null)
        {
            return keyFile is null && parse.GetValue(_password) is null
                ? null
                : throw new CommandLineException("--tls-key and --tls-password need --tls-cert");
        }

        if (!certificateFile.Exists)
        {
            throw new CommandLineException($"--tls-cert: '{certificateFile.FullName}' does not exist");
        }

        if (keyFile is { Exists: false })
        {
            throw new CommandLineException($"--tls-key: '{keyFile.FullName}' does not exist");
        }

        string? password = parse.GetValue(_password) ?? Environment.GetEnvironmentVariable("TINYPROTO_TLS_PASSWORD");
        X509Certificate2 certificate;
        try
        {
            certificate = Load(certificateFile, keyFile, password);
        }
        catch (CryptographicException ex)
        {
            throw new CommandLineException($"--tls-cert: cannot load '{certificateFile.FullName}' ({ex.Message})");
        }

        if (!certificate.HasPrivateKey)
        {
            throw new CommandLineException($"--tls-cert: '{certificateFile.FullName}' has no private key (give it with --tls-key)");
        }

        return new SslServerAuthenticationOptions { ServerCertificate = certificate };
    }

    private static X509Certificate2 Load(FileInfo certificateFile, FileInfo? keyFile, string? password)
    {
        string head = File.ReadAllText(certificateFile.FullName);
        if (!head.Contains("-----BEGIN", StringComparison.Ordinal))
        {
#pragma warning disable SYSLIB0057 // X509CertificateLoader is .NET 9+; this tool also runs on .NET 8.
            return new X509Certificate2(certificateFile.FullName, password, X509KeyStorageFlags.EphemeralKeySet);
#pragma warning restore SYSLIB0057
        }

        using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(certificateFile.FullName, keyFile?.FullName);
        // SslStream on Linux wants a certificate whose key it can use directly; a PKCS#12 round trip gives it one.
#pragma warning disable SYSLIB0057
        return new X509Certificate2(pem.Export(X509ContentType.Pkcs12));
#pragma warning restore SYSLIB0057
    }
}
