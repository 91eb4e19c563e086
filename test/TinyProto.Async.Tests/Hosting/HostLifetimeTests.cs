using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.Hosting;

/// <summary>
/// The hosted servers and clients in the host's life: every bad option reported before anything is made, a stop
/// within the host's shutdown deadline however many servers drain (never throwing), connection scopes disposed before
/// the stop returns, a stop after a failed start.
/// </summary>
public sealed class HostLifetimeTests : HostingTestBase
{
    [Fact]
    public async Task TwoServersDrainingPastTheHostsDeadline_StopWithinIt_WithoutThrowing()
    {
        HostApplicationBuilder builder = NewHost();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        foreach (string name in new[] { "a", "b" })
        {
            builder.Services.AddTinyProtoServer<NeverAnswers>(name).Configure(o => { o.Endpoints.Add("127.0.0.1:0"); o.StopTimeout = TimeSpan.FromSeconds(30); });
        }

        IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));
        await using var client = new TinyProtoClient();
        foreach (string name in new[] { "a", "b" })
        {
            TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(host.Services.GetRequiredKeyedService<TinyProtoServer>(name)), TimeoutToken));
            _ = connection.RequestAsync("held"u8.ToArray(), TimeSpan.FromSeconds(60), TimeoutToken).AsTask().ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        }

        await WaitUntilAsync(() => NeverAnswers.Held >= 2);
        var watch = Stopwatch.StartNew();
        Exception? error = await Record.ExceptionAsync(() => host.StopAsync(CancellationToken.None));
        await ((IAsyncDisposable)host).DisposeAsync();
        Assert.Null(error);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3.5), $"stopping took {watch.Elapsed}");
    }

    [Fact]
    public async Task ConnectionScopes_AreDisposedBeforeTheStopReturns()
    {
        var log = new FlushLog();
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddSingleton(log).AddScoped<SlowFlush>();
        builder.Services.AddTinyProtoServer<UsesFlush>().Configure(o => o.Endpoints.Add("127.0.0.1:0"));
        IHost host = builder.Build();
        await Bounded(host.StartAsync(TimeoutToken));
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", PortOf(host.Services.GetRequiredService<TinyProtoServer>()), TimeoutToken));
        await Bounded(connection.RequestAsync("x"u8.ToArray(), TimeoutToken).AsTask());

        await Bounded(host.StopAsync(TimeoutToken));
        Assert.Equal(1, log.Flushed);
        await ((IAsyncDisposable)host).DisposeAsync();
    }

    [Fact]
    public async Task BadOptionsOfSeveralServers_AreAllReported_BeforeAnyServerIsMade()
    {
        bool made = false;
        HostApplicationBuilder builder = NewHost();
        builder.Services.AddTinyProtoServer<UsesFlush>("ok", (_, _) => made = true).Configure(o => o.Endpoints.Add("127.0.0.1:0"));
        builder.Services.AddTinyProtoServer<UsesFlush>("x").Configure(o => { o.Endpoints.Add("127.0.0.1:0"); o.ConnectionLimit = 0; });
        builder.Services.AddTinyProtoServer<UsesFlush>("y").Configure(o => { o.Endpoints.Add("127.0.0.1:0"); o.MaxPendingHandshakes = 0; });
        using IHost host = builder.Build();

        // The host reports each server's validation failure (an AggregateException of them when there are several).
        var ex = await Assert.ThrowsAsync<AggregateException>(() => Bounded(host.StartAsync(TimeoutToken)));
        Assert.All(ex.InnerExceptions, e => Assert.IsType<OptionsValidationException>(e));
        Assert.Contains("x.ConnectionLimit", ex.Message, StringComparison.Ordinal);
        Assert.Contains("y.MaxPendingHandshakes", ex.Message, StringComparison.Ordinal);
        Assert.False(made);
    }

    [Fact]
    public async Task AClientServerOnPortZero_IsAValidationError_AndAStopAfterTheFailedStartThrowsNothing()
    {
        HostApplicationBuilder builder = NewHost(("C:Server", "127.0.0.1:0"));
        builder.Services.AddTinyProtoClient("c").BindConfiguration("C");
        using IHost host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => Bounded(host.StartAsync(TimeoutToken)));
        Assert.Contains("the port must be 1 or more", ex.Message, StringComparison.Ordinal);
        Assert.Null(await Record.ExceptionAsync(() => host.StopAsync(TimeoutToken)));
    }

    public sealed class NeverAnswers : TinyProtoConnection
    {
        private static int s_held;

        public static int Held => Volatile.Read(ref s_held);

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref s_held);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

    }

    public sealed class FlushLog
    {
        private int _flushed;

        public int Flushed => Volatile.Read(ref _flushed);

        public void Flush() => Interlocked.Increment(ref _flushed);
    }

    /// <summary>A scoped unit of work that flushes, slowly, when its scope is disposed.</summary>
    public sealed class SlowFlush(FlushLog log) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Task.Delay(300);
            log.Flush();
        }
    }

    public sealed class UsesFlush(SlowFlush flush) : TinyProtoConnection
    {
        public SlowFlush Flush { get; } = flush;

        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(message, cancellationToken);
    }
}
