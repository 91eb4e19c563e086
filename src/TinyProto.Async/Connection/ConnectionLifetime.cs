namespace TinyProto.Async.Connection;

/// <summary>
/// Whether a connection is ending, and why: the one piece of state every part checks before it starts something new,
/// and the first error, which every operation that the end cuts short reports.
/// </summary>
/// <remarks>
/// It owns <c>_closing</c>, <c>_closedByUser</c>, <c>_inputEnded</c> and <c>_failure</c>, all guarded by the connection's
/// gate: the properties are read and set with the gate held; <see cref="Fail"/>, <see cref="IsClosingNow"/> and
/// <see cref="ClosedError"/> take it themselves.
/// </remarks>
internal sealed class ConnectionLifetime
{
    private readonly object _gate;
    private readonly Action _failed;
    private Exception? _failure;

    /// <param name="gate">The connection's gate.</param>
    /// <param name="failed">Called, without the gate, after an error was recorded: the connection starts closing.</param>
    public ConnectionLifetime(object gate, Action failed)
    {
        _gate = gate;
        _failed = failed;
    }

    /// <summary>Whether the connection has started closing: nothing new starts, and waits end. Under the gate.</summary>
    public bool IsClosing { get; private set; }

    /// <summary>Whether the user (or a stopping server) asked for the close: the hooks end at once. Under the gate.</summary>
    public bool ClosedByUser { get; set; }

    /// <summary>
    /// Whether a local close began (<c>CloseAsync</c>, a dispose, <c>RunAsync</c>'s token): receives fail from then on,
    /// and what nobody took is dropped. Not a server's stop, which delivers what it accepted. Under the gate.
    /// </summary>
    public bool ClosedLocally { get; set; }

    /// <summary>
    /// Whether a graceful stop began (a stopping server): no new header is answered, while messages already accepted
    /// are still received, delivered and answered; the connection closes once nothing is left. Under the gate.
    /// </summary>
    public bool Stopping { get; set; }

    /// <summary>Whether a stopping host aborted the connection at its deadline. Under the gate.</summary>
    public bool Aborted { get; set; }

    /// <summary>Whether the receive loop has ended: no more messages or statuses will come. Under the gate.</summary>
    public bool InputEnded { get; set; }

    /// <summary>The first error that ended the connection, if any. Under the gate.</summary>
    public Exception? Failure => _failure;

    /// <summary>Marks the connection as closing; true the first time. Under the gate.</summary>
    public bool TryBeginClosing()
    {
        if (IsClosing)
        {
            return false;
        }

        IsClosing = true;
        return true;
    }

    /// <summary>Whether the connection has started closing, for a caller without the gate.</summary>
    public bool IsClosingNow()
    {
        lock (_gate)
        {
            return IsClosing;
        }
    }

    /// <summary>Whether a graceful stop began, for a caller without the gate.</summary>
    public bool StoppingNow()
    {
        lock (_gate)
        {
            return Stopping;
        }
    }

    /// <summary>Whether the receive loop has ended, for a caller without the gate.</summary>
    public bool InputEndedNow()
    {
        lock (_gate)
        {
            return InputEnded;
        }
    }

    /// <summary>Records the first error that ends the connection and starts closing it.</summary>
    public void Fail(Exception error)
    {
        lock (_gate)
        {
            _failure ??= error;
        }

        _failed();
    }

    /// <summary>Records <paramref name="error"/> as what ended the connection unless something did before; for a connection already ending.</summary>
    public void RecordFailure(Exception error)
    {
        lock (_gate)
        {
            _failure ??= error;
        }
    }

    /// <summary>
    /// Whether <paramref name="ex"/>, thrown while an operation used the transport, is the transport's own failure (any
    /// exception but ours and the caller's cancellation): it ends the connection as <see cref="TinyProtoError.ConnectionClosed"/>.
    /// A transport may throw anything (Kestrel's <c>ConnectionAbortedException</c> is an <see cref="OperationCanceledException"/>).
    /// </summary>
    public static bool IsTransportFailure(Exception ex, CancellationToken callersToken) =>
        ex is not TinyProtoException && !(ex is OperationCanceledException && callersToken.IsCancellationRequested);

    /// <summary>The error that ends a connection whose transport threw <paramref name="ex"/> while it was read.</summary>
    public static TinyProtoException Lost(Exception ex) =>
        ex as TinyProtoException ?? new(TinyProtoError.ConnectionClosed, $"The connection was lost: {ex.GetType().Name}: {ex.Message}", ex);

    /// <summary>The error of an <paramref name="operation"/> ("transmit", "receive") that the end of the connection cut short.</summary>
    public TinyProtoException ClosedError(string operation)
    {
        Exception? failure;
        string who;
        lock (_gate)
        {
            failure = _failure;
            who = Aborted ? "its server stopped and aborted it at the stop deadline"
                : Stopping ? "its server is stopping"
                : ClosedByUser ? "it was closed locally (CloseAsync, a dispose or a cancelled RunAsync)"
                : InputEnded ? "the peer closed it"
                : "it is closing";
        }

        return failure switch
        {
            TinyProtoException tp when tp.Error != TinyProtoError.ConnectionClosed =>
                new TinyProtoException(TinyProtoError.ConnectionClosed, $"Cannot {operation}: the connection was closed ({tp.Message})", tp),
            TinyProtoException tp => new TinyProtoException(TinyProtoError.ConnectionClosed, $"Cannot {operation}: {tp.Message}", tp),
            null => new TinyProtoException(TinyProtoError.ConnectionClosed, $"Cannot {operation}: the connection is closed ({who})."),
            _ => new TinyProtoException(TinyProtoError.ConnectionClosed, $"Cannot {operation}: the connection was closed ({failure.Message})", failure),
        };
    }

    /// <summary>
    /// What a transmission cancelled while its message was being sent throws: the connection was closed for it
    /// (<see cref="Output.CloseOnCancel"/>), since the protocol cannot take a message back.
    /// </summary>
    public static OperationCanceledException CancelledWhileSending(CancellationToken cancellationToken) =>
        new("The transmission was cancelled while its message was being sent; the connection was closed.", null, cancellationToken);

    /// <summary>The error of a transmission whose transport broke (a reset, a disposed stream, ...).</summary>
    public static TinyProtoException BrokenTransmission(Exception ex) =>
        new(TinyProtoError.ConnectionClosed, $"The transmission failed and the connection was closed: {ex.Message}", ex);

    /// <summary>
    /// Ends the connection for a transmission whose transport broke; returns the error for the caller. When the
    /// connection was already ending without an error (the peer closed it, a close, a stop) and its transport went with
    /// it, the transmission was only cut short by that end: it fails as <see cref="ClosedError"/> says, and the
    /// connection's end stays clean.
    /// </summary>
    public TinyProtoException TransmissionFailed(Exception ex)
    {
        bool endingCleanly;
        lock (_gate)
        {
            endingCleanly = IsClosing && _failure is null;
        }

        if (endingCleanly)
        {
            return ClosedError("transmit");
        }

        TinyProtoException error = BrokenTransmission(ex);
        Fail(error);
        return error;
    }
}
