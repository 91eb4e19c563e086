using System.Buffers;
using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>Settings of one connection. A server or client copies its options into each new connection.</summary>
/// <remarks>Setters validate their argument and throw <see cref="ArgumentOutOfRangeException"/> on a bad value.</remarks>
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
    private TinyProtoThreading _threading;

    /// <summary>
    /// The largest incoming message this end accepts (PROTOCOL.md rule 1). A larger size is refused
    /// with <c>0xFC</c> before any payload byte is read, and the connection is closed. With
    /// <see cref="MaxReadAheadBytes"/> it bounds what one peer can make this end hold: a message is kept only as its
    /// bytes arrive, but a peer can send them. Default: <see cref="DefaultMaxMessageSize"/> (64 MiB); set
    /// <see cref="ProtocolMaxMessageSize"/> to take anything the protocol can carry, and override
    /// <c>TransmissionStreamReceivedAsync</c> so that such messages are streamed, not buffered.
    /// </summary>
    public long MaxMessageSize
    {
        get => _maxMessageSize;
        set => _maxMessageSize = value is >= 0 and <= ProtocolMaxMessageSize
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"MaxMessageSize must be between 0 and {ProtocolMaxMessageSize} (0xF0FFFFFF).");
    }

    /// <summary>
    /// Incoming messages up to this size are buffered whole and delivered as a sequence; larger ones are
    /// delivered as a <see cref="Stream"/> while they arrive, so memory stays bounded. Default: 64 MiB.
    /// </summary>
    public int MaxBufferedMessageSize
    {
        get => _maxBufferedMessageSize;
        set => _maxBufferedMessageSize = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxBufferedMessageSize must not be negative.");
    }

    /// <summary>
    /// How many bytes of incoming messages that no one has taken yet may be buffered while this end
    /// waits for the status of one of its own messages (a hook that transmits may have to read past
    /// the peer's next message to see its status). Past it the connection fails with
    /// <see cref="TinyProtoError.MessageTooLarge"/> rather than hang. Default: 64 MiB.
    /// </summary>
    public long MaxReadAheadBytes
    {
        get => _maxReadAheadBytes;
        set => _maxReadAheadBytes = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxReadAheadBytes must not be negative.");
    }

    /// <summary>
    /// How often <see cref="TinyProtoConnection.LoopPassAsync"/> runs while no message arrives. Default: 30 ms, as in
    /// the original. A connection that does not override the hook runs no timer.
    /// </summary>
    public TimeSpan LoopPassInterval
    {
        get => _loopPassInterval;
        set => _loopPassInterval = TimeSpanOption.Positive(value, nameof(LoopPassInterval), infiniteAllowed: true);
    }

    /// <summary>
    /// How long the opening handshake and each wait for a status may take; connecting too, for a client. A wait for a
    /// status lasts as long as the peer keeps sending payload bytes (it may hold its answer until its own payload is
    /// out), and times out after this long with neither a status nor payload. Closing is bounded by it too.
    /// Idle time between messages is not limited. Default: 5 seconds; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> disables it.
    /// </summary>
    public TimeSpan Timeout
    {
        get => _timeout;
        set => _timeout = TimeSpanOption.Positive(value, nameof(Timeout), infiniteAllowed: true);
    }

    /// <summary>
    /// Client only: open with <c>0xFB</c> to ask for pipelined mode (PROTOCOL.md rule 6). A TinyProto.Async
    /// server may accept or decline; a Python tinyproto server fails the opening, so enable this only towards
    /// TinyProto.Async servers. Default: false.
    /// </summary>
    public bool RequestPipelining { get; set; }

    /// <summary>Server only: grant pipelined mode to clients that ask for it. Default: true.</summary>
    public bool AcceptPipelining { get; set; } = true;

    /// <summary>
    /// Where a connection over a socket the library opened waits for data and runs what arrivals complete (see
    /// <see cref="TinyProtoThreading"/>). Default: <see cref="TinyProtoThreading.Automatic"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not one of <see cref="TinyProtoThreading"/>'s.</exception>
    public TinyProtoThreading Threading
    {
        get => _threading;
        set => _threading = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Threading must be Automatic, DedicatedThread or ThreadPool.");
    }

    /// <summary>Where the connection logs what ended it. Default: no logging.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>The clock and timers of every timed wait; tests give a fake one.</summary>
    internal TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Where received message bodies rent their arrays. Internal so tests can put in a pool that catches leaks and
    /// use after return; users have no reason to change it.
    /// </summary>
    internal ArrayPool<byte> BufferPool { get; set; } = ArrayPool<byte>.Shared;

    /// <summary>Returns a copy of these options.</summary>
    public TinyProtoConnectionOptions Clone() => (TinyProtoConnectionOptions)MemberwiseClone();
}
