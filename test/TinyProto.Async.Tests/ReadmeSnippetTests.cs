using System.Buffers;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TinyProto.Async.Tests.Readme;

namespace TinyProto.Async.Tests;

/// <summary>
/// The README's "Using it from a service" code: each block is word for word a region of <c>Readme/ServiceSnippets.cs</c>
/// (so it compiles), and that code works against a real server, over TCP and TLS, across a restart.
/// </summary>
public sealed class ReadmeSnippetTests : TlsTestBase
{
    [Theory]
    [InlineData("request-reply")]
    [InlineData("reconnecting-client")]
    [InlineData("server-limits")]
    [InlineData("hosting", "HostingSnippets.cs")]
    [InlineData("hosting-types", "HostingSnippets.cs")]
    [InlineData("kestrel", "KestrelSnippets.cs")]
    public void TheReadmesBlock_IsTheCompiledRegionWordForWord(string name, string file = "ServiceSnippets.cs")
    {
        string root = RepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        Match block = Regex.Match(readme, $"<!-- snippet: {name} -->\\s*```csharp\\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, $"README.md has no block marked <!-- snippet: {name} -->");

        string source = File.ReadAllText(Path.Combine(root, "test", "TinyProto.Async.Tests", "Readme", file));
        Match region = Regex.Match(source, $"// <readme:{name}>\\n(.*?)\\n\\s*// </readme:{name}>", RegexOptions.Singleline);
        Assert.True(region.Success, $"{file} has no region <readme:{name}>");
        Assert.Equal(Dedent(region.Groups[1].Value).Trim(), block.Groups[1].Value.Trim());
    }

    [Fact]
    public async Task RequestReplySnippet_GetsTheReply()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Store>();
        int port = await StartLoopbackAsync(server);
        Assert.Equal("OK hello", await Bounded(ServiceSnippets.RequestReplyAsync(port, TimeoutToken)));
    }

    [Fact]
    public async Task ReconnectingClientSnippet_OverTls_KeepsWorkingAcrossAServerRestart()
    {
        int port;
        await using var store = new StoreClient(NullLogger<StoreClient>.Instance, ClientTls());
        await using (TinyProtoServer first = await StartStoreAsync(0))
        {
            port = ((IPEndPoint)first.BoundEndPoints[0]).Port;
            await Bounded(store.StartAsync("localhost", port, TimeoutToken));
            Assert.Equal("hello", await Bounded(store.GetAsync("greeting", TimeoutToken)));
        }

        // Down: a call waits out the outage within its 2 s, then says the store is unavailable.
        var down = await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(store.GetAsync("greeting", TimeoutToken)));
        Assert.IsType<TinyProtoException>(down.InnerException);

        // Up again: the next attempt comes within the backoff (at most 10 s), and a call after it succeeds.
        await using TinyProtoServer second = await StartStoreAsync(port);
        string? value = "not asked";
        for (int attempt = 0; attempt < 8 && value == "not asked"; attempt++)
        {
            try
            {
                value = await Bounded(store.GetAsync("missing", TimeoutToken));
            }
            catch (InvalidOperationException)
            {
                // Still waiting for the next attempt.
            }
        }

        Assert.Null(value);
    }

    [Fact]
    public async Task HostingSnippet_ServesEchoesAndAsksTheStore()
    {
        await using var store = new TinyProtoServer();
        store.SetConnectionHandler<Store>();
        int storePort = await StartLoopbackAsync(store);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection([
            new("TinyProto:Servers:echo:Endpoints:0", "127.0.0.1:0"),
            new("TinyProto:Clients:store:Server", $"127.0.0.1:{storePort}")]);
        builder.Services.AddLogging();
        using IHost host = HostingSnippets.Build(builder);
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoServer echo = host.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", ((IPEndPoint)echo.BoundEndPoints[0]).Port, TimeoutToken));
        Assert.Equal("echo me"u8.ToArray(), await Bounded(connection.RequestAsync("echo me"u8.ToArray(), TimeoutToken).AsTask()));
        Assert.Equal("OK hello"u8.ToArray(), await Bounded(host.Services.GetRequiredService<StoreUser>().AskAsync("GET greeting"u8.ToArray(), TimeoutToken)));
        Assert.Equal(HealthStatus.Healthy, (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(TimeoutToken)).Status);
        await Bounded(host.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task KestrelSnippet_ServesTinyProtoBesideHttp_WhichListsTheConnection()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        await using WebApplication app = KestrelSnippets.Build(builder, httpPort: 0, tinyProtoPort: 0);
        await Bounded(app.StartAsync(TimeoutToken));

        TinyProtoServer echo = app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        int port = ((IPEndPoint)echo.BoundEndPoints.Single()).Port;
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Assert.Equal("echo me"u8.ToArray(), await Bounded(connection.RequestAsync("echo me"u8.ToArray(), TimeoutToken).AsTask()));
        string http = app.Urls.Single(u => new Uri(u).Port != port);
        using var httpClient = new HttpClient();
        string[]? listed = await Bounded(httpClient.GetFromJsonAsync<string[]>(new Uri(new Uri(http), "/connections"), TimeoutToken));
        Assert.Equal(connection.LocalEndPoint!.ToString(), Assert.Single(listed!));
        await Bounded(app.StopAsync(TimeoutToken));
    }

    private async Task<TinyProtoServer> StartStoreAsync(int port)
    {
        TinyProtoServer server = ServiceSnippets.ServerForAnOpenPort(ServerTls());
        server.SetConnectionHandler<Store>();
        server.AddAddress("127.0.0.1", port);
        await Bounded(server.StartAsync(TimeoutToken));
        return server;
    }

    private static string Dedent(string text)
    {
        string[] lines = text.Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "TinyProto.Async.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("No TinyProto.Async.sln above the test assembly.");
    }

    /// <summary>Answers <c>GET greeting</c> with <c>OK hello</c>, any other key with <c>NOTFOUND</c>.</summary>
    private sealed class Store : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(Encoding.UTF8.GetString(message) == "GET greeting" ? "OK hello"u8.ToArray() : "NOTFOUND"u8.ToArray(), cancellationToken);
    }
}
