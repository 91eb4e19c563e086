using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TinyProto.Async.Tests;

/// <summary>
/// The README's Kestrel pattern ("Hosting a connection in your own server") in the real Kestrel over loopback: it
/// echoes, a host stop closes its connections at once instead of at the shutdown timeout (also during a handshake),
/// an abort by Kestrel reaches the handler as a <see cref="TinyProtoException"/>, and a peer's close right after its
/// last message loses none of them.
/// </summary>
public sealed partial class KestrelHostingTests : TestBase
{
    public KestrelHostingTests()
        : base(TimeSpan.FromSeconds(20))
    {
    }

    [Fact]
    public async Task RunAsync_ClientTransmitsThroughKestrel_GetsTheEchoWithTheEndpointsSet()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(TimeoutToken);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", host.Port, TimeoutToken));

        await Bounded(connection.TransmitAsync(Encoding.UTF8.GetBytes("hello"), TimeoutToken).AsTask());
        byte[] reply = await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());

        Assert.Equal("hello", Encoding.UTF8.GetString(reply));
        EchoConnection served = await Bounded(EchoConnection.StartedFor(connection.LocalEndPoint!));
        Assert.Equal(connection.LocalEndPoint, served.RemoteEndPoint);
        Assert.Equal(connection.RemoteEndPoint, served.LocalEndPoint);
        await Bounded(host.StopAsync());
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task StopAsync_ClientConnectedAndIdle_StopsAtOnceAndEndsTheClientsConnection()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(TimeoutToken);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", host.Port, TimeoutToken));
        await Bounded(connection.TransmitAsync(new byte[] { 1, 2, 3 }, TimeoutToken).AsTask());
        await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());

        var stopwatch = Stopwatch.StartNew();
        await Bounded(host.StopAsync());
        stopwatch.Stop();

        // Without ConnectionClosedRequested, Kestrel waits for HostOptions.ShutdownTimeout (30 s) and then aborts.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"The host took {stopwatch.Elapsed} to stop.");
        await Bounded(connection.Completion);
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task StopAsync_PeerConnectedButSilent_StopsAtOnceWithNothingEscapingTheHandler()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(TimeoutToken);
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(new IPEndPoint(IPAddress.Loopback, host.Port), TimeoutToken);
        await Bounded(host.FirstConnection);

        var stopwatch = Stopwatch.StartNew();
        await Bounded(host.StopAsync());
        stopwatch.Stop();

        // The handshake waited for the opening byte (Timeout 5 s): the stop cancelled it.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(4), $"The host took {stopwatch.Elapsed} to stop.");
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task RunAsync_KestrelAbortsTheConnection_ThrowsConnectionClosedHoldingTheAbort()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(TimeoutToken);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", host.Port, TimeoutToken));
        await Bounded(connection.TransmitAsync(new byte[] { 1 }, TimeoutToken).AsTask());
        await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());
        Task<byte[]> pendingReceive = connection.ReceiveAsync(TimeoutToken).AsTask();

        // The server's receive loop waits in Kestrel's ReadAsync, the client in ReceiveAsync.
        ConnectionContext context = await Bounded(host.FirstConnection);
        context.Abort(new ConnectionAbortedException("aborted by the test"));

        // The handler's catch logs it; what escapes the handler, Kestrel logs as "Unhandled exception while processing".
        RecordingLoggerFactory.Entry ended = await Bounded(host.WaitForEntryAsync(
            e => e.Message.Contains(" ended: ", StringComparison.Ordinal) || e.Level >= LogLevel.Error, TimeoutToken));
        var ex = Assert.IsType<TinyProtoException>(ended.Exception);
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.IsType<ConnectionAbortedException>(ex.InnerException);
        var clientError = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(pendingReceive));
        Assert.Equal(TinyProtoError.ConnectionClosed, clientError.Error);
        await Bounded(host.StopAsync());

        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task RunAsync_PeerClosesRightAfterItsLastMessage_TheHookStillTakesEveryMessage()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(TimeoutToken);
        var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", host.Port, TimeoutToken));
        EchoConnection served = await Bounded(EchoConnection.StartedFor(connection.LocalEndPoint!));

        // The first is held in the hook; the second arrives in full, is answered OK and waits for the hook.
        await Bounded(connection.TransmitAsync(EchoConnection.Hold, TimeoutToken).AsTask());
        await Bounded(connection.TransmitAsync(EchoConnection.Hold, TimeoutToken).AsTask());
        await client.DisposeAsync();
        ConnectionContext context = await Bounded(host.FirstConnection);
        await Task.WhenAny(Task.Delay(Timeout.Infinite, context.ConnectionClosed), Task.Delay(TimeSpan.FromSeconds(2), TimeoutToken));
        served.Release();
        await Bounded(served.Completion);

        // A handler that closed on context.ConnectionClosed (Kestrel cancels it at the peer's FIN) would drop the second.
        Assert.Equal(2, served.Taken.Count);
        await Bounded(host.StopAsync());
    }

    // This must match the README's code ("Hosting a connection in your own server") line for line: the tests above
    // check the pattern users copy.
    private sealed partial class TinyProtoHandler(ILogger<TinyProtoHandler> logger) : ConnectionHandler
    {
        public override async Task OnConnectedAsync(ConnectionContext context)
        {
            await using var connection = new EchoConnection
            {
                Options = new TinyProtoConnectionOptions { MaxMessageSize = 16 * 1024 * 1024, Logger = logger },
                LocalEndPoint = context.LocalEndPoint,
                RemoteEndPoint = context.RemoteEndPoint,
            };

            // The host is stopping: close now (an exchange in flight finishes first). Not context.ConnectionClosed: see below.
            CancellationToken stopping = context.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
            try
            {
                // Handshake, hooks, then returns when the connection ends.
                await connection.RunAsync(context.Transport, TinyProtoRole.Server, stopping);
            }
            catch (TinyProtoException ex)
            {
                LogEnded(logger, ex, context.ConnectionId, ex.Error);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // Stopped during the opening handshake.
            }
        }

        [LoggerMessage(LogLevel.Warning, "{ConnectionId} ended: {Error}")]
        private static partial void LogEnded(ILogger logger, Exception exception, string connectionId, TinyProtoError error);
    }

    /// <summary>
    /// The README's echo connection; it also says which connection served which client and what its hook took, and holds
    /// <see cref="Hold"/> messages.
    /// </summary>
    private sealed class EchoConnection : TinyProtoConnection
    {
        private static readonly ConcurrentDictionary<EndPoint, TaskCompletionSource<EchoConnection>> s_started = new();
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>A message the hook takes and holds, unanswered, until <see cref="Release"/>.</summary>
        public static byte[] Hold { get; } = Encoding.UTF8.GetBytes("hold");

        /// <summary>Every message the hook took, in order.</summary>
        public ConcurrentQueue<byte[]> Taken { get; } = new();

        public void Release() => _released.TrySetResult();

        /// <summary>The connection that serves the client at <paramref name="clientEndPoint"/>, once its hooks run.</summary>
        public static Task<EchoConnection> StartedFor(EndPoint clientEndPoint) => Started(clientEndPoint).Task;

        protected override ValueTask PreLoopAsync(CancellationToken cancellationToken)
        {
            if (RemoteEndPoint is not null)
            {
                Started(RemoteEndPoint).TrySetResult(this);
            }

            return ValueTask.CompletedTask;
        }

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            Taken.Enqueue(message.ToArray());
            if (message.FirstSpan.SequenceEqual(Hold))
            {
                await _released.Task.WaitAsync(cancellationToken);
                return;
            }

            await TransmitAsync(message, cancellationToken);
        }

        private static TaskCompletionSource<EchoConnection> Started(EndPoint endPoint) =>
            s_started.GetOrAdd(endPoint, _ => new TaskCompletionSource<EchoConnection>(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    /// <summary>A Kestrel host on 127.0.0.1 port 0 that serves <see cref="TinyProtoHandler"/> and records every log entry.</summary>
    private sealed class KestrelHost : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly TaskCompletionSource<ConnectionContext> _firstConnection = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _stopped;

        private KestrelHost(RecordingLoggerFactory logs)
        {
            Logs = logs;
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders().AddProvider(new RecordingLoggerProvider(logs)).SetMinimumLevel(LogLevel.Debug);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
            builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => listen
                .Use(next => context =>
                {
                    _firstConnection.TrySetResult(context);
                    return next(context);
                })
                .UseConnectionHandler<TinyProtoHandler>()));
            _app = builder.Build();
        }

        public RecordingLoggerFactory Logs { get; }

        public int Port { get; private set; }

        /// <summary>The first connection Kestrel accepted, as its handler gets it.</summary>
        public Task<ConnectionContext> FirstConnection => _firstConnection.Task;

        public static async Task<KestrelHost> StartAsync(CancellationToken cancellationToken)
        {
            var host = new KestrelHost(new RecordingLoggerFactory());
            await host._app.StartAsync(cancellationToken);
            string address = Assert.Single(host._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses);
            host.Port = new Uri(address).Port;
            return host;
        }

        /// <summary>A graceful stop, bounded by <see cref="HostOptions.ShutdownTimeout"/>.</summary>
        public Task StopAsync()
        {
            _stopped = true;
            return _app.StopAsync();
        }

        public async Task<RecordingLoggerFactory.Entry> WaitForEntryAsync(Func<RecordingLoggerFactory.Entry, bool> match, CancellationToken cancellationToken)
        {
            RecordingLoggerFactory.Entry? entry;
            while ((entry = Logs.Entries.FirstOrDefault(match)) is null)
            {
                await Task.Delay(5, cancellationToken);
            }

            return entry;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_stopped)
            {
                // A failed test: abort whatever is left instead of waiting for the shutdown timeout.
                await _app.StopAsync(new CancellationToken(canceled: true));
            }

            await _app.DisposeAsync();
        }
    }
}
