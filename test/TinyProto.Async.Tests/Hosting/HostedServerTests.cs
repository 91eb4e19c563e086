using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.Hosting;

/// <summary>
/// <c>AddTinyProtoServer</c> in a real generic host: options from configuration (validated at start), connections made
/// through DI in a scope each, named servers side by side, the host's clock, a graceful stop within the host's shutdown
/// timeout, and a health check that tells listening from draining.
/// </summary>
public sealed class HostedServerTests : HostingTestBase
{
    [Fact]
    public async Task AServerFromConfiguration_StartsWithTheHost_TakesItsConnectionsServicesFromDI_AndStopsWithIt()
    {
        HostApplicationBuilder builder = NewHost(
            ("TinyProto:Servers:echo:Endpoints:0", "127.0.0.1:0"),
            ("TinyProto:Servers:echo:ConnectionLimit", "5"),
            ("TinyProto:Servers:echo:IdleTimeout", "00:05:00"));
        AddGreetingServices(builder.Services);
        builder.Services.AddTinyProtoServer<GreetingEcho>("echo").BindConfiguration("TinyProto:Servers:echo");
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoServer server = host.Services.GetRequiredKeyedService<TinyProtoServer>("echo");
        Assert.Equal(TinyProtoServerState.Listening, server.State);
        Assert.Equal(5, server.ConnectionLimit);
        Assert.Equal(TimeSpan.FromMinutes(5), server.ConnectionOptions.IdleTimeout);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(server), TimeoutToken));
        Assert.Equal("hello there"u8.ToArray(), await Bounded(connection.RequestAsync(" there"u8.ToArray(), TimeoutToken).AsTask()));

        int disposedBefore = PerConnection.Disposed;
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await Bounded(host.StopAsync(TimeoutToken));
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"the host took {stopping.Elapsed} to stop with a client connected");
        Assert.Equal(TinyProtoServerState.Stopped, server.State);
        await Bounded(connection.Completion);
        await WaitUntilAsync(() => PerConnection.Disposed > disposedBefore);
    }

    [Fact]
    public async Task BadOptions_StopTheHostsStart_NamingEachBadSetting()
    {
        HostApplicationBuilder builder = NewHost(
            ("TinyProto:Servers:bad:Endpoints:0", "127.0.0.1:99999"),
            ("TinyProto:Servers:bad:Endpoints:1", "::1:5000"),
            ("TinyProto:Servers:bad:ConnectionLimit", "0"));
        builder.Services.AddTinyProtoServer<GreetingEcho>("bad").BindConfiguration("TinyProto:Servers:bad");
        using IHost host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => Bounded(host.StartAsync(TimeoutToken)));
        Assert.Contains("'127.0.0.1:99999' is not HOST:PORT (the port '99999' is not a number from 0 to 65535)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionLimit", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoEndpoints_StopTheStart_SayingSo()
    {
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddTinyProtoServer<GreetingEcho>();
        using IHost host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(host.StartAsync(TimeoutToken)));
        Assert.Contains("has nowhere to listen: its Endpoints are empty and no Kestrel endpoint hands it clients", ex.Message, StringComparison.Ordinal);
        Assert.Equal(TinyProtoServerState.Stopped, host.Services.GetRequiredService<TinyProtoServer>().State);
    }

    [Fact]
    public async Task NoEndpointsInTheOptions_ButAnAddressFromConfigureServer_Listens()
    {
        HostApplicationBuilder builder = NewHost();
        AddGreetingServices(builder.Services);
        builder.Services.AddTinyProtoServer<GreetingEcho>("coded", (_, server) => server.AddAddress("127.0.0.1", 0));
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoServer server = host.Services.GetRequiredKeyedService<TinyProtoServer>("coded");
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(server), TimeoutToken));
        Assert.Equal("hello!"u8.ToArray(), await Bounded(connection.RequestAsync("!"u8.ToArray(), TimeoutToken).AsTask()));
        await Bounded(host.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task TwoNamedServers_RunSideBySide_EachWithItsOwnOptionsAndConnections()
    {
        HostApplicationBuilder builder = NewHost();
        AddGreetingServices(builder.Services);
        builder.Services.AddTinyProtoServer<GreetingEcho>("greeter").Configure(o => o.Endpoints.Add("127.0.0.1:0"));
        builder.Services.AddTinyProtoServer<HeldEcho>("plain", (_, server) => server.StopTimeout = TimeSpan.FromSeconds(1))
            .Configure(o => { o.Endpoints.Add("127.0.0.1:0"); o.MaxConnectionsPerRemoteAddress = 3; });
        Assert.Throws<InvalidOperationException>(() => builder.Services.AddTinyProtoServer<GreetingEcho>("greeter"));
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoServer greeter = host.Services.GetRequiredKeyedService<TinyProtoServer>("greeter");
        TinyProtoServer plain = host.Services.GetRequiredKeyedService<TinyProtoServer>("plain");
        Assert.NotEqual(PortOf(greeter), PortOf(plain));
        Assert.Null(greeter.MaxConnectionsPerRemoteAddress);
        Assert.Equal(3, plain.MaxConnectionsPerRemoteAddress);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(greeter), TimeoutToken));
        Assert.Equal("hello!"u8.ToArray(), await Bounded(connection.RequestAsync("!"u8.ToArray(), TimeoutToken).AsTask()));
        await Bounded(host.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task AServerClassOfYours_IsMadeThroughDI_RunsItsHooks_AndIsInjectableAsItself()
    {
        HostApplicationBuilder builder = NewHost();
        AddGreetingServices(builder.Services);
        builder.Services.AddTinyProtoServer<CountingServer, GreetingEcho>("mine").Configure(o => o.Endpoints.Add("127.0.0.1:0"));
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        CountingServer server = host.Services.GetRequiredKeyedService<CountingServer>("mine");
        Assert.Same(server, host.Services.GetRequiredKeyedService<TinyProtoServer>("mine"));
        Assert.NotNull(server.Greeting);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(server), TimeoutToken));
        await Bounded(connection.RequestAsync("!"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal(1, server.Initialized);
        await Bounded(host.StopAsync(TimeoutToken));
    }

    /// <summary>A server class of the app's: its constructor takes services, its hook counts connections.</summary>
    public sealed class CountingServer(Microsoft.Extensions.Logging.ILoggerFactory loggers, Greeting greeting) : TinyProtoServer(loggers)
    {
        private int _initialized;

        public Greeting Greeting { get; } = greeting;

        public int Initialized => Volatile.Read(ref _initialized);

        protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _initialized);
            return default;
        }
    }

    [Fact]
    public async Task TheHostsClockAndShutdownTimeout_AreTheServers()
    {
        var clock = new FakeTimeProvider();
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddTinyProtoServer<GreetingEcho>().Configure(o => { o.Endpoints.Add("127.0.0.1:0"); o.StopTimeout = TimeSpan.FromSeconds(30); });
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoServer server = host.Services.GetRequiredService<TinyProtoServer>();
        Assert.Same(clock, server.ConnectionOptions.TimeProvider);
        Assert.Equal(TimeSpan.FromSeconds(1.6), server.StopTimeout);
        await Bounded(host.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task TheHealthCheck_IsHealthyWhileListening_AndReportsADrainWhileTheServerStops()
    {
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddTinyProtoServer<HeldEcho>("held").Configure(o => { o.Endpoints.Add("127.0.0.1:0"); o.StopTimeout = TimeSpan.FromSeconds(10); });
        builder.Services.AddHealthChecks().AddTinyProtoServer("held", tags: ["ready"]);
        using IHost host = builder.Build();
        HealthCheckService health = host.Services.GetRequiredService<HealthCheckService>();
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(TimeoutToken)).Status);

        await Bounded(host.StartAsync(TimeoutToken));
        HealthReport listening = await health.CheckHealthAsync(TimeoutToken);
        Assert.Equal(HealthStatus.Healthy, listening.Status);
        Assert.Contains("is listening on 127.0.0.1:", listening.Entries["tinyproto-held"].Description, StringComparison.Ordinal);

        // A message in hand holds the stop: the server drains.
        TinyProtoServer server = host.Services.GetRequiredKeyedService<TinyProtoServer>("held");
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(server), TimeoutToken));
        Task<byte[]> reply = connection.RequestAsync("in hand"u8.ToArray(), TimeSpan.FromSeconds(20), TimeoutToken).AsTask();
        await Bounded(HeldEcho.Holding.Task);
        Task stopped = host.StopAsync(TimeoutToken);
        await WaitUntilAsync(() => server.State == TinyProtoServerState.Stopping);
        HealthReport draining = await health.CheckHealthAsync(TimeoutToken);
        Assert.Equal(HealthStatus.Unhealthy, draining.Status);
        Assert.Contains("is draining", draining.Entries["tinyproto-held"].Description, StringComparison.Ordinal);

        HeldEcho.Release.TrySetResult();
        Assert.Equal("in hand"u8.ToArray(), await Bounded(reply));
        await Bounded(stopped);
        Assert.Contains("has stopped", (await health.CheckHealthAsync(TimeoutToken)).Entries["tinyproto-held"].Description, StringComparison.Ordinal);
    }
}
