using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyProto.Async.AspNetCore;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.AspNetCore;

/// <summary>
/// <c>listenOptions.UseTinyProto(name)</c> in the real Kestrel: tinyproto beside HTTP in one process, served by the
/// injectable server with its limits, hooks, active connections and endpoints; a host stop that finishes what was
/// accepted and returns in well under the shutdown timeout; Kestrel's transport errors as <see cref="TinyProtoException"/>.
/// </summary>
public sealed class KestrelAdapterTests : KestrelAdapterTestBase
{
    [Fact]
    public async Task ATinyProtoClientAndAnHttpClient_AreServedByOneApp_TheServerListingTheConnectionWithItsEndpoints()
    {
        await using WebApplication app = NewApp();
        await Bounded(app.StartAsync(TimeoutToken));
        var server = (RecordingServer)app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));

        byte[] reply = await Bounded(connection.RequestAsync("hello"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask());
        using var http = new HttpClient { BaseAddress = HttpAddress(app) };
        int active = await Bounded(http.GetFromJsonAsync<int>("/active", TimeoutToken));

        Assert.Equal("hello"u8.ToArray(), reply);
        Assert.Equal(1, active);
        TinyProtoConnection served = Assert.Single(server.ActiveConnections.Values);
        Assert.IsType<EchoConnection>(served);
        Assert.Same(served, Assert.Single(server.Initialised));
        Assert.Equal(connection.LocalEndPoint, served.RemoteEndPoint);
        Assert.Equal(connection.RemoteEndPoint, served.LocalEndPoint);
        Assert.Equal(TinyProtoServerState.Listening, server.State);

        await connection.CloseAsync(TimeoutToken);
        Assert.Same(served, await Bounded(server.FirstShutDown.Task));
        Assert.Empty(server.ActiveConnections);
        await Bounded(app.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task TheServersConnectionLimit_AppliesToKestrelsClients_TheOneOverItRefusedWith0xFE()
    {
        await using WebApplication app = NewApp(register: services =>
            services.AddTinyProtoServer<RecordingServer, EchoConnection>("echo").Configure(o => o.ConnectionLimit = 1));
        await Bounded(app.StartAsync(TimeoutToken));
        await using var client = new TinyProtoClient();
        TinyProtoConnection first = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));

        var refused = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken)));

        Assert.Equal(TinyProtoError.ConnectionLimitReached, refused.Error);
        Assert.Equal("still served"u8.ToArray(), await Bounded(first.RequestAsync("still served"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask()));
        await Bounded(app.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task StoppingTheHost_WithAClientConnected_EndsItCleanlyInWellUnderFiveSeconds()
    {
        var logs = new RecordingLoggerFactory();
        await using WebApplication app = NewApp(logs);
        await Bounded(app.StartAsync(TimeoutToken));
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));
        await Bounded(connection.RequestAsync("warm"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask());

        var watch = Stopwatch.StartNew();
        await Bounded(app.StopAsync(TimeoutToken));
        watch.Stop();

        // Kestrel alone would wait for the shutdown timeout (30 s here) before aborting the connection.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"The host took {watch.Elapsed} to stop.");
        await Bounded(connection.Completion);
        Assert.Equal(TinyProtoCloseReason.PeerClosed, connection.CloseReason);
        var server = (RecordingServer)app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        Assert.Single(server.ShutDown);
        Assert.Equal(TinyProtoServerState.Stopped, server.State);
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task StoppingTheHost_WhileAHookHoldsAnAcceptedMessage_StillAnswersIt_AndDeclinesANewOneWith0xFD()
    {
        await using WebApplication app = NewApp(register: services =>
            services.AddTinyProtoServer<RecordingServer, HeldEcho>("echo"));
        await Bounded(app.StartAsync(TimeoutToken));
        var server = (RecordingServer)app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        await using RawPeer raw = await ConnectRawAsync(TinyProtoPort(app));
        await Bounded(raw.OpenAsClientAsync());
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("first"u8.ToArray())));
        var hook = (HeldEcho)Assert.Single(server.ActiveConnections.Values);
        await Bounded(hook.Holding.Task);

        Task stop = app.StopAsync(TimeoutToken);
        await WaitUntilAsync(() => hook.IsStopping);

        // Kestrel asked the connection to close: a header after that is declined, the held message still answered.
        await Bounded(raw.WriteAsync(RawPeer.Header(6)));
        Assert.Equal(0xFD, await Bounded(raw.ReadByteAsync()));
        hook.Release.TrySetResult();
        Assert.Equal(RawPeer.Header(5), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("first"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(5)));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(stop);
        Assert.Single(server.ShutDown);
    }

    [Fact]
    public async Task APeerThatResetsMidMessage_EndsItsConnectionWithATinyProtoException_WrappingKestrelsError()
    {
        await using WebApplication app = NewApp();
        await Bounded(app.StartAsync(TimeoutToken));
        var server = (RecordingServer)app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(new IPEndPoint(IPAddress.Loopback, TinyProtoPort(app)), TimeoutToken);
            byte[] answer = new byte[1];
            await raw.SendAsync(new byte[] { 0xFF }, SocketFlags.None, TimeoutToken); // the opening byte: lock-step
            Assert.Equal(1, await raw.ReceiveAsync(answer, SocketFlags.None, TimeoutToken));
            await raw.SendAsync(RawPeer.Header(100), SocketFlags.None, TimeoutToken);
            Assert.Equal(1, await raw.ReceiveAsync(answer, SocketFlags.None, TimeoutToken));
            Assert.Equal(0xFF, answer[0]);
            await raw.SendAsync(new byte[] { 1, 2, 3 }, SocketFlags.None, TimeoutToken); // part of the payload
            await WaitUntilAsync(() => server.ActiveConnections.Values.Single().PayloadBytesMoved > 0);
            raw.LingerState = new LingerOption(true, 0);
        }

        TinyProtoConnection ended = await Bounded(server.FirstShutDown.Task);

        var error = Assert.IsType<TinyProtoException>(ended.CloseError);
        Assert.Equal(TinyProtoError.ConnectionClosed, error.Error);
        Assert.IsAssignableFrom<ConnectionResetException>(error.InnerException);
        await using var client = new TinyProtoClient();
        TinyProtoConnection next = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));
        Assert.Equal("unharmed"u8.ToArray(), await Bounded(next.RequestAsync("unharmed"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask()));
        await Bounded(app.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task UseTinyProtoOfAConnectionClass_MakesEachThroughDependencyInjection_InAScopeDisposedWhenItEnds()
    {
        await using WebApplication app = NewApp(
            register: services => services.AddSingleton<Greeting>().AddScoped<PerConnection>().AddTinyProtoServer<RecordingServer, EchoConnection>("echo"),
            tinyProto: listen => listen.UseTinyProto<GreetingEcho>("echo"));
        await Bounded(app.StartAsync(TimeoutToken));
        var server = (RecordingServer)app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));

        byte[] reply = await Bounded(connection.RequestAsync(" world"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask());
        var served = (GreetingEcho)Assert.Single(server.ActiveConnections.Values);
        await connection.CloseAsync(TimeoutToken);
        await Bounded(server.FirstShutDown.Task);

        Assert.Equal("hello world"u8.ToArray(), reply);
        await WaitUntilAsync(() => served.Scoped.Disposed);
        await Bounded(app.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task TlsOnTheKestrelEndpoint_UseHttpsBeforeUseTinyProto_ServesATlsClient()
    {
        await using WebApplication app = NewApp(tinyProto: listen => listen.UseHttps(TestCertificates.Server).UseTinyProto("echo"));
        await Bounded(app.StartAsync(TimeoutToken));
        await using var client = new TinyProtoClient
        {
            TlsOptions = new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                CertificateChainPolicy = TestCertificates.TrustOnly(TestCertificates.Ca),
            },
        };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));

        Assert.Equal("secret"u8.ToArray(), await Bounded(connection.RequestAsync("secret"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask()));
        await Bounded(app.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task InAGenericHostWhereKestrelStartsFirst_AClientArrivingBeforeTheServerStarted_WaitsAndIsServed_AndTheStopEndsItAtOnce()
    {
        // ConfigureWebHost before AddTinyProtoServer: Kestrel's hosted service starts before the server's and stops after it.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using IHost host = Host.CreateDefaultBuilder()
            .ConfigureLogging(logging => logging.ClearProviders())
            .ConfigureWebHost(web => web.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseTinyProto("echo"))).Configure(_ => { }))
            .ConfigureServices(services => services.AddSingleton(gate).AddTinyProtoServer<GatedServer, EchoConnection>("echo"))
            .Build();
        Task start = host.StartAsync(TimeoutToken);
        var server = (GatedServer)host.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        await WaitUntilAsync(() => server.BoundEndPoints.Count == 1 && server.State == TinyProtoServerState.Starting);

        // Kestrel accepts; the server is still in its PreLoopAsync, so the handshake waits for it.
        await using var client = new TinyProtoClient();
        Task<TinyProtoConnection> connecting = client.ConnectAsync("127.0.0.1", PortOf(server), TimeoutToken);
        await Task.Delay(100, TimeoutToken);
        Assert.False(connecting.IsCompleted);
        gate.SetResult();
        await Bounded(start);
        TinyProtoConnection connection = await Bounded(connecting);
        Assert.Equal("ordered"u8.ToArray(), await Bounded(connection.RequestAsync("ordered"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask()));

        var watch = Stopwatch.StartNew();
        await Bounded(host.StopAsync(TimeoutToken));
        watch.Stop();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"The host took {watch.Elapsed} to stop.");
        await Bounded(connection.Completion);
        Assert.Equal(TinyProtoCloseReason.PeerClosed, connection.CloseReason);
    }

    [Fact]
    public async Task AHookThatIgnoresTheStop_IsAbortedAtTheServersStopTimeout_SoTheHostStillStops()
    {
        await using WebApplication app = NewApp(register: services =>
            services.AddTinyProtoServer<RecordingServer, HeldEcho>("echo").Configure(o => o.StopTimeout = TimeSpan.FromSeconds(1)));
        await Bounded(app.StartAsync(TimeoutToken));
        var server = (RecordingServer)app.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));
        await Bounded(connection.TransmitAsync("held for ever"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(((HeldEcho)server.ActiveConnections.Values.Single()).Holding.Task);

        var watch = Stopwatch.StartNew();
        await Bounded(app.StopAsync(TimeoutToken));
        watch.Stop();

        // Kestrel's own shutdown timeout is 30 s here: the server's 1 s stop deadline ended the connection.
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        await Bounded(connection.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        Assert.Single(server.ShutDown);
    }

    [Fact]
    public async Task ThePerAddressLimit_RefusesKestrelsExtraClientWith0xFE_AndServesTheFirst()
    {
        await using WebApplication app = NewApp(register: services =>
            services.AddTinyProtoServer<RecordingServer, EchoConnection>("echo").Configure(o => o.MaxConnectionsPerRemoteAddress = 1));
        await Bounded(app.StartAsync(TimeoutToken));
        await using var client = new TinyProtoClient();
        TinyProtoConnection first = await Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken));

        var refused = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", TinyProtoPort(app), TimeoutToken)));

        Assert.Equal(TinyProtoError.ConnectionLimitReached, refused.Error);
        Assert.Equal("first"u8.ToArray(), await Bounded(first.RequestAsync("first"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask()));
        await Bounded(app.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task TlsOptionsSetAfterUseTinyProto_FailTheStart_SayingToUseKestrelsHttps()
    {
        await using WebApplication app = NewApp();
        app.Services.GetRequiredKeyedService<TinyProtoServer>("echo").TlsOptions = new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server };

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(app.StartAsync(TimeoutToken)));

        Assert.Contains("TlsOptions apply only to the server's own endpoints, and Kestrel hands this server clients", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseTinyProto_OfAServerNotRegistered_SaysWhichAndHowToAddIt()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => NewApp(tinyProto: listen => listen.UseTinyProto("chat")));

        Assert.Contains("No tinyproto server named 'chat' is registered. Add it with builder.Services.AddTinyProtoServer<TConnection>(\"chat\")", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseTinyProto_OfAServerWithTlsOptions_IsRefused_SoTheEndpointIsNeverPlainByMistake()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => NewApp(register: services => services.AddTinyProtoServer<RecordingServer, EchoConnection>("echo",
            (_, server) => server.TlsOptions = new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server })));

        Assert.Contains("The tinyproto server 'echo' has TlsOptions, which apply only to its own endpoints", ex.Message, StringComparison.Ordinal);
        Assert.Contains("listenOptions.UseHttps(...)", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A server whose start (its PreLoopAsync) waits for the test's gate.</summary>
    public sealed class GatedServer(TaskCompletionSource gate) : TinyProtoServer
    {
        protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken) => await gate.Task.WaitAsync(cancellationToken);
    }

    /// <summary>A singleton the connections greet with.</summary>
    public sealed class Greeting
    {
        public byte[] Text { get; } = "hello"u8.ToArray();
    }

    /// <summary>One per connection, disposed with its scope.</summary>
    public sealed class PerConnection : IDisposable
    {
        private volatile bool _disposed;

        public bool Disposed => _disposed;

        public void Dispose() => _disposed = true;
    }

    /// <summary>Answers with the greeting from DI, then the message.</summary>
    public sealed class GreetingEcho(Greeting greeting, PerConnection scoped) : TinyProtoConnection
    {
        public PerConnection Scoped { get; } = scoped;

        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync((byte[])[.. greeting.Text, .. message.ToArray()], cancellationToken);
    }

    /// <summary>Holds each message in its hook until released, then echoes it.</summary>
    public sealed class HeldEcho : TinyProtoConnection
    {
        public TaskCompletionSource Holding { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            byte[] copy = message.ToArray();
            Holding.TrySetResult();
            await Release.Task.WaitAsync(cancellationToken);
            await TransmitAsync(copy, cancellationToken);
        }
    }
}
