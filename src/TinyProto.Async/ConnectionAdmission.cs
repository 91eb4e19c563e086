using System.Net;

namespace TinyProto.Async;

/// <summary>
/// Which accepted sockets a server takes on, and when (its <c>ConnectionLimit</c>, <c>MaxConnectionsPerRemoteAddress</c>
/// and <c>MaxPendingHandshakes</c>). A socket arrives (<see cref="TryBeginPending"/>) and is then pending: in its opening handshake,
/// or being refused. It takes a connection slot only when the server is about to answer its opening
/// (<see cref="Ticket.TryTakeSlot"/>), so peers that never send their opening byte hold no slot that a good client needs.
/// </summary>
/// <remarks>
/// Owns the limits, the counts and every ticket's state, all guarded by <see cref="_lock"/>; any thread may call in.
/// Limits may change while the server runs: each decision reads the current ones.
/// </remarks>
internal sealed class ConnectionAdmission
{
    private readonly object _lock = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private int _pending;
    private int _established;
    private int? _connectionLimit;
    private int? _maxPerAddress;
    private int? _maxPending;

    public int? ConnectionLimit
    {
        get => Read(ref _connectionLimit);
        set => Write(ref _connectionLimit, value);
    }

    public int? MaxPerAddress
    {
        get => Read(ref _maxPerAddress);
        set => Write(ref _maxPerAddress, value);
    }

    public int? MaxPending
    {
        get => Read(ref _maxPending);
        set => Write(ref _maxPending, value);
    }

    /// <summary>Sockets in their opening handshake or being refused.</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending;
            }
        }
    }

    /// <summary>Connections that hold a slot: answered and not yet done with.</summary>
    public int Established
    {
        get
        {
            lock (_lock)
            {
                return _established;
            }
        }
    }

    /// <summary>
    /// Takes on a socket that was just accepted: a pending place, or null at <see cref="MaxPending"/> (close it at once).
    /// The caller then claims its client's address (<see cref="Ticket.TryClaimAddress"/>; behind a proxy, once the PROXY
    /// protocol header has told it) and disposes the ticket once done with the socket.
    /// </summary>
    public Ticket? TryBeginPending()
    {
        lock (_lock)
        {
            if (_maxPending is int maxPending && _pending >= maxPending)
            {
                return null;
            }

            _pending++;
            return new Ticket(this);
        }
    }

    private T Read<T>(ref T field)
    {
        lock (_lock)
        {
            return field;
        }
    }

    private void Write<T>(ref T field, T value)
    {
        lock (_lock)
        {
            field = value;
        }
    }

    /// <summary>One accepted socket's places: pending until its handshake ends, then perhaps a slot; its address's count until disposed.</summary>
    internal sealed class Ticket : IDisposable
    {
        private readonly ConnectionAdmission _owner;
        private IPAddress? _address;
        private bool _pending = true;
        private bool _slot;

        public Ticket(ConnectionAdmission owner) => _owner = owner;

        /// <summary>
        /// Counts the socket as one of <paramref name="address"/>'s (nothing for null), unless that address is at
        /// <see cref="MaxPerAddress"/>: then false, and the caller refuses the socket. Called once per ticket.
        /// </summary>
        public bool TryClaimAddress(IPAddress? address)
        {
            address = address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
            if (address is null)
            {
                return true;
            }

            lock (_owner._lock)
            {
                int fromAddress = _owner._perAddress.GetValueOrDefault(address);
                if (_owner._maxPerAddress is int maxPerAddress && fromAddress >= maxPerAddress)
                {
                    return false;
                }

                _owner._perAddress[address] = fromAddress + 1;
                _address = address;
                return true;
            }
        }

        /// <summary>
        /// Takes a connection slot if one is free (always, without a <c>ConnectionLimit</c>); the server asks this when it is
        /// about to answer the client's opening, and answers <c>0xFE</c> on false.
        /// </summary>
        public bool TryTakeSlot()
        {
            lock (_owner._lock)
            {
                if (!_slot && _owner._connectionLimit is int limit && _owner._established >= limit)
                {
                    return false;
                }

                if (!_slot)
                {
                    _slot = true;
                    _owner._established++;
                }

                return true;
            }
        }

        /// <summary>The opening handshake is over, however it went: the socket is no longer pending.</summary>
        public void EndHandshake()
        {
            lock (_owner._lock)
            {
                if (_pending)
                {
                    _pending = false;
                    _owner._pending--;
                }
            }
        }

        /// <summary>The server is done with the socket: gives back every place still held. Safe to call more than once.</summary>
        public void Dispose()
        {
            EndHandshake();
            lock (_owner._lock)
            {
                if (_slot)
                {
                    _slot = false;
                    _owner._established--;
                }

                if (_address is not null)
                {
                    int left = _owner._perAddress[_address] - 1;
                    if (left == 0)
                    {
                        _owner._perAddress.Remove(_address);
                    }
                    else
                    {
                        _owner._perAddress[_address] = left;
                    }

                    _address = null;
                }
            }
        }
    }
}
