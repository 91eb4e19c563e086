using System.Buffers;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>Settings of one connection. A server or client copies its options into each new connection that has none of its own.</summary>
/// <remarks>
/// <para>Setters validate their argument and throw <see cref="ArgumentOutOfRangeException"/> on a bad value.</para>
/// <para>The options a connection runs with become read-only when it starts (<see cref="IsReadOnly"/>): from then on
/// every setter throws <see cref="InvalidOperationException"/>, so a setting can never be half applied to a running
/// connection. <see cref="Clone"/> gives a writable copy. The <c>ConnectionOptions</c> of a server or client never
/// become read-only: each connection gets a copy of them.</para>
/// </remarks>
public sealed class TinyProtoConnectionOptions
{
    /// <summary>The largest message the protocol can carry: <c>0xF0FFFFFF</c> bytes (a little over 3.76 GiB).</summary>
    public const long ProtocolMaxMessageSize = 0xF0FFFFFF;

    /// <summary>The default of <see cref="MaxMessageSize"/>: 64 MiB.</summary>
    public const long DefaultMaxMessageSize = 64 * 1024 * 1024;

    private long _maxMessageSize = DefaultMaxMessageSize;
    private int _maxBufferedMessageSize = 64 * 1024 * 1024;
    private long _maxReadAheadBytes = 64 * 1024 * 1024;
    private TimeSpan _loopPassInterval = TimeSpan.FromMilliseconds(30);
    private TimeSpan _timeout = TimeSpan.FromSeconds(5);
    private TimeSpan _idleTimeout = System.Threading.Timeout.InfiniteTimeSpan;
    private long _minReceiveBytesPerSecond = 240;
    private TimeSpan _tcpKeepAliveTime = TimeSpan.FromSeconds(60);
    private TimeSpan _tcpKeepAliveInterval = TimeSpan.FromSeconds(10);
    private int _tcpKeepAliveRetryCount = 3;
    private TinyProtoThreading _threading;
    private bool _requestPipelining;
    private bool _acceptPipelining = true;
    private ILogger? _logger;
    private IMeterFactory? _meterFactory;
    private TimeProvider _timeProvider = TimeProvider.System;
    private ArrayPool<byte> _bufferPool = ArrayPool<byte>.Shared;
    private volatile bool _readOnly;

    /// <summary>
    /// Whether these options belong to a connection that has started. Read-only options refuse every change with an
    /// <see cref="InvalidOperationException"/>; <see cref="Clone"/> returns a writable copy.
    /// </summary>
    public bool IsReadOnly => _readOnly;

    /// <summary>
    /// The largest incoming message this end accepts (PROTOCOL.md rule 1). A larger size is refused
    /// with <c>0xFC</c> before any payload byte is read, and the connection is closed. With
    /// <see cref="MaxReadAheadBytes"/> it bounds what one peer can make this end hold: a message is kept only as its
    /// bytes arrive, but a peer can send them. Default: <see cref="DefaultMaxMessageSize"/> (64 MiB); set
    /// <see cref="ProtocolMaxMessageSize"/> to take anything the protocol can carry, and override
    /// <c>TransmissionStreamReceivedAsync</c> so that such messages are streamed, not buffered.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public long MaxMessageSize
    {
        get => _maxMessageSize;
        set => _maxMessageSize = Writable(value, nameof(MaxMessageSize)) is >= 0 and <= ProtocolMaxMessageSize
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"MaxMessageSize must be between 0 and {ProtocolMaxMessageSize} (0xF0FFFFFF).");
    }

    /// <summary>
    /// Incoming messages up to this size are buffered whole and delivered as a sequence; larger ones are
    /// delivered as a <see cref="Stream"/> while they arrive, so memory stays bounded. Default: 64 MiB.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public int MaxBufferedMessageSize
    {
        get => _maxBufferedMessageSize;
        set => _maxBufferedMessageSize = Writable(value, nameof(MaxBufferedMessageSize)) >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxBufferedMessageSize must not be negative.");
    }

    /// <summary>
    /// How many bytes of incoming messages that no one has taken yet may be buffered while this end
    /// waits for the status of one of its own messages (a hook that transmits may have to read past
    /// the peer's next message to see its status). Past it the connection fails with
    /// <see cref="TinyProtoError.MessageTooLarge"/> rather than hang. Default: 64 MiB.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public long MaxReadAheadBytes
    {
        get => _maxReadAheadBytes;
        set => _maxReadAheadBytes = Writable(value, nameof(MaxReadAheadBytes)) >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxReadAheadBytes must not be negative.");
    }

    /// <summary>
    /// How often <see cref="TinyProtoConnection.LoopPassAsync"/> runs while no message arrives. Default: 30 ms, as in
    /// the original. A connection that does not override the hook runs no timer.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TimeSpan LoopPassInterval
    {
        get => _loopPassInterval;
        set => _loopPassInterval = TimeSpanOption.Positive(Writable(value, nameof(LoopPassInterval)), nameof(LoopPassInterval), infiniteAllowed: true);
    }

    /// <summary>
    /// The limit of every wait the peer controls: the opening handshake (and connecting, for a client); each wait for
    /// a status, which lasts as long as the peer keeps sending payload bytes (it may hold its answer until its own
    /// payload is out); a message in progress that receives no byte for this long (a peer that stops mid-message); a
    /// write the peer takes none of our bytes of for this long (a peer that stopped reading); and closing. Each ends
    /// the connection with a <see cref="TinyProtoError.Timeout"/> error that says which wait it was. Idle time between
    /// messages is limited by <see cref="IdleTimeout"/> instead. Default: 5 seconds;
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> disables all of these.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TimeSpan Timeout
    {
        get => _timeout;
        set => _timeout = TimeSpanOption.Positive(Writable(value, nameof(Timeout)), nameof(Timeout), infiniteAllowed: true);
    }

    /// <summary>
    /// How long the connection may stay idle (no byte received and no message of ours sent) between messages before
    /// it is closed with a <see cref="TinyProtoError.Timeout"/> error. Off by default
    /// (<see cref="System.Threading.Timeout.InfiniteTimeSpan"/>): a lock-step client may rightly wait for ever for its
    /// next request. A server on an open port usually sets it, so that silent peers do not hold connection slots. Time
    /// this end spends on its own (a hook still working on a message while the peer waits for the reply) counts as idle
    /// too: set it well above the longest such pause.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TimeSpan IdleTimeout
    {
        get => _idleTimeout;
        set => _idleTimeout = TimeSpanOption.Positive(Writable(value, nameof(IdleTimeout)), nameof(IdleTimeout), infiniteAllowed: true);
    }

    /// <summary>
    /// TCP keepalive on the sockets a <see cref="TinyProtoServer"/> accepts and a <see cref="TinyProtoClient"/> opens:
    /// after this long without any packet from the peer, the operating system probes it every
    /// <see cref="TcpKeepAliveInterval"/>, and after <see cref="TcpKeepAliveRetryCount"/> unanswered probes it ends the
    /// connection, which then fails with <see cref="TinyProtoError.ConnectionClosed"/>. This finds a peer whose host
    /// vanished (powered off, network gone) on an idle connection; a peer that is up but silent, or a proxy that stops
    /// forwarding yet answers the probes itself, it cannot find: <see cref="IdleTimeout"/> does. On Linux the socket's
    /// <c>TCP_USER_TIMEOUT</c> is set to the same total (time + interval × count), because keepalive never probes a
    /// socket whose last bytes are unacknowledged; that also ends a connection whose peer takes none of our bytes for
    /// that long (with the default <see cref="Timeout"/>, a stalled write is cut long before). Whole seconds (rounded
    /// up), at most 32767. Default: 60 seconds, so a vanished peer is found within about 90 seconds;
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> turns keepalive off. Connections started on a stream or
    /// pipe of your own leave its sockets as they are.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TimeSpan TcpKeepAliveTime
    {
        get => _tcpKeepAliveTime;
        set => _tcpKeepAliveTime = KeepAliveSeconds(Writable(value, nameof(TcpKeepAliveTime)), nameof(TcpKeepAliveTime), offAllowed: true);
    }

    /// <summary>The time between two keepalive probes (<see cref="TcpKeepAliveTime"/>). Whole seconds (rounded up), 1 to 32767. Default: 10 seconds.</summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TimeSpan TcpKeepAliveInterval
    {
        get => _tcpKeepAliveInterval;
        set => _tcpKeepAliveInterval = KeepAliveSeconds(Writable(value, nameof(TcpKeepAliveInterval)), nameof(TcpKeepAliveInterval), offAllowed: false);
    }

    /// <summary>How many keepalive probes may go unanswered before the connection is ended (<see cref="TcpKeepAliveTime"/>). 1 to 127. Default: 3.</summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public int TcpKeepAliveRetryCount
    {
        get => _tcpKeepAliveRetryCount;
        set => _tcpKeepAliveRetryCount = Writable(value, nameof(TcpKeepAliveRetryCount)) is >= 1 and <= 127
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "TcpKeepAliveRetryCount must be between 1 and 127.");
    }

    /// <summary>
    /// The slowest the peer may send a message we have accepted, in payload bytes per second, measured over the time
    /// this end waits for its bytes once <see cref="Timeout"/> of such waiting has passed (the grace period). A peer
    /// that trickles a message (a byte a second) is closed with a <see cref="TinyProtoError.Timeout"/> error. 0 turns the
    /// check off, e.g. for peers that stream a message from a slow source. Default: 240, as Kestrel's minimum request
    /// body data rate.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public long MinReceiveBytesPerSecond
    {
        get => _minReceiveBytesPerSecond;
        set => _minReceiveBytesPerSecond = Writable(value, nameof(MinReceiveBytesPerSecond)) >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MinReceiveBytesPerSecond must be 0 (off) or more.");
    }

    /// <summary>
    /// Client only: open with <c>0xFB</c> to ask for pipelined mode (PROTOCOL.md rule 6). A TinyProto.Async
    /// server may accept or decline; a Python tinyproto server fails the opening, so enable this only towards
    /// TinyProto.Async servers. Default: false.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public bool RequestPipelining
    {
        get => _requestPipelining;
        set => _requestPipelining = Writable(value, nameof(RequestPipelining));
    }

    /// <summary>Server only: grant pipelined mode to clients that ask for it. Default: true.</summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public bool AcceptPipelining
    {
        get => _acceptPipelining;
        set => _acceptPipelining = Writable(value, nameof(AcceptPipelining));
    }

    /// <summary>
    /// Where a connection over a socket the library opened waits for data and runs what arrivals complete (see
    /// <see cref="TinyProtoThreading"/>). Default: <see cref="TinyProtoThreading.Automatic"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not one of <see cref="TinyProtoThreading"/>'s.</exception>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TinyProtoThreading Threading
    {
        get => _threading;
        set => _threading = Enum.IsDefined(Writable(value, nameof(Threading)))
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Threading must be Automatic, DedicatedThread or ThreadPool.");
    }

    /// <summary>
    /// Where the connection logs what ended it and what its hooks threw. Default: null, which for a connection made by a
    /// <see cref="TinyProtoServer"/> or <see cref="TinyProtoClient"/> means that host's logger (or its logger factory's
    /// <c>TinyProto.Async.TinyProtoConnection</c> category), and for a connection you host yourself no logging.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public ILogger? Logger
    {
        get => _logger;
        set => _logger = Writable(value, nameof(Logger));
    }

    /// <summary>
    /// Where the connection's meter (<c>TinyProto.Async</c>) comes from, for its message instruments
    /// (<c>tinyproto.sent.messages</c>, <c>.received.messages</c>, <c>.sent.bytes</c>, <c>.received.bytes</c>,
    /// <c>tinyproto.operation.duration</c>). Default: null, which for a connection made by a <see cref="TinyProtoServer"/>
    /// or <see cref="TinyProtoClient"/> means that host's <c>MeterFactory</c>, and for a connection you host yourself (over
    /// a pipe or stream of your own, Kestrel's say) the library's own meter; set it there to record on a container's
    /// <see cref="IMeterFactory"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public IMeterFactory? MeterFactory
    {
        get => _meterFactory;
        set => _meterFactory = Writable(value, nameof(MeterFactory));
    }

    /// <summary>
    /// The clock and timers of every timed wait (timeouts, loop passes, stop deadlines): the host's
    /// <see cref="System.TimeProvider"/> in a DI container, a fake one in tests. Default: <see cref="TimeProvider.System"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="InvalidOperationException">The options are read-only (<see cref="IsReadOnly"/>): their connection has started.</exception>
    public TimeProvider TimeProvider
    {
        get => _timeProvider;
        set => _timeProvider = Writable(value ?? throw new ArgumentNullException(nameof(value)), nameof(TimeProvider));
    }

    /// <summary>
    /// Where received message bodies rent their arrays. Internal so tests can put in a pool that catches leaks and
    /// use after return; users have no reason to change it.
    /// </summary>
    internal ArrayPool<byte> BufferPool
    {
        get => _bufferPool;
        set => _bufferPool = Writable(value, nameof(BufferPool));
    }

    /// <summary>Returns a writable copy of these options, also of read-only ones.</summary>
    public TinyProtoConnectionOptions Clone()
    {
        var copy = (TinyProtoConnectionOptions)MemberwiseClone();
        copy._readOnly = false;
        return copy;
    }

    /// <summary>Makes these options read-only; a connection does this as it starts. Cannot be undone.</summary>
    internal void MakeReadOnly() => _readOnly = true;

    /// <summary>Returns <paramref name="value"/>, or throws if these options are read-only.</summary>
    private static TimeSpan KeepAliveSeconds(TimeSpan value, string option, bool offAllowed)
    {
        if (offAllowed && value == System.Threading.Timeout.InfiniteTimeSpan)
        {
            return value;
        }

        return value > TimeSpan.Zero && value <= TimeSpan.FromSeconds(32767)
            ? TimeSpan.FromSeconds(Math.Ceiling(value.TotalSeconds))
            : throw new ArgumentOutOfRangeException(nameof(value), value,
                $"{option} must be above zero and at most 32767 seconds{(offAllowed ? ", or Timeout.InfiniteTimeSpan (off)" : "")}.");
    }

    private T Writable<T>(T value, string option) => _readOnly
        ? throw new InvalidOperationException(
            $"TinyProtoConnectionOptions.{option} cannot be changed: these options belong to a connection that has started and are read-only. " +
            "Set options before the connection starts; for later connections, change a Clone() or the server's or client's ConnectionOptions.")
        : value;
}
