using System.Runtime.CompilerServices;
using TinyProto.Async.Connection;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    private const int MaxPooledWaiters = 16;

    // The receive loop marks the thread on which it hands an OK to a lock-step transmitter inline.
    [ThreadStatic]
    private static TinyProtoConnection? t_deliveringStatus;

    // Guarded by _gate.
    private readonly Stack<StatusWaiter> _freeWaiters = new();

    // Every timed wait of the connection; set by the handshake.
    private Deadline _deadline = null!;

    /// <summary>
    /// Registers <paramref name="count"/> of our messages as awaiting statuses, before their headers are written;
    /// wakes a reader held back by the inbox.
    /// </summary>
    private StatusWaiter AwaitNextStatus(int count, long length)
    {
        lock (_gate)
        {
            if (_closing || _inputEnded || _drained is not null)
            {
                throw ClosedError("transmit");
            }

            StatusWaiter waiter = _freeWaiters.TryPop(out StatusWaiter? free) ? free : new StatusWaiter();
            waiter.Arm(count, length, _deadline.Now);
            _deadline.StatusWaitBegan(first: _conversation.AwaitingStatuses == 0);
            _conversation.BeginOwnMessages(count);
            _awaitingStatus.Enqueue(waiter);
            _inbox.SignalRoom();
            return waiter;
        }
    }

    /// <summary>
    /// Waits for the statuses of our messages; anything but OK is a refusal. The status timeout is enforced by
    /// <see cref="OnStatusTimer"/>, so a wait costs no timer of its own.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitAcceptanceAsync(StatusWaiter waiter, long length, CancellationToken cancellationToken)
    {
        byte status;
        CancellationTokenRegistration registration = CancelOnRequest(waiter, cancellationToken);
        try
        {
            status = await waiter.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            FailCancelledTransmission();
            throw;
        }
        finally
        {
            registration.Dispose();
        }

        Accept(waiter, status, length);
    }

    /// <summary>Makes <paramref name="cancellationToken"/> end the wait of <paramref name="waiter"/>; dispose the result once it ended.</summary>
    private static CancellationTokenRegistration CancelOnRequest<T>(ReusableSource<T> waiter, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((ReusableSource<T>)state!).TrySetException(new OperationCanceledException(token)), waiter)
            : default;

    private void FailCancelledTransmission() =>
        Fail(new TinyProtoException(TinyProtoError.ConnectionClosed, "A transmission was cancelled after its size header was sent; the protocol cannot take a header back, so the connection was closed."));

    /// <summary>Takes the result of a completed wait: the waiter goes back to the pool, and a refusal is thrown.</summary>
    private void Accept(StatusWaiter waiter, byte status, long length)
    {
        // The receive loop dequeued the waiter before completing it with a status, so it can be reused.
        int count = waiter.Count;
        int refusedIndex = waiter.RefusedIndex;
        ReturnToPool(_freeWaiters, waiter);

        if (status != Signal.Ok)
        {
            throw count == 1 ? Refused(status, length) : RefusedInBatch(status, refusedIndex, count);
        }
    }

    private static TinyProtoException Refused(byte status, long length) => status switch
    {
        Signal.TooLarge => new(TinyProtoError.MessageRefused, $"The peer refused a {length}-byte message as too large (0xFC); nothing of its payload was sent."),
        _ => new(TinyProtoError.MessageRefused, $"The peer refused a {length}-byte message with {Signal.Describe(status)}; nothing of its payload was sent."),
    };

    private static TinyProtoException RefusedInBatch(byte status, int index, int count) =>
        new(TinyProtoError.MessageRefused, $"The peer refused message {index} of a batch of {count} with {Signal.Describe(status)}; the {index} message(s) before it were accepted.");

    /// <summary>A batch that had a refusal when the connection ended: the refusal is what the caller needs to hear.</summary>
    private TinyProtoException RefusedInBatchThenClosed(StatusWaiter waiter) =>
        new(TinyProtoError.MessageRefused,
            $"The peer refused message {waiter.RefusedIndex} of a batch of {waiter.Count} with {Signal.Describe(waiter.Refusal)}, then the connection ended before the rest were answered; the {waiter.RefusedIndex} message(s) before it were accepted.",
            ClosedError("transmit"));

    /// <summary>
    /// Fails the oldest wait for a status once, for <see cref="TinyProtoConnectionOptions.Timeout"/> since it began,
    /// neither a status nor payload bytes have come; otherwise re-arms for the time left. One timer per connection
    /// serves every wait.
    /// </summary>
    private void OnStatusTimer()
    {
        TinyProtoException? error = null;
        TimeSpan timeout = _deadline.Timeout;
        lock (_gate)
        {
            if (_inputEnded || _closing || !_awaitingStatus.TryPeek(out StatusWaiter? head))
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

        Fail(error);
    }

    /// <summary>Ends our lock-step exchange: a held answer (rule 5) now goes out, after our payload.</summary>
    private void EndOwnExchange()
    {
        lock (_gate)
        {
            _conversation.EndOwnExchange();
            SignalDrainedIfIdle();
        }
    }

    /// <summary>Keeps a waiter whose use is over for the next wait, up to a few per kind.</summary>
    private void ReturnToPool<T>(Stack<T> pool, T waiter)
    {
        lock (_gate)
        {
            if (pool.Count < MaxPooledWaiters)
            {
                pool.Push(waiter);
            }
        }
    }
}
