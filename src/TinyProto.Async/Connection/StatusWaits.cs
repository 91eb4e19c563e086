using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Connection;

/// <summary>
/// Our messages awaiting statuses, oldest first: each status the receive loop reads goes to the oldest
/// (<see cref="TryTake"/>), the status timer fails the oldest that waited too long (<see cref="OnStatusTimer"/>), and the
/// end of the connection fails them all (<see cref="FailAll"/>). Also the drain of a close that waits for our exchange
/// in flight to finish.
/// </summary>
/// <remarks>
/// It owns <c>_awaiting</c>, <c>_free</c>, <c>_drained</c> and <c>_ended</c>, all guarded by the connection's gate, which every member
/// takes itself except those documented as called under it. The <see cref="Conversation"/> counts the same statuses
/// for the protocol; this type maps them to the callers that wait.
/// </remarks>
internal sealed class StatusWaits
{
    private const int MaxPooledWaiters = 16;

    private readonly object _gate;
    private readonly Conversation _conversation;
    private readonly Deadline _deadline;
    private readonly ConnectionLifetime _lifetime;
    private readonly Inbox _inbox;
    private readonly Queue<StatusWaiter> _awaiting = new();
    private readonly Stack<StatusWaiter> _free = new();
    private TaskCompletionSource? _drained;
    private bool _ended;

    public StatusWaits(object gate, Conversation conversation, Deadline deadline, ConnectionLifetime lifetime, Inbox inbox)
    {
        _gate = gate;
        _conversation = conversation;
        _deadline = deadline;
        _lifetime = lifetime;
        _inbox = inbox;
    }

    /// <summary>
    /// Registers <paramref name="count"/> of our messages as awaiting statuses, before their headers are written, and
    /// wakes a receive loop held back by the inbox (our status may lie behind the next message).
    /// </summary>
    /// <exception cref="TinyProtoException">The connection is ending or draining: nothing new may start.</exception>
    public StatusWaiter Begin(int count, long length)
    {
        lock (_gate)
        {
            if (_lifetime.IsClosing || _lifetime.InputEnded || _drained is not null)
            {
                throw _lifetime.ClosedError("transmit").NothingWasDelivered();
            }

            StatusWaiter waiter = _free.TryPop(out StatusWaiter? free) ? free : new StatusWaiter();
            waiter.Arm(count, length, _deadline.Now);
            _deadline.StatusWaitBegan(first: _conversation.AwaitingStatuses == 0);
            _conversation.BeginOwnMessages(count);
            _awaiting.Enqueue(waiter);
            _inbox.SignalRoom();
            return waiter;
        }
    }

    /// <summary>
    /// The receive loop read a status at a boundary. False when none of our messages awaited one (rule 4: a violation,
    /// answered with a refusal). Otherwise true, with the waiter whose last status this was (taken out of the queue), or
    /// null when more statuses of its batch are to come or the close already ended its wait.
    /// </summary>
    public bool TryTake(byte status, in System.Buffers.ReadOnlySequence<byte> rest, out StatusWaiter? completed)
    {
        completed = null;
        lock (_gate)
        {
            if (_ended)
            {
                // The close already ended every wait: the status answers a message no one waits for any more.
                return true;
            }

            if (_conversation.OnStatus(status, rest) == StatusOutcome.Unexpected)
            {
                return false;
            }

            _deadline.StatusArrived();
            if (!_awaiting.TryPeek(out StatusWaiter? waiter) || !waiter.Take(status))
            {
                return true;
            }

            _awaiting.Dequeue();
            SignalDrainedIfIdle();
            completed = waiter;
            return true;
        }
    }

    /// <summary>
    /// Fails the oldest wait once, for <see cref="TinyProtoConnectionOptions.Timeout"/> since it began, neither a status
    /// nor payload bytes have come; the <see cref="Deadline"/> re-arms its timer otherwise. One timer serves every wait.
    /// </summary>
    public void OnStatusTimer()
    {
        TinyProtoException? error = null;
        TimeSpan timeout = _deadline.Timeout;
        lock (_gate)
        {
            if (_lifetime.InputEnded || _lifetime.IsClosing || !_awaiting.TryPeek(out StatusWaiter? head))
            {
                _deadline.StatusTimerIdle();
                return;
            }

            if (!_deadline.StatusWaitExpired(head.StartedAt))
            {
                return;
            }

            error = new TinyProtoException(TinyProtoError.Timeout, head.Count == 1
                ? $"The peer did not answer the header of a {head.Length}-byte message within {timeout.TotalSeconds:0.###} s (nor sent anything meanwhile); the connection was closed."
                : $"The peer did not answer the headers of a batch of {head.Count} messages within {timeout.TotalSeconds:0.###} s (nor sent anything meanwhile); the connection was closed.");

            // Completed under the gate, while it is still queued, so the receive loop cannot have taken it.
            head.Fail(error);
        }

        _lifetime.Fail(error);
    }

    /// <summary>
    /// Fails every wait and stops the status timer for good: no status will come, so nothing of ours is in flight any
    /// more and a drain waiting for that completes. The caller holds the gate.
    /// </summary>
    public void FailAll()
    {
        _ended = true;
        while (_awaiting.TryDequeue(out StatusWaiter? waiter))
        {
            // In lock-step mode a message awaiting its status has not sent its payload: the peer cannot have it.
            waiter.Fail(waiter.Refusal != Signal.Ok ? RefusedInBatchThenClosed(waiter)
                : _conversation.IsPipelined ? _lifetime.ClosedError("transmit")
                : _lifetime.ClosedError("transmit").NothingWasDelivered());
        }

        _conversation.AbandonAwaitedStatuses();
        _deadline.StopStatusWaits();
        SignalDrainedIfIdle();
    }

    /// <summary>
    /// Gives up our exchange without its payload written in full (cancelled, timed out, refused, failed). When its OK
    /// had come, the peer reads whatever follows as that payload, so nothing may follow: no held answer may leak into
    /// its place. The connection is closing then.
    /// </summary>
    public void GiveUpOwnExchange()
    {
        lock (_gate)
        {
            if (_conversation.IsPayloadDue)
            {
                _conversation.CutShort();
            }

            _conversation.EndOwnExchange();
            SignalDrainedIfIdle();
        }
    }

    /// <summary>Ends our lock-step exchange: a held answer (rule 5) is owed now, to go out behind our payload.</summary>
    public void EndOwnExchange()
    {
        lock (_gate)
        {
            _conversation.EndOwnExchange();
            SignalDrainedIfIdle();
        }
    }

    /// <summary>
    /// A close that first lets our exchange in flight finish: new transmissions are refused from now on. Returns false
    /// when nothing of ours is in flight or a drain runs already. The caller holds the gate.
    /// </summary>
    public bool TryBeginDrain()
    {
        if (_drained is not null || !_conversation.OwnMessageInFlight)
        {
            return false;
        }

        _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return true;
    }

    /// <summary>Whether a close waits for our exchange in flight (<see cref="TryBeginDrain"/>). The caller holds the gate.</summary>
    public bool IsDraining => _drained is not null;

    /// <summary>The drain under way, if any: completes once nothing of ours is in flight.</summary>
    public Task? Drained
    {
        get
        {
            lock (_gate)
            {
                return _drained?.Task;
            }
        }
    }

    /// <summary>Keeps a waiter whose caller took its result, for the next wait.</summary>
    public void Return(StatusWaiter waiter)
    {
        lock (_gate)
        {
            if (_free.Count < MaxPooledWaiters)
            {
                _free.Push(waiter);
            }
        }
    }

    /// <summary>
    /// Waits for the statuses of our messages; anything but OK is a refusal. The status timeout is enforced by
    /// <see cref="OnStatusTimer"/>, so a wait costs no timer of its own.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask AwaitAcceptanceAsync(StatusWaiter waiter, long length, CancellationToken cancellationToken)
    {
        byte status;
        CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((StatusWaiter)state!).TrySetException(new OperationCanceledException(token)), waiter)
            : default;
        try
        {
            status = await waiter.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            FailCancelled();
            throw;
        }
        finally
        {
            registration.Dispose();
        }

        // The receive loop dequeued the waiter before completing it with a status, so it can be reused.
        int count = waiter.Count;
        int refusedIndex = waiter.RefusedIndex;
        Return(waiter);
        if (status != Signal.Ok)
        {
            throw count == 1 ? Refused(status, length) : RefusedInBatch(status, refusedIndex, count);
        }
    }

    /// <summary>A transmission was cancelled after its header went out: the protocol cannot take a header back.</summary>
    public void FailCancelled() =>
        _lifetime.Fail(new TinyProtoException(TinyProtoError.ConnectionClosed, "A transmission was cancelled after its size header was sent; the protocol cannot take a header back, so the connection was closed."));

    /// <summary>The error of a message the peer refused with <paramref name="status"/>.</summary>
    public static TinyProtoException Refused(byte status, long length) => status switch
    {
        Signal.TooLarge => new(TinyProtoError.MessageRefused, $"The peer refused a {length}-byte message as too large (0xFC); nothing of its payload was sent."),
        Signal.Stopping => new TinyProtoException(TinyProtoError.MessageRefused, $"The peer refused a {length}-byte message with {Signal.Describe(status)}; nothing of its payload was sent.").NothingWasDelivered(),
        _ => new(TinyProtoError.MessageRefused, $"The peer refused a {length}-byte message with {Signal.Describe(status)}; nothing of its payload was sent."),
    };

    private static TinyProtoException RefusedInBatch(byte status, int index, int count) =>
        new(TinyProtoError.MessageRefused, $"The peer refused message {index} of a batch of {count} with {Signal.Describe(status)}; the {index} message(s) before it were accepted.");

    /// <summary>Completes a drain once nothing of ours is in flight; the caller holds the gate.</summary>
    private void SignalDrainedIfIdle()
    {
        if (_drained is not null && !_conversation.OwnMessageInFlight)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>A batch that had a refusal when the connection ended: the refusal is what the caller needs to hear.</summary>
    private TinyProtoException RefusedInBatchThenClosed(StatusWaiter waiter) =>
        new(TinyProtoError.MessageRefused,
            $"The peer refused message {waiter.RefusedIndex} of a batch of {waiter.Count} with {Signal.Describe(waiter.Refusal)}, then the connection ended before the rest were answered; the {waiter.RefusedIndex} message(s) before it were accepted.",
            _lifetime.ClosedError("transmit"));
}
