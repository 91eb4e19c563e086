using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TinyProto.Async.Diagnostics;
using TinyProto.Async.Transport;

namespace TinyProto.Async;

/// <summary>
/// A tinyproto client: opens connections with <see cref="ConnectToAsync"/>, each run by a
/// <see cref="TinyProtoConnection"/> (or a class of yours derived from it), with an optional main loop
/// (<see cref="RunAsync"/>) that calls <see cref="PreLoopAsync"/>, <see cref="LoopPassAsync"/> and <see cref="PostLoopAsync"/>.
/// </summary>
/// <remarks>Members are safe to call concurrently; set the handler, options and plugins before connecting.</remarks>
// Whether a derived class overrides LoopPassAsync is read from its protected methods (HookOverrides), so trimming keeps them.
[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.NonPublicMethods)]
public partial class TinyProtoClient : IAsyncDisposable
{
    private readonly ConnectionFactory _factory = new();
    private readonly ConcurrentDictionary<Guid, TinyProtoConnection> _active = new();
    private readonly MainLoop _mainLoop;
    private readonly ILogger _logger;
    private readonly ILogger _connectionLogger;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TimeSpan _loopPassInterval = TimeSpan.FromMilliseconds(30);
    private TinyProtoReconnectOptions _reconnect = new();
    private IMeterFactory? _meterFactory;
    private volatile ClientMetrics _metrics = new(null);
    private int _running; // 0 new, 1 main loop running, 2 stopped

    /// <summary>Creates a client, without logging.</summary>
    public TinyProtoClient()
        : this(NullLogger.Instance, NullLogger.Instance)
    {
    }

    /// <summary>Creates a client, logging through one logger.</summary>
    /// <param name="logger">Where the client and its connections log; null for no logging.</param>
    public TinyProtoClient(ILogger? logger)
        : this(logger ?? NullLogger.Instance, logger ?? NullLogger.Instance)
    {
    }

    /// <summary>
    /// Creates a client that logs through <paramref name="loggerFactory"/>: the client under the category
    /// <c>TinyProto.Async.TinyProtoClient</c> (its hooks' exceptions), and each connection whose options name no
    /// <see cref="TinyProtoConnectionOptions.Logger"/> under <c>TinyProto.Async.TinyProtoConnection</c> (what ended it,
    /// its hooks' exceptions). The client does not dispose the factory.
    /// </summary>
    /// <param name="loggerFactory">Creates the client's and its connections' loggers.</param>
    /// <exception cref="ArgumentNullException"><paramref name="loggerFactory"/> is null.</exception>
    public TinyProtoClient(ILoggerFactory loggerFactory)
        : this(CreateLogger<TinyProtoClient>(loggerFactory), CreateLogger<TinyProtoConnection>(loggerFactory))
    {
    }

    private TinyProtoClient(ILogger logger, ILogger connectionLogger)
    {
        _logger = logger;
        _connectionLogger = connectionLogger;
        _mainLoop = new MainLoop(PreLoopAsync, LoopPassAsync, PostLoopAsync);
    }

    /// <summary>
    /// Settings copied into each new connection whose handler did not assign <see cref="TinyProtoConnection.Options"/>
    /// of its own (a connection that did keeps its own). <see cref="Timeout"/>, once set, wins over their
    /// <see cref="TinyProtoConnectionOptions.Timeout"/>. When they name no logger, connections log through the client's.
    /// This object stays writable: connections get a copy, which becomes read-only as it starts.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public TinyProtoConnectionOptions ConnectionOptions
    {
        get => _factory.Options;
        set => _factory.Options = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>
    /// How long connecting, the TLS handshake (with <see cref="TlsOptions"/>), the opening handshake and each wait for a
    /// status may take, each on its own. Idle time is not limited.
    /// A setting of the client's own: once set, it applies to every connection that takes <see cref="ConnectionOptions"/>,
    /// whatever their <see cref="TinyProtoConnectionOptions.Timeout"/> says and however often they are replaced; until it is
    /// set, it reads (and connections use) <c>ConnectionOptions.Timeout</c>. Default: 5 seconds. A connection whose handler
    /// assigned its own options connects and runs with their timeout.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive (nor <see cref="Timeout.InfiniteTimeSpan"/>), or above 49.7 days (the longest timer).</exception>
    public TimeSpan Timeout
    {
        get => _factory.Timeout ?? _factory.Options.Timeout;
        set => _factory.Timeout = TimeSpanOption.Positive(value, nameof(Timeout), infiniteAllowed: true);
    }

    /// <summary>How often the client's <see cref="LoopPassAsync"/> runs in <see cref="RunAsync"/>, if overridden. Default: 30 ms.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive, or above 49.7 days (the longest timer).</exception>
    public TimeSpan LoopPassInterval
    {
        get => _loopPassInterval;
        set => _loopPassInterval = TimeSpanOption.Positive(value, nameof(LoopPassInterval), infiniteAllowed: false);
    }

    /// <summary>
    /// How connections made by <see cref="ConnectReconnectingAsync"/> reconnect: backoff, jitter, attempts. Each one
    /// copies the settings when it is made.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public TinyProtoReconnectOptions Reconnect
    {
        get => _reconnect;
        set => _reconnect = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>
    /// Where the client's meter (<c>TinyProto.Async</c>: <c>tinyproto.client.active_connections</c>,
    /// <c>.connection.duration</c>, <c>.failed_connects</c>, and its connections' message instruments unless their
    /// options name a <see cref="TinyProtoConnectionOptions.MeterFactory"/>) comes from: the container's factory in a
    /// host (the Hosting package sets it), else null, for a meter of the library's own. Connections made after it is set
    /// record on it, also those of a reconnecting connection (<see cref="CreateReconnecting"/>); set it before the first.
    /// </summary>
    public IMeterFactory? MeterFactory
    {
        get => _meterFactory;
        set
        {
            _meterFactory = value;
            _factory.Metrics = MessageMetrics.For(value);
            _metrics = new ClientMetrics(value);
        }
    }

    /// <summary>Whether <see cref="StopAsync"/> was called: no new connection can be made.</summary>
    internal bool IsStopped => Volatile.Read(ref _running) == 2;

    /// <summary>
    /// The connections that are open, by id. Safe to enumerate while connections come and go. A connection leaves it
    /// before its <see cref="TinyProtoConnection.Completion"/> completes: once that task has completed, it is no longer listed.
    /// </summary>
    public IReadOnlyDictionary<Guid, TinyProtoConnection> ActiveConnections => _active;

    /// <summary>Runs each new connection with a new <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The connection class, derived from <see cref="TinyProtoConnection"/>.</typeparam>
    public void SetConnectionHandler<T>()
        where T : TinyProtoConnection, new() => _factory.SetHandler(static () => new T());

    /// <summary>Runs each new connection with one made by <paramref name="factory"/>.</summary>
    /// <param name="factory">Returns a new, unstarted connection each time.</param>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public void SetConnectionHandler(Func<TinyProtoConnection> factory) => _factory.SetHandler(factory);

    /// <summary>Adds a plugin to every new connection (after the connection's own, in the order added).</summary>
    /// <param name="plugin">The plugin; shared by all connections, so it must be safe for concurrent use.</param>
    /// <exception cref="ArgumentNullException"><paramref name="plugin"/> is null.</exception>
    public void AddPlugin(ITinyProtoPlugin plugin) => _factory.AddPlugin(plugin);

    /// <summary>
    /// Connects to a tinyproto server, performs the opening handshake and starts the connection. Every address the
    /// host resolves to is tried in turn.
    /// </summary>
    /// <param name="host">An IP address or host name.</param>
    /// <param name="port">The server's port, 1..65535.</param>
    /// <param name="cancellationToken">Cancels connecting and the handshake.</param>
    /// <returns>The new connection's id; the connection is in <see cref="ActiveConnections"/> until it ends.</returns>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is outside 1..65535.</exception>
    /// <exception cref="SocketException">The host name could not be resolved, or no address of the host accepted the connection; the message names the endpoints tried.</exception>
    /// <exception cref="TinyProtoException">
    /// <see cref="TinyProtoError.Timeout"/> when connecting, the TLS handshake (with <see cref="TlsOptions"/>) or the
    /// opening handshake took longer than <see cref="Timeout"/>; <see cref="TinyProtoError.ConnectionLimitReached"/> or
    /// <see cref="TinyProtoError.HandshakeFailed"/> from the handshake; <see cref="TinyProtoError.HandshakeFailed"/> when
    /// the TLS handshake failed (its <see cref="System.Security.Authentication.AuthenticationException"/> or
    /// <see cref="IOException"/> inside, and the host and port in the message).
    /// </exception>
    /// <exception cref="InvalidOperationException">The client was stopped, before or while connecting.</exception>
    public async Task<Guid> ConnectToAsync(string host, int port, CancellationToken cancellationToken = default) =>
        (await ConnectAsync(host, port, cancellationToken).ConfigureAwait(false)).Id;

    /// <summary>As <see cref="ConnectToAsync"/>, but returns the connection itself, which stays usable after it left <see cref="ActiveConnections"/>.</summary>
    /// <param name="host">An IP address or host name.</param>
    /// <param name="port">The server's port, 1..65535.</param>
    /// <param name="cancellationToken">Cancels connecting and the handshake.</param>
    /// <returns>The started connection.</returns>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is outside 1..65535.</exception>
    /// <exception cref="SocketException">The host name could not be resolved, or no address of the host accepted the connection; the message names the endpoints tried.</exception>
    /// <exception cref="TinyProtoException">As for <see cref="ConnectToAsync"/>.</exception>
    /// <exception cref="InvalidOperationException">The client was stopped, before or while connecting.</exception>
    public async Task<TinyProtoConnection> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        if (Volatile.Read(ref _running) == 2)
        {
            throw new InvalidOperationException("The client was stopped.");
        }

        using Activity? activity = Tracing.StartConnect(host, port);
        ClientMetrics metrics = _metrics;
        TagList tags = ClientMetrics.Tags(host, port);
        try
        {
            TinyProtoConnection connection = await ConnectCoreAsync(host, port, metrics, tags, cancellationToken).ConfigureAwait(false);
            activity?.SetTag("tinyproto.connection.id", connection.Id.ToString()).SetTag("tinyproto.pipelined", connection.IsPipelined);
            return connection;
        }
        catch (Exception ex)
        {
            Tracing.Fail(activity, ex);

            // A connect its caller cancelled did not fail.
            if (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                metrics.ConnectFailed(tags, ex);
            }

            throw;
        }
    }

    private async Task<TinyProtoConnection> ConnectCoreAsync(string host, int port, ClientMetrics metrics, TagList tags, CancellationToken cancellationToken)
    {
        _factory.DefaultLogger = _connectionLogger;
        TinyProtoConnection connection = _factory.Create();
        connection.ServerName = (host, port);
        TinyProtoThreading threading = connection.Options.Threading;
        SslClientAuthenticationOptions? tls = _tlsOptions;
        Socket socket;
        try
        {
            socket = await ConnectSocketAsync(host, port, tls is null && DedicatedThreads.MayTake(threading), connection.Options.Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The connection never started: its Completion still completes (a DI scope waits on it).
            connection.Discard();
            throw;
        }

        connection.AbortTarget = socket;
        connection.LocalEndPoint = socket.LocalEndPoint;
        connection.RemoteEndPoint = socket.RemoteEndPoint;
        try
        {
            TcpKeepAlive.Apply(socket, connection.Options);
            StreamDuplexPipe transport = await OpenTransportAsync(socket, tls, host, port, connection, cancellationToken).ConfigureAwait(false);
            await connection.HandshakeAsync(transport, TinyProtoRole.Client, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            connection.Discard();
            socket.Dispose();
            throw;
        }

        // The connection leaves the list before its Completion completes: whoever awaited Completion never finds it here.
        // Its end is measured there too, once its CloseReason is set.
        long started = Stopwatch.GetTimestamp();
        metrics.ConnectionStarted(tags);
        connection.Ending = () =>
        {
            _active.TryRemove(connection.Id, out _);
            metrics.ConnectionEnded(tags, Stopwatch.GetElapsedTime(started), connection);
        };
        _active[connection.Id] = connection;

        // The loops outlive the connect span: they must not run under it (nor parent later spans to it).
        Activity? connecting = Activity.Current;
        Activity.Current = null;
        connection.StartLoops();
        Activity.Current = connecting;
        _ = connection.Completion.ContinueWith(
            static (t, s) => ((Socket)s!).Dispose(),
            socket,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        // StopAsync sets the state before it looks at the connections: a stop that came during the handshake either
        // saw this connection and closes it, or is seen here.
        if (Volatile.Read(ref _running) == 2)
        {
            _active.TryRemove(connection.Id, out _);
            await connection.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            throw new InvalidOperationException("The client was stopped while connecting; the new connection was closed.");
        }

        return connection;
    }

    /// <summary>
    /// Runs the client's main loop: <see cref="PreLoopAsync"/>, then <see cref="LoopPassAsync"/> every
    /// <see cref="LoopPassInterval"/> (if overridden), until <paramref name="cancellationToken"/> is cancelled or
    /// <see cref="StopAsync"/> is called; then closes every connection and runs <see cref="PostLoopAsync"/>.
    /// </summary>
    /// <param name="cancellationToken">Stops the client when cancelled.</param>
    /// <exception cref="InvalidOperationException">The main loop was started before.</exception>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
        {
            throw new InvalidOperationException("The client's main loop was already started.");
        }

        await _mainLoop.StartAsync(_loopPassInterval, HookOverrides.IsOverridden(GetType(), typeof(TinyProtoClient), nameof(LoopPassAsync)), _logger).ConfigureAwait(false);
        using (cancellationToken.Register(static s => _ = ((TinyProtoClient)s!).StopAsync(), this))
        {
            await _stopped.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Closes every connection, ends the main loop (running <see cref="PostLoopAsync"/>) and waits for both. Safe to call more than once.</summary>
    /// <param name="cancellationToken">Stops waiting (the client still stops).</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        int previous = Interlocked.Exchange(ref _running, 2);
        if (previous != 2)
        {
            _ = StopCoreAsync(mainLoopRunning: previous == 1);
        }

        await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the client, as <see cref="StopAsync"/>.</summary>
    /// <returns>A task that completes when the client has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs once when <see cref="RunAsync"/> starts. The original's <c>pre_loop</c>.</summary>
    /// <param name="cancellationToken">Cancelled when the client stops.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged.</returns>
    protected virtual ValueTask PreLoopAsync(CancellationToken cancellationToken) => default;

    /// <summary>Runs every <see cref="LoopPassInterval"/> during <see cref="RunAsync"/>, if overridden. The original's <c>loop_pass</c>.</summary>
    /// <param name="cancellationToken">Cancelled when the client stops.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged and ends the passes.</returns>
    protected virtual ValueTask LoopPassAsync(CancellationToken cancellationToken) => default;

    /// <summary>Runs exactly once when a client whose main loop ran stops, after its connections ended. The original's <c>post_loop</c>.</summary>
    /// <param name="cancellationToken">Not cancelled.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged.</returns>
    protected virtual ValueTask PostLoopAsync(CancellationToken cancellationToken) => default;

    private static ILogger<T> CreateLogger<T>(ILoggerFactory loggerFactory) =>
        (loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory))).CreateLogger<T>();

    private async Task StopCoreAsync(bool mainLoopRunning)
    {
        try
        {
            await Task.WhenAll(_active.Values.Select(c => c.CloseAsync().AsTask())).ConfigureAwait(false);
            if (mainLoopRunning)
            {
                await _mainLoop.StopAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _mainLoop.Dispose();
            _stopped.TrySetResult();
        }
    }

}
