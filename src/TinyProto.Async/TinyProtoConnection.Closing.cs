using System.IO.Pipelines;
using TinyProto.Async.Connection;

namespace TinyProto.Async;

/// <summary>How a connection ends: closing, draining our exchange in flight, stopping gracefully, and cutting the transport.</summary>
public partial class TinyProtoConnection
{
    /// <summary>
    /// Stops the connection gracefully, for a stopping server: no new header is answered (its sender learns that its
    /// message failed), while every message already accepted is still received in full and delivered to the hooks (or
    /// <c>ReceiveAsync</c>), which may transmit as usual; once nothing is left the connection closes as
    /// <see cref="CloseAsync"/> does. The hooks' token is not cancelled: the caller bounds the stop with <see cref="Abort"/>.
    /// </summary>
    internal void BeginStop()
    {
        lock (_gate)
        {
            if (_lifetime.IsClosing || _lifetime.Stopping)
            {
                return;
            }

            _lifetime.Stopping = true;
            _inbox.WakeHooksWhileStopping = true;
            SignalHooks();

            // A header held back for room is declined now (rule 8): the receive loop looks at it again.
            _inbox.SignalRoom();
        }

        if (Volatile.Read(ref _state) == 0)
        {
            BeginClose(byUser: true);
        }
    }

    /// <summary>A close the user asked for (<see cref="CloseAsync"/>, a dispose, <c>RunAsync</c>'s token): receives fail from now on.</summary>
    private void BeginLocalClose()
    {
        lock (_gate)
        {
            _lifetime.ClosedLocally = true;
        }

        BeginClose(byUser: true);
    }

    /// <summary>Ends the connection at once without waiting for hooks, e.g. when a stop deadline has passed.</summary>
    internal void Abort()
    {
        lock (_gate)
        {
            _lifetime.Aborted = true;
        }

        BeginClose(byUser: true, drain: false);
        CutTransport();
    }

    /// <summary>Ends every write that waits on the transport and, for a socket, the socket itself.</summary>
    private void CutTransport()
    {
        CancelTransportWaits(flushes: true);
        try
        {
            AbortTarget?.Dispose();
        }
        catch (Exception ex)
        {
            Log.TransportReleaseFailed(_logger, Id, ex);
        }
    }

    /// <summary>
    /// A close is bounded by <see cref="TinyProtoConnectionOptions.Timeout"/>: a peer that stops reading while we still
    /// write (statuses we owe, the rest of a payload) cannot hold the connection, and CloseAsync, open for ever.
    /// </summary>
    private async Task CutTransportIfCloseStallsAsync()
    {
        // Null before the handshake began: there is no transport to cut.
        Deadline? deadline = Volatile.Read(ref _deadline);
        if (deadline is null || deadline.IsInfinite)
        {
            return;
        }

        // Slow hooks or PostLoopAsync are not a stall, nor is a slow peer that keeps taking our bytes: only a write
        // that makes no progress for a whole Timeout is cut.
        while (!await deadline.WaitWhileProgressingAsync(Completion).ConfigureAwait(false))
        {
            if (Volatile.Read(ref _parts)?.Output.IsBusy == true)
            {
                Log.CloseStalled(_logger, Id, deadline.Timeout.TotalMilliseconds);
                CutTransport();
                return;
            }
        }
    }

    /// <summary>
    /// Ends the connection with <paramref name="error"/> and cuts every write that waits on the transport: a write that
    /// stalled for a whole Timeout, or a transmission cancelled while its payload was being written.
    /// </summary>
    private void AbortWrites(TinyProtoException error)
    {
        Fail(error);
        CutTransport();
    }

    /// <summary>
    /// Starts closing. A close asked for by the user (or a stopping server) ends the hooks at once and cancels
    /// their token; a close caused by an error first lets the hooks take the messages already received in full.
    /// </summary>
    private void BeginClose(bool byUser, bool drain = true)
    {
        if (byUser && drain && TryBeginDrain())
        {
            return;
        }

        lock (_gate)
        {
            _lifetime.ClosedByUser |= byUser;
            if (_lifetime.TryBeginClosing())
            {
                WakeAll();
                _ = CutTransportIfCloseStallsAsync();
            }
            else if (byUser)
            {
                SignalHooks();
            }
        }

        if (byUser)
        {
            _hookCancellation.Cancel();
        }

        CancelTransportWaits(flushes: false);

        // A receive loop blocked on a stream consumer that stopped reading must notice the close too.
        Volatile.Read(ref _parts)?.ReceiveLoop.CancelStreamFlush();

        if (Volatile.Read(ref _state) == 0)
        {
            _completion.TrySetResult();
        }
    }

    /// <summary>Wakes every loop and waiter so they notice the connection is closing; the caller holds <see cref="_gate"/>.</summary>
    private void WakeAll()
    {
        _inbox.SignalRoom();
        SignalHooks();
        _inbox.FailWaiters(() => _lifetime.ClosedError("receive"));
        _parts?.Waits.FailAll();
    }

    /// <summary>The receive loop has ended: no more messages will arrive.</summary>
    private void InputEnded()
    {
        lock (_gate)
        {
            _lifetime.InputEnded = true;
            if (_inbox.Count == 0 || _lifetime.IsClosing)
            {
                _inbox.FailWaiters(() => _lifetime.ClosedError("receive"));
            }

            _parts!.Waits.FailAll();
            SignalHooks();
        }
    }

    /// <summary>
    /// A close asked for while one of our own messages is in flight first lets that exchange finish (bounded by
    /// <see cref="TinyProtoConnectionOptions.Timeout"/>), so the peer never sees a size header without its payload.
    /// Hooks take no further messages and new transmissions are refused meanwhile. A close asked for again while the
    /// drain runs (a dispose, another caller) joins it (true): it must not cut the exchange the first one waits for.
    /// </summary>
    private bool TryBeginDrain()
    {
        lock (_gate)
        {
            if (_lifetime.IsClosing || Volatile.Read(ref _state) != 2)
            {
                return false;
            }

            if (_parts!.Waits.IsDraining)
            {
                return true;
            }

            if (!_parts.Waits.TryBeginDrain())
            {
                return false;
            }

            _lifetime.ClosedByUser = true;
            SignalHooks();
        }

        _ = CloseAfterDrainAsync();
        return true;
    }

    private async Task CloseAfterDrainAsync()
    {
        bool drained;
        try
        {
            drained = await WaitForDrainAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The exchange ended with an error: it is reported by the connection's end, and there is nothing left to drain.
            Log.TransportReleaseFailed(_logger, Id, ex);
            drained = true;
        }

        BeginClose(byUser: true, drain: false);
        if (!drained)
        {
            // Our exchange did not finish in time: the peer is not taking it, so writing the rest cannot hold the close.
            Log.CloseStalled(_logger, Id, _deadline!.Timeout.TotalMilliseconds);
            CutTransport();
        }
    }

    /// <summary>Waits for our exchange in flight to end while it makes progress; false once it stalled for a whole Timeout.</summary>
    private async Task<bool> WaitForDrainAsync()
    {
        Task? drained = Volatile.Read(ref _parts)?.Waits.Drained;
        return drained is null || await _deadline!.WaitWhileProgressingAsync(drained).ConfigureAwait(false);
    }

    /// <summary>Records the first error that ends the connection and starts closing it.</summary>
    private void Fail(Exception error) => _lifetime.Fail(error);

    /// <summary>
    /// Ends the transport's pending read (or, with <paramref name="flushes"/>, its pending flush) and any direct read or
    /// write of ours. A transport the connection already released (a writer completed, a stream disposed) has nothing
    /// waiting on it, so what it throws then is ignored.
    /// </summary>
    private void CancelTransportWaits(bool flushes)
    {
        if (Volatile.Read(ref _state) < 1)
        {
            return;
        }

        try
        {
            // Null for a moment while the handshake starts: it is cancelled through its token then.
            IDuplexPipe? transport = Volatile.Read(ref _transport);
            if (flushes)
            {
                transport?.Output.CancelPendingFlush();
            }
            else
            {
                transport?.Input.CancelPendingRead();
            }

            Volatile.Read(ref _directCancel)?.Cancel();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            // Already released: nothing waits on it.
        }
    }
}
