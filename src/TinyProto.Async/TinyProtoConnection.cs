using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TinyProto.Async.Connection;

namespace TinyProto.Async;

/// <summary>
/// One tinyproto connection: the opening handshake, then a receive loop that owns the transport's
/// reader and a hook loop that calls <see cref="PreLoopAsync"/>, <see cref="TransmissionReceivedAsync"/>,
/// <see cref="LoopPassAsync"/> and <see cref="PostLoopAsync"/>. Derive from it to handle messages, or use it
/// as it is with <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/> and <see cref="ReceiveAsync(CancellationToken)"/>.
/// </summary>
/// <remarks>
/// <para>A connection runs over any <see cref="IDuplexPipe"/>, in the client or server role, so it can be
/// hosted by <see cref="TinyProtoServer"/>, <see cref="TinyProtoClient"/>, or a server of your own.</para>
/// <para>All public members are safe to call concurrently. Hooks run one at a time, never inline on an
/// I/O completion, and may call <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</para>
/// </remarks>
// Whether a derived class overrides a hook is read from its protected methods (HookOverrides), so trimming keeps them.
[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.NonPublicMethods)]
public partial class TinyProtoConnection : IAsyncDisposable
{
    private static readonly AsyncLocal<TinyProtoConnection?> s_hookLoopOwner = new();

    // The facade's own fields. _state moves 0 (new) -> 1 (handshake) -> 2 (running) once, by compare-exchange. The
    // transport, the deadline and the parts are written once by the handshake (published with Volatile) and read by
    // anyone after that; _options, _logger and the hook flags only before the loops start. Everything that changes
    // while the connection runs belongs to a part: the lifetime, the inbox and the hook wake-up are guarded by _gate.
    private readonly object _gate = new();
    private readonly ConnectionLifetime _lifetime;
    private readonly Inbox _inbox;
    private readonly HookWake _hookWake;
    private readonly PluginChain _plugins = new();
    private readonly CancellationTokenSource _hookCancellation = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _loopsStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TinyProtoConnectionOptions _options = new();
    private ILogger _logger = NullLogger.Instance;
    private int _state;
    private IDuplexPipe? _transport;
    private Deadline? _deadline;
    private ConnectionParts? _parts;

    // Cancelled when the connection closes: ends a direct read that waits on a stream transport of ours.
    private CancellationTokenSource? _directCancel;

    /// <summary>Creates a connection that is not yet started.</summary>
    public TinyProtoConnection()
    {
        _lifetime = new ConnectionLifetime(_gate, () => BeginClose(byUser: false));
        _hookWake = new HookWake(_gate);
        _inbox = new Inbox(_gate, _hookWake.Wake);
    }

    /// <summary>The connection's identity, unique per connection object.</summary>
    public Guid Id { get; } = Guid.NewGuid();

    /// <summary>This end's role; set when the connection starts.</summary>
    public TinyProtoRole Role { get; private set; }

    /// <summary>Whether the opening handshake negotiated pipelined mode (PROTOCOL.md rule 6).</summary>
    public bool IsPipelined { get; private set; }

    /// <summary>The local endpoint of the underlying socket, when there is one.</summary>
    public EndPoint? LocalEndPoint { get; set; }

    /// <summary>
    /// The remote endpoint of the underlying socket, when there is one; on a server address with the PROXY protocol
    /// (<see cref="TinyProtoProxyProtocolOptions"/>), the client's endpoint its proxy named.
    /// </summary>
    public EndPoint? RemoteEndPoint { get; set; }

    /// <summary>
    /// The proxy's endpoint (the underlying socket's peer), when the connection came through a proxy that sent a PROXY
    /// protocol header (<see cref="TinyProtoProxyProtocolOptions"/>); else null.
    /// </summary>
    public EndPoint? ProxyEndPoint { get; internal set; }

    /// <summary>
    /// The connection's settings. They can be replaced, or changed, until the connection starts; then they become
    /// read-only (<see cref="TinyProtoConnectionOptions.IsReadOnly"/>) and every setter of theirs throws. A server or
    /// client gives a connection a copy of its own <c>ConnectionOptions</c> only when the connection's handler did not
    /// assign options of its own: options set here, in the handler, are kept as they are.
    /// </summary>
    /// <exception cref="InvalidOperationException">Set after the connection started.</exception>
    public TinyProtoConnectionOptions Options
    {
        get => _options;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (Volatile.Read(ref _state) != 0)
            {
                throw new InvalidOperationException("Options can only be set before the connection starts.");
            }

            _options = value;
            OptionsWereSet = true;
        }
    }

    /// <summary>
    /// A task that completes once the connection has ended and <see cref="PostLoopAsync"/> has returned.
    /// It completes successfully when the peer closed at a message boundary or the connection was closed
    /// locally, and faults with a <see cref="TinyProtoException"/> (or a hook's exception) when an error ended it.
    /// </summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Why the connection ended; <see cref="TinyProtoCloseReason.None"/> until it has. Set before <see cref="Completion"/>
    /// completes and before the server's <c>ConnectionShutdownAsync</c> runs for it.
    /// </summary>
    public TinyProtoCloseReason CloseReason { get; private set; }

    /// <summary>
    /// The error that ended the connection (what a faulted <see cref="Completion"/> holds), or null when it ended
    /// cleanly or has not ended. Set with <see cref="CloseReason"/>.
    /// </summary>
    public Exception? CloseError { get; private set; }

    /// <summary>Adds a plugin; plugins run in the order they were added on transmit, and in reverse on receive.</summary>
    /// <param name="plugin">The plugin.</param>
    /// <exception cref="ArgumentNullException"><paramref name="plugin"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The connection already started.</exception>
    public void AddPlugin(ITinyProtoPlugin plugin)
    {
        ArgumentNullException.ThrowIfNull(plugin);
        if (Volatile.Read(ref _state) != 0)
        {
            throw new InvalidOperationException("Plugins can only be added before the connection starts.");
        }

        _plugins.Add(plugin);
    }

    /// <summary>
    /// Performs the opening handshake over <paramref name="transport"/>, then starts the connection's loops
    /// and returns. The connection owns the transport from now on and completes both of its sides when it ends.
    /// </summary>
    /// <param name="transport">The byte transport, e.g. from a socket or a server framework.</param>
    /// <param name="role">Whether this end connected (<see cref="TinyProtoRole.Client"/>) or accepted.</param>
    /// <param name="cancellationToken">Cancels the handshake.</param>
    /// <exception cref="TinyProtoException">The handshake failed, timed out, or the server is at its connection limit.</exception>
    /// <exception cref="InvalidOperationException">The connection was started before.</exception>
    public async Task StartAsync(IDuplexPipe transport, TinyProtoRole role, CancellationToken cancellationToken = default)
    {
        await HandshakeAsync(transport, role, cancellationToken).ConfigureAwait(false);
        StartLoops();
    }

    /// <summary>Starts the connection over a byte stream (a <c>NetworkStream</c>, an <c>SslStream</c>, ...), which it then owns.</summary>
    /// <param name="stream">The stream; disposed when the connection ends.</param>
    /// <param name="role">Whether this end connected or accepted.</param>
    /// <param name="cancellationToken">Cancels the handshake.</param>
    /// <exception cref="TinyProtoException">The handshake failed, timed out, or the server is at its connection limit.</exception>
    public Task StartAsync(Stream stream, TinyProtoRole role, CancellationToken cancellationToken = default)
    {
        Transport.StreamDuplexPipe transport = Transport.StreamTransport.Create(stream);

        // A write to the stream takes no token (it may still read the caller's memory): a close that stalls disposes the stream.
        AbortTarget ??= stream;
        return StartAsync(transport, role, cancellationToken);
    }

    /// <summary>Starts the connection and waits until it ends; see <see cref="StartAsync(IDuplexPipe, TinyProtoRole, CancellationToken)"/> and <see cref="Completion"/>.</summary>
    /// <param name="transport">The byte transport.</param>
    /// <param name="role">Whether this end connected or accepted.</param>
    /// <param name="cancellationToken">Closes the connection when cancelled (as <see cref="CloseAsync"/>); cancels the handshake while it runs.</param>
    /// <exception cref="TinyProtoException">The handshake failed, or an error ended the connection (whatever the transport threw is its inner exception).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled during the opening handshake.</exception>
    public async Task RunAsync(IDuplexPipe transport, TinyProtoRole role, CancellationToken cancellationToken = default)
    {
        await StartAsync(transport, role, cancellationToken).ConfigureAwait(false);
        using (cancellationToken.Register(static c => ((TinyProtoConnection)c!).BeginLocalClose(), this))
        {
            await Completion.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Closes the connection: lets the exchange of our own message in flight finish (bounded by
    /// <see cref="TinyProtoConnectionOptions.Timeout"/>), refuses new transmissions, stops reading, fails operations still waiting, lets the running hook return,
    /// runs <see cref="PostLoopAsync"/>, and waits for all of that unless called from the connection's own hooks.
    /// Safe to call more than once and before the connection started: a call while an earlier one waits for our exchange
    /// joins that wait. Messages received but not taken yet are dropped: <c>ReceiveAsync</c> fails from now on.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the connection still closes).</param>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        BeginLocalClose();
        if (Volatile.Read(ref _state) != 2 || s_hookLoopOwner.Value == this)
        {
            return;
        }

        try
        {
            await Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (Completion.IsCompleted)
        {
            // Whatever ended the connection is reported through Completion, not by CloseAsync.
        }
    }

    /// <summary>Closes the connection, as <see cref="CloseAsync"/>.</summary>
    /// <returns>A task that completes when the connection has ended.</returns>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Payload bytes that crossed the transport either way so far (what timed waits take as a sign of life).</summary>
    internal long PayloadBytesMoved => Volatile.Read(ref _deadline)?.Progress ?? 0;

    /// <summary>The reader thread of a dedicated-thread connection (<see cref="TinyProtoThreading"/>); null over asynchronous I/O.</summary>
    internal Transport.ReaderThread? DedicatedReader =>
        (Volatile.Read(ref _transport) as Transport.StreamDuplexPipe)?.Input is Transport.BlockingSocketReader reader ? reader.Thread : null;

    /// <summary>The status timer of the deadline fired; the waits for statuses decide what it means.</summary>
    private void OnStatusTimer() => Volatile.Read(ref _parts)?.Waits.OnStatusTimer();

    /// <summary>What <see cref="Abort"/> disposes to cut the transport (the socket, for connections a server or client made).</summary>
    internal IDisposable? AbortTarget { get; set; }

    /// <summary>
    /// Ends a connection that its host made but never started (connecting, or the TLS handshake, failed first), so that
    /// <see cref="Completion"/> completes and whatever waits on it (a DI scope of the connection) is let go. Harmless
    /// after a handshake that failed (which completed it already).
    /// </summary>
    internal void Discard()
    {
        lock (_gate)
        {
            _lifetime.TryBeginClosing();
        }

        _completion.TrySetResult();
    }

    /// <summary>Ends a connection whose handshake succeeded but whose loops will not start (its host refused it).</summary>
    internal async Task AbandonAsync()
    {
        BeginClose(byUser: true);
        await AbandonTransportAsync().ConfigureAwait(false);
        _completion.TrySetResult();
    }

}
