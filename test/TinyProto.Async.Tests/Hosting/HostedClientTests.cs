using System.Buffers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.Hosting;

/// <summary>
/// <c>AddTinyProtoClient</c>: an injectable client from validated options, and with <c>Server</c> set a reconnecting
/// connection that the host connects in the background and closes when it stops.
/// </summary>
public sealed class HostedClientTests : HostingTestBase
{
    [Fact]
    public async Task AClientWithAServer_InjectsAReconnectingConnection_ThatTheHostConnectsAndCloses()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Echo>();
        int port = await StartLoopbackAsync(server);
        HostApplicationBuilder builder = NewHost(
            ("TinyProto:Clients:store:Server", $"127.0.0.1:{port}"),
            ("TinyProto:Clients:store:Timeout", "00:00:03"),
            ("TinyProto:Clients:store:ReconnectMaxDelay", "00:00:01"));
        builder.Services.AddTinyProtoClient("store").BindConfiguration("TinyProto:Clients:store");
        builder.Services.AddSingleton<StoreUser>();
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        StoreUser user = host.Services.GetRequiredService<StoreUser>();
        Assert.Equal("ping"u8.ToArray(), await Bounded(user.Store.RequestAsync("ping"u8.ToArray(), TimeoutToken).AsTask()));
        TinyProtoClient client = host.Services.GetRequiredKeyedService<TinyProtoClient>("store");
        Assert.Equal(TimeSpan.FromSeconds(3), client.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(1), client.Reconnect.MaxDelay);

        await Bounded(host.StopAsync(TimeoutToken));
        await Bounded(user.Store.Completion);
        Assert.Empty(client.ActiveConnections);
    }

    [Fact]
    public async Task AHostedClientsConnections_RecordOnTheContainersMeterFactory()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Echo>();
        int port = await StartLoopbackAsync(server);
        HostApplicationBuilder builder = NewHost(("TinyProto:Clients:store:Server", $"127.0.0.1:{port}"));
        builder.Services.AddTinyProtoClient("store").BindConfiguration("TinyProto:Clients:store");
        using IHost host = builder.Build();
        System.Diagnostics.Metrics.IMeterFactory meters = host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var active = new MetricCollector<long>(meters, "TinyProto.Async", "tinyproto.client.active_connections");
        using var sent = new MetricCollector<long>(meters, "TinyProto.Async", "tinyproto.sent.messages");
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoReconnectingConnection store = host.Services.GetRequiredKeyedService<TinyProtoReconnectingConnection>("store");
        await Bounded(store.RequestAsync("ping"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal(1, active.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, sent.GetMeasurementSnapshot().Sum(m => m.Value));

        await Bounded(host.StopAsync(TimeoutToken));
        Assert.Equal(0, active.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task TheHostStartsWhileTheServerIsDown_AndCallsWaitForIt()
    {
        int port = FreeLoopbackPort();
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddTinyProtoClient().Configure(o => { o.Server = $"127.0.0.1:{port}"; o.ReconnectInitialDelay = TimeSpan.FromMilliseconds(20); o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(200); });
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        TinyProtoReconnectingConnection store = host.Services.GetRequiredService<TinyProtoReconnectingConnection>();
        Task<byte[]> waiting = store.RequestAsync("late"u8.ToArray(), TimeSpan.FromSeconds(10), TimeoutToken).AsTask();
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Echo>();
        server.AddAddress("127.0.0.1", port);
        await Bounded(server.StartAsync(TimeoutToken));
        Assert.Equal("late"u8.ToArray(), await Bounded(waiting));
        await Bounded(host.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task AClientWithoutAServer_SaysSoWhenItsReconnectingConnectionIsAskedFor()
    {
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddTinyProtoClient("plain");
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        Assert.NotNull(host.Services.GetRequiredKeyedService<TinyProtoClient>("plain"));
        var ex = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredKeyedService<TinyProtoReconnectingConnection>("plain"));
        Assert.Contains("has no Server in its options", ex.Message, StringComparison.Ordinal);
        await Bounded(host.StopAsync(TimeoutToken));
    }

    [Fact]
    public async Task ABadServerOrReconnectSetting_StopsTheStart_NamingIt()
    {
        HostApplicationBuilder builder = NewHost(("TinyProto:Clients:c:Server", "localhost"), ("TinyProto:Clients:c:ReconnectJitter", "2"));
        builder.Services.AddTinyProtoClient("c").BindConfiguration("TinyProto:Clients:c");
        using IHost host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => Bounded(host.StartAsync(TimeoutToken)));
        Assert.Contains("'localhost' is not HOST:PORT", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ReconnectJitter", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedConnectAttempts_LetGoOfTheScopesTheirConnectionsWereMadeIn()
    {
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddScoped<Counted>();
        builder.Services.AddTinyProtoClient<CountedConnection>("down").Configure(o =>
        {
            o.Server = $"127.0.0.1:{FreeLoopbackPort()}";
            o.ReconnectInitialDelay = TimeSpan.FromMilliseconds(10);
            o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(20);
        });
        using IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));

        await WaitUntilAsync(() => Counted.Made >= 5);
        await WaitUntilAsync(() => Counted.Disposed >= Counted.Made - 1);
        await Bounded(host.StopAsync(TimeoutToken));
        await WaitUntilAsync(() => Counted.Disposed == Counted.Made);
    }

    /// <summary>A service of the app's that takes the reconnecting connection by its key.</summary>
    private sealed class StoreUser([FromKeyedServices("store")] TinyProtoReconnectingConnection store)
    {
        public TinyProtoReconnectingConnection Store { get; } = store;
    }

    /// <summary>A scoped service that counts how many were made and disposed.</summary>
    private sealed class Counted : IDisposable
    {
        private static int s_made;
        private static int s_disposed;

        public Counted() => Interlocked.Increment(ref s_made);

        public static int Made => Volatile.Read(ref s_made);

        public static int Disposed => Volatile.Read(ref s_disposed);

        public void Dispose() => Interlocked.Increment(ref s_disposed);
    }

    private sealed class CountedConnection(Counted counted) : TinyProtoConnection
    {
        public Counted Counted { get; } = counted;
    }

    private sealed class Echo : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(message, cancellationToken);
    }
}
