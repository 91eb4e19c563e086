using System.Buffers;
using System.Runtime.CompilerServices;
using System.IO.Pipelines;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    // The buffered lock-step transmission whose OK the receive loop has just read; it writes the payload next.
    private StatusWaiter? _ownPayloadDue;

    /// <summary>
    /// A lock-step transmission without a state machine of its own: the header goes out now, the caller awaits the
    /// <see cref="StatusWaiter"/> itself, and the receive loop writes the payload when the OK arrives
    /// (<see cref="WriteOwnPayloadAsync"/>), then completes it. This is what the awaiting transmitter used to do
    /// inline on the receive loop anyway, minus the allocation of its state machine. Whenever a step would wait
    /// (the output is busy, a flush is pending) the rest goes through an ordinary async method.
    /// The caller holds <see cref="_transmitLock"/>.
    /// </summary>
    private ValueTask TransmitBufferedLockStep(ReadOnlySequence<byte> body, long length, CancellationToken cancellationToken)
    {
        StatusWaiter waiter;
        try
        {
            waiter = AwaitNextStatus(count: 1, length);
        }
        catch (Exception ex)
        {
            _transmitLock.Release();
            return ValueTask.FromException(ex);
        }

        waiter.BeginTransmission(this, body);
        if (!_outputLock.Wait(0, CancellationToken.None))
        {
            return SendHeaderThenAwaitAsync(waiter, length, default, headerWritten: false, cancellationToken);
        }

        ValueTask<FlushResult> flush;
        try
        {
            WritePendingStatuses();
            FrameCodec.WriteHeader(_output, (uint)length);
            flush = _output.FlushAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            _outputLock.Release();
            return ValueTask.FromException(AbandonHeader(waiter, ex));
        }

        if (!flush.IsCompletedSuccessfully)
        {
            return SendHeaderThenAwaitAsync(waiter, length, flush, headerWritten: true, cancellationToken);
        }

        try
        {
            CheckFlush(flush.Result);
        }
        catch (Exception ex)
        {
            _outputLock.Release();
            return ValueTask.FromException(AbandonHeader(waiter, ex));
        }

        ValueTask release = ReleaseOutputAsync();
        if (!release.IsCompletedSuccessfully)
        {
            return ReleaseThenAwaitAsync(waiter, release, cancellationToken);
        }

        return AwaitTransmission(waiter, cancellationToken);
    }

    /// <summary>The caller's view of a buffered lock-step transmission whose header is out.</summary>
    private static ValueTask AwaitTransmission(StatusWaiter waiter, CancellationToken cancellationToken)
    {
        waiter.Registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var waiter = (StatusWaiter)state!;
                waiter.Transmitter!.AbandonTransmission(waiter, new OperationCanceledException(token), cancelled: true);
            }, waiter)
            : default;
        return new ValueTask(waiter, waiter.Version);
    }

    /// <summary>The header step when the output was busy or its flush did not finish at once.</summary>
    private async ValueTask SendHeaderThenAwaitAsync(StatusWaiter waiter, long length, ValueTask<FlushResult> headerFlush, bool headerWritten, CancellationToken cancellationToken)
    {
        try
        {
            if (!headerWritten)
            {
                await AcquireOutputAsync(CancellationToken.None).ConfigureAwait(false);
            }

            try
            {
                FlushResult result;
                if (headerWritten)
                {
                    result = await headerFlush.ConfigureAwait(false);
                }
                else
                {
                    WritePendingStatuses();
                    FrameCodec.WriteHeader(_output, (uint)length);
                    result = await _output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                }

                CheckFlush(result);
            }
            finally
            {
                await ReleaseOutputAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            throw AbandonHeader(waiter, ex);
        }

        await AwaitTransmission(waiter, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask ReleaseThenAwaitAsync(StatusWaiter waiter, ValueTask release, CancellationToken cancellationToken)
    {
        try
        {
            await release.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw AbandonHeader(waiter, ex);
        }

        await AwaitTransmission(waiter, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The header could not be sent: the exchange is given up; returns the error for the caller.</summary>
    private Exception AbandonHeader(StatusWaiter waiter, Exception ex)
    {
        Exception error = ex is TinyProtoException or OperationCanceledException
            ? ex
            : new TinyProtoException(TinyProtoError.ConnectionClosed, $"The transmission failed and the connection was closed: {ex.Message}", ex);
        if (!ReferenceEquals(error, ex))
        {
            Fail(error);
        }

        AbandonTransmission(waiter, error);
        _ = SendPendingStatusesQuietlyAsync().AsTask();
        return error;
    }

    /// <summary>
    /// Ends a buffered lock-step transmission that will not write its payload (cancelled, timed out, refused, or the connection
    /// ended): our exchange is over and the next transmission may start. Safe under <see cref="_gate"/>.
    /// </summary>
    internal void AbandonTransmission(StatusWaiter waiter, Exception error, bool cancelled = false)
    {
        if (!waiter.TryClaim())
        {
            return;
        }

        if (cancelled)
        {
            FailCancelledTransmission();
        }

        EndOwnExchange();
        waiter.Body = default;
        _transmitLock.Release();
        waiter.SetClaimedException(error);
    }

    /// <summary>
    /// The receive loop read the OK for a buffered lock-step transmission: it writes the payload (rule 5: nothing may overtake it),
    /// ends the exchange and completes the caller's wait, whose continuation runs on the thread pool.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteOwnPayloadAsync()
    {
        StatusWaiter waiter = _ownPayloadDue!;
        _ownPayloadDue = null;
        if (!waiter.TryClaim())
        {
            // Cancelled or timed out just now: the connection is closing, and its payload is not written.
            return;
        }

        Exception? error = null;
        try
        {
            await WritePayloadThenEndExchangeAsync(waiter.Body, null, waiter.Length).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            error = ex is TinyProtoException or OperationCanceledException
                ? ex
                : new TinyProtoException(TinyProtoError.ConnectionClosed, $"The transmission failed and the connection was closed: {ex.Message}", ex);
            Fail(error);
            EndOwnExchange();
        }

        waiter.Body = default;
        _transmitLock.Release();
        if (error is null)
        {
            waiter.SetClaimedResult(Signal.Ok);
        }
        else
        {
            waiter.SetClaimedException(error);
        }
    }

    /// <summary>Returns a waiter whose caller took a successful result to the pool.</summary>
    internal void ReturnWaiter(StatusWaiter waiter) => ReturnToPool(_freeWaiters, waiter);
}
