using System.CommandLine;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace TinyProto.Async.Cli;

/// <summary>The client commands' TLS options: <c>--tls</c>, <c>--tls-server-name</c>, <c>--tls-ca</c> and <c>--tls-insecure</c>.</summary>
internal sealed class ClientTlsOptions
{
    private readonly Option<bool> _tls = new("--tls") { Description = "Connect with TLS; the server's certificate is checked against the system's trusted roots (or --tls-ca)" };
    private readonly Option<string?> _serverName = new("--tls-server-name") { Description = "The name the server's certificate must carry (default: the HOST given)", HelpName = "NAME" };
    private readonly Option<FileInfo?> _ca = new("--tls-ca") { Description = "Trust the certificate(s) in this PEM or DER file as roots (for a private CA or a self-signed server)", HelpName = "FILE" };
    private readonly Option<bool> _insecure = new("--tls-insecure") { Description = "Accept any server certificate (testing only: anyone in between can read and change the traffic)" };

    public void AddTo(Command command)
    {
        command.Options.Add(_tls);
        command.Options.Add(_serverName);
        command.Options.Add(_ca);
        command.Options.Add(_insecure);
    }

    /// <summary>The client's TLS settings for <paramref name="host"/>, or null without <c>--tls</c>.</summary>
    public SslClientAuthenticationOptions? Create(ParseResult parse, string host)
    {
        FileInfo? ca = parse.GetValue(_ca);
        bool insecure = parse.GetValue(_insecure);
        string? serverName = parse.GetValue(_serverName);
        if (!parse.GetValue(_tls))
        {
            if (ca is not null || insecure || serverName is not null)
            {
                throw new CommandLineException("--tls-ca, --tls-insecure and --tls-server-name need --tls");
            }

            return null;
        }

        var options = new SslClientAuthenticationOptions { TargetHost = serverName ?? host };
        if (insecure)
        {
#pragma warning disable CA5359 // What --tls-insecure asks for, and says so in its help.
            options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        else if (ca is not null)
        {
            X509Certificate2Collection roots = LoadRoots(ca);
            options.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is not null && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None && ChainsTo(certificate, roots);
        }

        return options;
    }

    private static X509Certificate2Collection LoadRoots(FileInfo file)
    {
        if (!file.Exists)
        {
            throw new CommandLineException($"--tls-ca: '{file.FullName}' does not exist");
        }

        var roots = new X509Certificate2Collection();
        try
        {
            string text = File.ReadAllText(file.FullName);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                roots.ImportFromPem(text);
            }
            else
            {
#pragma warning disable SYSLIB0057 // X509CertificateLoader is .NET 9+; this tool also runs on .NET 8.
                roots.Add(new X509Certificate2(file.FullName));
#pragma warning restore SYSLIB0057
            }
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw new CommandLineException($"--tls-ca: '{file.FullName}' holds no certificate that can be read ({ex.Message})");
        }

        return roots.Count > 0 ? roots : throw new CommandLineException($"--tls-ca: '{file.FullName}' holds no certificate");
    }

    private static bool ChainsTo(X509Certificate certificate, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
