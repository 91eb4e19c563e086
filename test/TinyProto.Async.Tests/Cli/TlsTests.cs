namespace TinyProto.Async.Tests.Cli;

/// <summary>The tool's TLS options as real processes: listen, send, ping and file transfer over TLS with a self-signed certificate made here.</summary>
public sealed class TlsTests : CliTestBase, IDisposable
{
    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("tinyproto-cli-tls-");

    [Fact]
    public async Task Send_WithTlsTrustingTheListenersCertificate_GetsTheEchoThroughTls()
    {
        (string certificate, string key) = SelfSignedPem.Write(_files);
        await using ToolProcess listener = Start("listen", "--port", "0", "--echo", "--tls-cert", certificate, "--tls-key", key);
        string listening = await listener.WaitForLineAsync("listening on ", TimeoutToken);
        string port = await ListeningPortAsync(listener);

        var (exitCode, stdout, stderr) = await RunAsync("send", $"127.0.0.1:{port}", "secret", "--expect-reply", "--tls", "--tls-ca", certificate);

        Assert.EndsWith(" (TLS)", listening);
        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Equal(["secret"], stdout);
    }

    [Fact]
    public async Task Ping_WithTlsButWithoutTrustingASelfSignedCertificate_FailsNamingTheTlsHandshake()
    {
        (string certificate, string key) = SelfSignedPem.Write(_files);
        await using ToolProcess listener = Start("listen", "--port", "0", "--echo", "--tls-cert", certificate, "--tls-key", key);
        string port = await ListeningPortAsync(listener);

        var (exitCode, stdout, stderr) = await RunAsync("ping", $"127.0.0.1:{port}", "--count", "1", "--tls");

        Assert.NotEqual(0, exitCode);
        Assert.Empty(stdout);
        Assert.Contains("TLS handshake", stderr);
    }

    [Fact]
    public async Task SendFile_OverTls_ArrivesVerified()
    {
        (string certificate, string key) = SelfSignedPem.Write(_files);
        string file = Path.Combine(_files.FullName, "payload.bin");
        File.WriteAllBytes(file, [.. Enumerable.Range(0, 200_000).Select(i => (byte)(i * 31))]);
        string received = Directory.CreateDirectory(Path.Combine(_files.FullName, "received")).FullName;
        await using ToolProcess receiver = Start("receive-files", "--port", "0", "--dir", received, "--tls-cert", certificate, "--tls-key", key);
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", $"127.0.0.1:{port}", file, "--tls", "--tls-ca", certificate);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains(stdout, line => line.StartsWith("sent payload.bin: 200000 bytes, SHA-256 verified by the receiver", StringComparison.Ordinal));
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(received, "payload.bin")));
    }

    public new void Dispose()
    {
        _files.Delete(recursive: true);
        base.Dispose();
    }
}
