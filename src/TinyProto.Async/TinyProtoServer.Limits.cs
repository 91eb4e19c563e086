namespace TinyProto.Async;

/// <summary>The server's admission limits, kept by <see cref="ConnectionAdmission"/>: which accepted peers it takes on.</summary>
public partial class TinyProtoServer
{
    /// <summary>
    /// The most connections served at once, or null for no limit (the default). A connection takes its place when the
    /// server answers the client's opening byte and keeps it until <see cref="ConnectionShutdownAsync"/> has returned; a
    /// client over the limit is answered <c>0xFE</c> instead and closed, and the server keeps serving. A peer that has
    /// not sent its opening byte holds no place (<see cref="MaxPendingHandshakes"/> bounds those), so silent peers
    /// cannot lock good clients out. A change applies to clients that arrive after it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int? ConnectionLimit
    {
        get => _admission.ConnectionLimit;
        set => _admission.ConnectionLimit = value is null or >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "ConnectionLimit must be at least 1, or null for no limit.");
    }

    /// <summary>
    /// The most connections from one IP address at once, counting those still in their opening handshake, or null for no
    /// limit (the default: clients behind one NAT share an address). One more from that address is answered <c>0xFE</c>
    /// (after its opening byte, waiting at most a second for it) and closed, as at <see cref="ConnectionLimit"/>, and a log
    /// line names the address. An IPv4 address mapped to IPv6 counts as the IPv4 address. A change applies to clients that arrive after it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int? MaxConnectionsPerRemoteAddress
    {
        get => _admission.MaxPerAddress;
        set => _admission.MaxPerAddress = value is null or >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxConnectionsPerRemoteAddress must be at least 1, or null for no limit.");
    }

    /// <summary>
    /// The most accepted sockets in their opening handshake at once (counting those being refused by
    /// <see cref="MaxConnectionsPerRemoteAddress"/>), or null for no limit (the default). Beyond it, a new socket is
    /// answered <c>0xFE</c> at once, without waiting for its opening byte, and closed (a client whose opening byte had
    /// not arrived yet may see a reset instead), with a log line. A good client's handshake lasts half a round trip; a
    /// silent peer's lasts until the handshake times out (<see cref="TinyProtoConnectionOptions.Timeout"/>), so this
    /// bounds what silent peers can hold. It has no default because any fixed number lets that many silent peers turn
    /// away every new client: set it together with <see cref="MaxConnectionsPerRemoteAddress"/> (and a short
    /// <c>Timeout</c>) on a server open to the internet. A change applies to sockets accepted after it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int? MaxPendingHandshakes
    {
        get => _admission.MaxPending;
        set => _admission.MaxPending = value is null or >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxPendingHandshakes must be at least 1, or null for no limit.");
    }

    /// <summary>Accepted sockets in their opening handshake or being refused, for tests.</summary>
    internal int PendingHandshakes => _admission.Pending;
}
