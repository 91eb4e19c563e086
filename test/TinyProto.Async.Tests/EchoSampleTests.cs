namespace TinyProto.Async.Tests;

/// <summary>The echo sample (samples/TinyProto.Samples.Echo) as real processes, over TLS with PEM files made here.</summary>
public sealed class EchoSampleTests : TestBase, IAsyncLifetime
{
    private const string Sample = "TinyProto.Samples.Echo";
    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("tinyproto-tls-");

    public EchoSampleTests()
        : base(TimeSpan.FromSeconds(60))
    {
    }

    [Fact]
    public async Task Client_TlsTrustingTheServersPemCertificate_EchoesThroughTheTlsServer()
    {
        (string certificate, string key) = WriteSelfSignedPem();
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0", "--tls-cert", certificate, "--tls-key", key);
        string port = await ListeningPortAsync(server);

        await using ToolProcess client = ToolProcess.Start(Sample, "client", "--port", port, "--count", "20", "--size", "1000", "--tls", "--tls-ca", certificate);
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.True(exitCode == 0, $"exit code {exitCode}; stderr:\n{client.Stderr}\nserver stderr:\n{server.Stderr}");
        Assert.StartsWith("20 round trips of 1000 bytes in ", client.Stdout.Last());
    }

    [Fact]
    public async Task Client_TlsWithTheOsTrustStoreAgainstASelfSignedServer_ExitsOneNamingTheFailedTlsHandshake()
    {
        (string certificate, string key) = WriteSelfSignedPem();
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0", "--tls-cert", certificate, "--tls-key", key);
        string port = await ListeningPortAsync(server);

        await using ToolProcess client = ToolProcess.Start(Sample, "client", "--port", port, "--count", "1", "--size", "10", "--tls");
        int exitCode = await client.WaitForExitAsync(TimeoutToken);

        Assert.Equal(1, exitCode);
        Assert.Contains($"The TLS handshake with 127.0.0.1:{port} failed: ", client.Stderr);
    }

    [Theory]
    [InlineData("--tls-cert", "missing.pem", "--tls-cert: no file")]
    [InlineData("--tls-key", "key.pem", "--tls-key and --tls-password go with --tls-cert")]
    [InlineData("--tls-cert", "not-a-certificate.pem", "cannot load the certificate from")]
    public async Task Server_BadTlsFiles_ExitsTwoWithAUsageError(string option, string file, string error)
    {
        File.WriteAllText(Path.Combine(_files.FullName, "not-a-certificate.pem"), "hello");
        await using ToolProcess server = ToolProcess.Start(Sample, "server", "--port", "0", option, Path.Combine(_files.FullName, file));
        int exitCode = await server.WaitForExitAsync(TimeoutToken);

        Assert.Equal(2, exitCode);
        Assert.Contains(error, server.Stderr);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _files.Delete(recursive: true);
        return Task.CompletedTask;
    }

    private async Task<string> ListeningPortAsync(ToolProcess server)
    {
        string listening = await server.WaitForLineAsync("listening on ", TimeoutToken);
        return listening[(listening.LastIndexOf(':') + 1)..];
    }

    private (string Certificate, string Key) WriteSelfSignedPem() => SelfSignedPem.Write(_files);
}
