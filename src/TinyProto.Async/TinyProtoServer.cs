using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TinyProto.Async.Diagnostics;

namespace TinyProto.Async;

/// <summary>
/// A tinyproto server: listens on any number of addresses, runs one <see cref="TinyProtoConnection"/> (or a
/// class of yours derived from it) per accepted client, and calls its own hooks around them. Derive from it
/// to override <see cref="PreLoopAsync"/>, <see cref="LoopPassAsync"/>, <see cref="PostLoopAsync"/>,
/// <see cref="ConnectionInitAsync"/> and <see cref="ConnectionShutdownAsync"/>.
/// </summary>
/// <remarks>
/// A failing connection (bad bytes, a hook that throws) is logged and closed; it never stops the server or
/// harms another connection. Members are safe to call concurrently; configuration (addresses, handler,
/// options, plugins, limit) must be set before <see cref="StartAsync"/>.
/// </remarks>
// Whether a derived class overrides LoopPassAsync is read from its protected methods (HookOverrides), so trimming keeps them.
[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.NonPublicMethods)]
public partial class TinyProtoServer : IAsyncDisposable
{
    private readonly ConnectionFactory _factory = new();
    private readonly List<(string Host, int Port, ProxyTrust? Proxy)> _addresses = [];
    private readonly List<(Socket Socket, ProxyTrust? Proxy)> _listeners = [];
    private readonly List<EndPoint> _boundEndPoints = [];
    private readonly List<Func<EndPoint?>> _handedEndPoints = []; // under _boundEndPoints' lock
    private readonly ConcurrentDictionary<Guid, TinyProtoConnection> _active = new();
    private readonly ConcurrentDictionary<Task, bool> _handlers = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously); // Listening: handed peers wait for it
    private readonly MainLoop _mainLoop;
    private readonly ILogger _logger;
    private readonly ILogger _connectionLogger;
    private readonly ConnectionAdmission _admission = new();
    private ServerMetrics _metrics = new(null);
    private IMeterFactory? _meterFactory;
    private int _state; // 0 new, 1 running, 2 stopping or stopped
    private bool _accepting; // every address bound, PreLoopAsync done, the accept loops started: Listening
    private TimeSpan _stopTimeout = TimeSpan.FromSeconds(5);
    private TimeSpan _loopPassInterval = TimeSpan.FromMilliseconds(30);

    /// <summary>Creates a server that is not yet listening, without logging.</summary>
    public TinyProtoServer()
        : this(NullLogger.Instance, NullLogger.Instance)
    {
    }

    /// <summary>Creates a server that is not yet listening, logging through one logger.</summary>
    /// <param name="logger">Where the server and its connections log; null for no logging.</param>
    public TinyProtoServer(ILogger? logger)
        : this(logger ?? NullLogger.Instance, logger ?? NullLogger.Instance)
    {
    }

    /// <summary>
    /// Creates a server that is not yet listening and logs through <paramref name="loggerFactory"/>: the server under the
    /// category <c>TinyProto.Async.TinyProtoServer</c> (its hooks' exceptions, refusals, failed handshakes), and each
    /// connection whose options name no <see cref="TinyProtoConnectionOptions.Logger"/> under <c>TinyProto.Async.TinyProtoConnection</c>
    /// (what ended it, its hooks' exceptions). The server does not dispose the factory.
    /// </summary>
    /// <param name="loggerFactory">Creates the server's and its connections' loggers.</param>
    /// <exception cref="ArgumentNullException"><paramref name="loggerFactory"/> is null.</exception>
    public TinyProtoServer(ILoggerFactory loggerFactory)
        : this(CreateLogger<TinyProtoServer>(loggerFactory), CreateLogger<TinyProtoConnection>(loggerFactory))
    {
    }

    private TinyProtoServer(ILogger logger, ILogger connectionLogger)
    {
        _logger = logger;
        _connectionLogger = connectionLogger;
        _mainLoop = new MainLoop(PreLoopAsync, LoopPassAsync, PostLoopAsync);
    }

    /// <summary>
    /// Settings copied into each new connection whose handler did not assign <see cref="TinyProtoConnection.Options"/>
    /// of its own: a connection made by <c>SetConnectionHandler(() => new MyConnection { Options = ... })</c> keeps its
    /// own, and these do not apply to it. When the options name no logger, connections log through the server's.
    /// This object stays writable: connections get a copy, which becomes read-only as it starts.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public TinyProtoConnectionOptions ConnectionOptions
    {
        get => _factory.Options;
        set => _factory.Options = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>How long <see cref="StopAsync"/> waits for connections to end before aborting them. Default: 5 s.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or above 49.7 days (the longest timer).</exception>
    public TimeSpan StopTimeout
    {
        get => _stopTimeout;
        set => _stopTimeout = TimeSpanOption.NonNegative(value, nameof(StopTimeout));
    }

    /// <summary>How often the server's <see cref="LoopPassAsync"/> runs, if overridden. Default: 30 ms.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive, or above 49.7 days (the longest timer).</exception>
    public TimeSpan LoopPassInterval
    {
        get => _loopPassInterval;
        set => _loopPassInterval = TimeSpanOption.Positive(value, nameof(LoopPassInterval), infiniteAllowed: false);
    }

    /// <summary>
    /// The connections that completed their handshake and have not ended, by id. Safe to enumerate while connections
    /// come and go. A connection leaves it before its <see cref="TinyProtoConnection.Completion"/> completes (so once
    /// that task has completed, it is no longer listed) and before <see cref="ConnectionShutdownAsync"/> runs for it.
    /// </summary>
    public IReadOnlyDictionary<Guid, TinyProtoConnection> ActiveConnections => _active;

    /// <summary>
    /// The endpoints the server is listening on, with the ports chosen for port 0: its own once it has started, and the
    /// Kestrel endpoints that hand it clients (the AspNetCore package's <c>UseTinyProto</c>), with their ports once
    /// Kestrel has bound them.
    /// </summary>
    public IReadOnlyList<EndPoint> BoundEndPoints
    {
        get
        {
            lock (_boundEndPoints)
            {
                List<EndPoint> all = [.. _boundEndPoints];
                foreach (Func<EndPoint?> handed in _handedEndPoints)
                {
                    // Before it is bound, an endpoint with port 0 is not yet where anyone can connect.
                    if (handed() is { } endPoint && endPoint is not IPEndPoint { Port: 0 })
                    {
                        all.Add(endPoint);
                    }
                }

                return all;
            }
        }
    }

    /// <summary>A task that completes when the server has stopped.</summary>
    public Task Completion => _stopped.Task;

    /// <summary>
    /// Where the server's meter (<c>TinyProto.Async</c>: <c>tinyproto.server.active_connections</c>,
    /// <c>.connection.duration</c>, <c>.rejected_connections</c>, <c>.failed_handshakes</c>, and its connections'
    /// message instruments unless their options name a <see cref="TinyProtoConnectionOptions.MeterFactory"/>) comes
    /// from: the container's factory in a host (the Hosting package sets it), else null, for a meter of the library's
    /// own. Set before <see cref="StartAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server was started.</exception>
    public IMeterFactory? MeterFactory
    {
        get => _meterFactory;
        set
        {
            ThrowIfStarted();
            _meterFactory = value;
            _metrics = new ServerMetrics(value);
            _factory.Metrics = MessageMetrics.For(value);
        }
    }

    /// <summary>Where the server is in its life: what a health check reports (listening, or draining while it stops).</summary>
    public TinyProtoServerState State => Volatile.Read(ref _state) switch
    {
        0 => TinyProtoServerState.NotStarted,
        1 => Volatile.Read(ref _accepting) ? TinyProtoServerState.Listening : TinyProtoServerState.Starting,
        _ => _stopped.Task.IsCompleted ? TinyProtoServerState.Stopped : TinyProtoServerState.Stopping,
    };

    /// <summary>Adds an address to listen on. A host name is resolved when the server starts and every address it resolves to is bound.</summary>
    /// <param name="host">An IP address (IPv4 or IPv6) or host name; <c>0.0.0.0</c> or <c>::</c> for all interfaces.</param>
    /// <param name="port">The port, or 0 for a free one (read it from <see cref="BoundEndPoints"/>).</param>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is outside 0..65535.</exception>
    /// <exception cref="InvalidOperationException">The server already started.</exception>
    public void AddAddress(string host, int port) => AddAddress(host, port, null);

    /// <summary>
    /// Adds an address to listen on behind a TCP proxy that sends the PROXY protocol (HAProxy's <c>send-proxy-v2</c>):
    /// only the trusted proxies may connect, each connection begins with the header, and its
    /// <see cref="TinyProtoConnection.RemoteEndPoint"/> is the client's address the header names. See
    /// <see cref="TinyProtoProxyProtocolOptions"/>. Other addresses of the server are not affected.
    /// </summary>
    /// <param name="host">An IP address (IPv4 or IPv6) or host name; <c>0.0.0.0</c> or <c>::</c> for all interfaces.</param>
    /// <param name="port">The port, or 0 for a free one (read it from <see cref="BoundEndPoints"/>).</param>
    /// <param name="proxyProtocol">The trusted proxies and the header's limits, copied now; null for an address without the PROXY protocol.</param>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty, or <paramref name="proxyProtocol"/> trusts no proxy.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is outside 0..65535.</exception>
    /// <exception cref="InvalidOperationException">The server already started.</exception>
    public void AddAddress(string host, int port, TinyProtoProxyProtocolOptions? proxyProtocol)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, IPEndPoint.MinPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        if (proxyProtocol is { TrustedProxies.Count: 0 })
        {
            throw new ArgumentException($"The PROXY protocol options for {host}:{port} trust no proxy: add the proxies' addresses or networks to TrustedProxies (or with Trust(\"10.0.0.0/8\")), since a header from anyone else would let them claim any address.", nameof(proxyProtocol));
        }

        ThrowIfStarted();
        _addresses.Add((host, port, proxyProtocol is null ? null : new ProxyTrust(proxyProtocol)));
    }

    /// <summary>Serves each client with a new <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The connection class, derived from <see cref="TinyProtoConnection"/>.</typeparam>
    public void SetConnectionHandler<T>()
        where T : TinyProtoConnection, new() => _factory.SetHandler(static () => new T());

    /// <summary>Serves each client with a connection made by <paramref name="factory"/>.</summary>
    /// <param name="factory">Returns a new, unstarted connection each time.</param>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public void SetConnectionHandler(Func<TinyProtoConnection> factory) => _factory.SetHandler(factory);

    /// <summary>Adds a plugin to every new connection (after the connection's own, in the order added).</summary>
    /// <param name="plugin">The plugin; shared by all connections, so it must be safe for concurrent use.</param>
    /// <exception cref="ArgumentNullException"><paramref name="plugin"/> is null.</exception>
    public void AddPlugin(ITinyProtoPlugin plugin) => _factory.AddPlugin(plugin);

    /// <summary>Binds every address, starts accepting and the main loop, and returns once listening.</summary>
    /// <param name="cancellationToken">Cancels resolving and binding.</param>
    /// <exception cref="InvalidOperationException">
    /// No address was added, the server was started before, or <see cref="TlsOptions"/> names no certificate.
    /// </exception>
    /// <exception cref="SocketException">An address could not be resolved or bound (nothing is left listening).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_addresses.Count == 0 && !ServesHandedPeers)
        {
            throw new InvalidOperationException("Add at least one address with AddAddress before starting the server (or, in ASP.NET Core, register it with AddTinyProtoServer and hand it a Kestrel endpoint with listenOptions.UseTinyProto).");
        }

        ValidateTlsOptions();

        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The server was already started or stopped; create a new server to start again.");
        }

        _factory.DefaultLogger = _connectionLogger;
        try
        {
            foreach ((string host, int port, ProxyTrust? proxy) in _addresses)
            {
                await BindAsync(host, port, proxy, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            CloseListeners();
            Volatile.Write(ref _state, 2);
            _stopped.TrySetResult();
            throw;
        }

        // The original's pre_loop runs before anyone is accepted.
        await _mainLoop.StartAsync(_loopPassInterval, HookOverrides.IsOverridden(GetType(), typeof(TinyProtoServer), nameof(LoopPassAsync)), _logger).ConfigureAwait(false);
        (Socket Socket, ProxyTrust? Proxy)[] listeners;
        EndPoint[] endPoints;
        lock (_listeners)
        {
            listeners = [.. _listeners];
            endPoints = [.. _boundEndPoints];
        }

        if (_stopping.IsCancellationRequested)
        {
            // Stopped while binding or during PreLoopAsync: accept no one, and close what was bound after the stop.
            CloseListeners();
            return;
        }

        for (int i = 0; i < listeners.Length; i++)
        {
            Log.Listening(_logger, endPoints[i].ToString()!);
            Track(AcceptLoopAsync(listeners[i].Socket, listeners[i].Proxy));
        }

        Volatile.Write(ref _accepting, true);
        _accepted.TrySetResult();
    }

    /// <summary>Starts the server and serves until <paramref name="cancellationToken"/> is cancelled or <see cref="StopAsync"/> is called, then stops gracefully.</summary>
    /// <param name="cancellationToken">Stops the server when cancelled.</param>
    /// <exception cref="InvalidOperationException">As for <see cref="StartAsync"/>.</exception>
    /// <exception cref="SocketException">An address could not be bound.</exception>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        using (cancellationToken.Register(static s => _ = ((TinyProtoServer)s!).StopAsync(), this))
        {
            await Completion.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stops gracefully: stops accepting, closes every connection, waits up to <see cref="StopTimeout"/> for their
    /// <c>PostLoopAsync</c> and <see cref="ConnectionShutdownAsync"/>, aborts the rest, then runs <see cref="PostLoopAsync"/>.
    /// Safe to call more than once.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the server still stops).</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 2)
        {
            _ = StopCoreAsync();
        }

        await Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the server, as <see cref="StopAsync"/>.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs once when the server starts, before it accepts anyone. The original's <c>pre_loop</c>.</summary>
    /// <param name="cancellationToken">Cancelled when the server stops.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged.</returns>
    protected virtual ValueTask PreLoopAsync(CancellationToken cancellationToken) => default;

    /// <summary>Runs every <see cref="LoopPassInterval"/> while the server runs, if overridden. The original's <c>loop_pass</c>.</summary>
    /// <param name="cancellationToken">Cancelled when the server stops.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged and ends the passes.</returns>
    protected virtual ValueTask LoopPassAsync(CancellationToken cancellationToken) => default;

    /// <summary>Runs exactly once when the server stops, after every connection has ended or been aborted. The original's <c>post_loop</c>.</summary>
    /// <param name="cancellationToken">Not cancelled.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged.</returns>
    protected virtual ValueTask PostLoopAsync(CancellationToken cancellationToken) => default;

    /// <summary>
    /// Runs for each connection after its handshake and before its loop starts (before its <c>PreLoopAsync</c>).
    /// The original's <c>connection_init</c>. An exception closes that connection. Nothing can be sent or received
    /// here yet (an <see cref="InvalidOperationException"/> says so): greet a client from its <c>PreLoopAsync</c>.
    /// </summary>
    /// <param name="id">The connection's id, as in <see cref="ActiveConnections"/>.</param>
    /// <param name="connection">The connection.</param>
    /// <param name="cancellationToken">Cancelled when the server stops.</param>
    /// <returns>A task that completes when the hook is done.</returns>
    protected virtual ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken) => default;

    /// <summary>
    /// Runs exactly once for each connection that <see cref="ConnectionInitAsync"/> ran for, after it ended and its
    /// <c>PostLoopAsync</c> returned (when <see cref="ConnectionInitAsync"/> threw, the loop never started), whatever ended it. The original's <c>connection_shutdown</c>.
    /// </summary>
    /// <param name="id">The connection's id.</param>
    /// <param name="connection">The connection, already closed and no longer in <see cref="ActiveConnections"/>.</param>
    /// <param name="cancellationToken">Not cancelled.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged.</returns>
    protected virtual ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken) => default;

    private static ILogger<T> CreateLogger<T>(ILoggerFactory loggerFactory) =>
        (loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory))).CreateLogger<T>();

    private void ThrowIfStarted()
    {
        if (Volatile.Read(ref _state) != 0)
        {
            throw new InvalidOperationException("The server already started; configure it before StartAsync.");
        }
    }


    private void Track(Task handler)
    {
        _handlers.TryAdd(handler, true);
        _ = handler.ContinueWith(static (t, s) => ((ConcurrentDictionary<Task, bool>)s!).TryRemove(t, out _), _handlers, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
