using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Connection;

/// <summary>
/// Our own messages in lock-step mode, from <c>TransmitAsync</c> to the end of their exchange: header, wait for the
/// OK, payload (rule 5), from memory or from a stream, one at a time.
/// </summary>
/// <remarks>
/// <para>It owns the lock-step turn (<c>_turn</c>: at most one of our messages in flight, rule 5) and
/// <c>_ownPayloadDue</c>, which only the receive loop touches: it is set when the receive loop reads the OK of a
/// buffered lock-step transmission and cleared when the receive loop writes that payload next (<see cref="WriteOwnPayloadAsync"/>).</para>
/// <para>The allocation-free lock-step path has no state machine of its own: the header goes out at once, the caller
/// awaits the <see cref="StatusWaiter"/> itself, and the receive loop writes the payload when the OK comes and then
/// completes it. Whenever a step would wait (the output is busy, a flush is pending) the rest goes through an ordinary
/// async method.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The SemaphoreSlim's wait handle is never created; it holds nothing to dispose.")]
internal sealed partial class LockStepTransmissions
{
    // The receive loop marks the thread on which it hands an OK to a lock-step transmitter inline.
    [ThreadStatic]
    private static LockStepTransmissions? t_deliveringStatus;

    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly Output _output;
    private readonly StatusWaits _waits;
    private readonly ConnectionLifetime _lifetime;
    private StatusWaiter? _ownPayloadDue;

    public LockStepTransmissions(Output output, StatusWaits waits, ConnectionLifetime lifetime)
    {
        _output = output;
        _waits = waits;
        _lifetime = lifetime;
    }

    /// <summary>Transmits a message held in memory; completes as <c>TinyProtoConnection.TransmitAsync</c> documents.</summary>
    public ValueTask TransmitAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        if (!cancellationToken.IsCancellationRequested && _turn.Wait(0, CancellationToken.None))
        {
            return TransmitBufferedLockStep(message, message.Length, cancellationToken);
        }

        return TransmitCoreAsync(message, null, message.Length, cancellationToken);
    }

    /// <summary>
    /// As <see cref="TransmitAsync(ReadOnlySequence{byte}, CancellationToken)"/>, recording <paramref name="measurement"/>
    /// when it completes: on the usual path through the status waiter the caller awaits, else through the metrics' wrapper.
    /// </summary>
    public ValueTask TransmitMeasuredAsync(ReadOnlySequence<byte> message, Diagnostics.SendMeasurement measurement, CancellationToken cancellationToken)
    {
        if (!cancellationToken.IsCancellationRequested && _turn.Wait(0, CancellationToken.None))
        {
            return TransmitBufferedLockStep(message, message.Length, cancellationToken, measurement);
        }

        return measurement.Wrap(TransmitCoreAsync(message, null, message.Length, cancellationToken));
    }

    /// <summary>Transmits <paramref name="length"/> bytes read from <paramref name="source"/> while they are sent.</summary>
    public ValueTask TransmitAsync(Stream source, long length, CancellationToken cancellationToken) =>
        TransmitCoreAsync(default, source, length, cancellationToken);

    /// <summary>
    /// The receive loop read the status <paramref name="waiter"/> awaited. A buffered transmission's payload is due
    /// next (<see cref="HasOwnPayloadDue"/>); a streamed one completes now and writes its payload itself.
    /// </summary>
    public void OnStatusTaken(StatusWaiter waiter, byte status)
    {
        if (waiter.Transmitter is not null)
        {
            if (status == Signal.Ok)
            {
                _ownPayloadDue = waiter;
            }
            else
            {
                Abandon(waiter, StatusWaits.Refused(status, waiter.Length));
            }

            return;
        }

        // A lock-step OK runs the transmitter inline: it writes its payload from here, without a thread-pool hop,
        // and yields before its caller's code runs (TransmitCoreAsync).
        bool inline = status == Signal.Ok;
        t_deliveringStatus = inline ? this : null;
        try
        {
            waiter.TrySetResult(waiter.Refusal, inline);
        }
        finally
        {
            t_deliveringStatus = null;
        }
    }

    /// <summary>Whether the receive loop must write a buffered lock-step payload before it reads on (rule 5).</summary>
    public bool HasOwnPayloadDue => _ownPayloadDue is not null;

    /// <summary>
    /// The receive loop read the OK for a buffered lock-step transmission: it writes the payload (nothing may overtake
    /// it), ends the exchange and completes the caller's wait, whose continuation runs on the thread pool (or, on a
    /// dedicated reader thread, on that thread once the arrival is parsed).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteOwnPayloadAsync()
    {
        StatusWaiter waiter = _ownPayloadDue!;
        _ownPayloadDue = null;

        // Marked before the claim: a cancellation that finds the waiter claimed then knows the payload is under way.
        waiter.BeginPayloadWrite();
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
            error = ex as TinyProtoException ?? ConnectionLifetime.BrokenTransmission(ex);
            _lifetime.Fail(error);
            _waits.GiveUpOwnExchange();
        }

        // A cancellation that cut the write closed the connection, even when the write got to its end first: the call
        // throws, since the cut transport may lose what was written.
        if (waiter.EndPayloadWrite())
        {
            error = new OperationCanceledException("The transmission was cancelled while its payload was being sent; the connection was closed.", error, waiter.CancelledWhileWriting);
        }

        waiter.Body = default;
        _turn.Release();
        if (error is null)
        {
            waiter.SetClaimedResult(Signal.Ok);
        }
        else
        {
            waiter.SetClaimedException(error);
        }
    }

    /// <summary>
    /// Ends a buffered lock-step transmission that will not write its payload (cancelled, timed out, refused, or the
    /// connection ended): our exchange is over and the next transmission may start. Safe under the gate.
    /// </summary>
    public bool Abandon(StatusWaiter waiter, Exception error, bool cancelled = false)
    {
        if (!waiter.TryClaim())
        {
            return false;
        }

        if (cancelled)
        {
            _waits.FailCancelled();
        }

        _waits.GiveUpOwnExchange();
        waiter.Body = default;
        _turn.Release();
        waiter.SetClaimedException(error);
        return true;
    }

    /// <summary>
    /// The caller of a buffered lock-step transmission cancelled: before its OK, the exchange is abandoned (and the
    /// connection closes, since the header is out); while its payload is written, the connection closes and the write is cut.
    /// </summary>
    private void OnCancelled(StatusWaiter waiter, CancellationToken token)
    {
        if (Abandon(waiter, new OperationCanceledException(token), cancelled: true) || !waiter.TryCutPayload(token))
        {
            return;
        }

        _output.AbortCancelledPayload();
    }

    /// <summary>Returns a waiter whose caller took a successful result to the pool.</summary>
    public void ReturnWaiter(StatusWaiter waiter) => _waits.Return(waiter);

    /// <summary>The buffered lock-step path (see the remarks); the caller holds the lock-step turn.</summary>
    private ValueTask TransmitBufferedLockStep(ReadOnlySequence<byte> body, long length, CancellationToken cancellationToken, Diagnostics.SendMeasurement? measurement = null)
    {
        StatusWaiter waiter;
        try
        {
            waiter = _waits.Begin(1, length);
        }
        catch (Exception ex)
        {
            _turn.Release();
            return Measured(measurement, ValueTask.FromException(ex));
        }

        waiter.BeginTransmission(this, body);
        if (!_output.TryAcquire())
        {
            return Measured(measurement, SendHeaderThenAwaitAsync(waiter, length, default, headerWritten: false, cancellationToken));
        }

        ValueTask<System.IO.Pipelines.FlushResult> flush;
        try
        {
            _output.WriteAnswers();
            _output.WriteHeader(length);
            flush = _output.StartFlush();
        }
        catch (Exception ex)
        {
            _output.Release();
            return Measured(measurement, ValueTask.FromException(AbandonHeader(waiter, ex)));
        }

        if (!flush.IsCompletedSuccessfully)
        {
            return Measured(measurement, SendHeaderThenAwaitAsync(waiter, length, flush, headerWritten: true, cancellationToken));
        }

        try
        {
            _output.CheckFlush(flush.Result);
        }
        catch (Exception ex)
        {
            _output.Release();
            return Measured(measurement, ValueTask.FromException(AbandonHeader(waiter, ex)));
        }

        ValueTask release = _output.ReleaseAsync();
        if (!release.IsCompletedSuccessfully)
        {
            return Measured(measurement, ReleaseThenAwaitAsync(waiter, release, cancellationToken));
        }

        // The usual path: the caller awaits the waiter itself, whose GetResult records the measurement.
        waiter.Measurement = measurement;
        return AwaitTransmission(waiter, cancellationToken);
    }

    private static ValueTask Measured(Diagnostics.SendMeasurement? measurement, ValueTask transmission) =>
        measurement is { } measured ? measured.Wrap(transmission) : transmission;

    /// <summary>The caller's view of a buffered lock-step transmission whose header is out.</summary>
    private static ValueTask AwaitTransmission(StatusWaiter waiter, CancellationToken cancellationToken)
    {
        waiter.Registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var waiter = (StatusWaiter)state!;
                waiter.Transmitter!.OnCancelled(waiter, token);
            }, waiter)
            : default;
        return new ValueTask(waiter, waiter.Version);
    }

    /// <summary>The header step when the output was busy or its flush did not finish at once.</summary>
    private async ValueTask SendHeaderThenAwaitAsync(StatusWaiter waiter, long length, ValueTask<System.IO.Pipelines.FlushResult> headerFlush, bool headerWritten, CancellationToken cancellationToken)
    {
        try
        {
            if (!headerWritten)
            {
                await _output.AcquireAsync(CancellationToken.None).ConfigureAwait(false);
            }

            try
            {
                if (headerWritten)
                {
                    await _output.AwaitFlushAsync(headerFlush).ConfigureAwait(false);
                }
                else
                {
                    _output.WriteAnswers();
                    _output.WriteHeader(length);
                    await _output.FlushAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                await _output.ReleaseAsync().ConfigureAwait(false);
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
        Exception error = ex as TinyProtoException ?? (Exception)_lifetime.TransmissionFailed(ex);

        // The header did not go out whole, so no payload followed it (rule 5): the peer cannot have the message.
        (error as TinyProtoException)?.NothingWasDelivered();
        Abandon(waiter, error);
        _ = _output.SendAnswersQuietlyAsync().AsTask();
        return error;
    }
}
