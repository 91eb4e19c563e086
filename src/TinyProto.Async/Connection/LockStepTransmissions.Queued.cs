using System.Buffers;
using System.Runtime.CompilerServices;

namespace TinyProto.Async.Connection;

/// <summary>The lock-step path that awaits: a transmission queued behind another, or one whose payload comes from a stream.</summary>
internal sealed partial class LockStepTransmissions
{
    /// <summary>
    /// One transmission that cannot start on the allocation-free path at once: another transmission holds the turn (a
    /// buffered one then continues on that path), or the payload is read from a stream. That last one is written here:
    /// header, wait for the status, payload (rule 5); the payload comes from the caller's stream, so it is never read
    /// on the receive loop.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask TransmitCoreAsync(ReadOnlySequence<byte> body, Stream? source, long length, CancellationToken cancellationToken)
    {
        try
        {
            await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (source is null)
            {
                // Our turn came: the buffered path takes over, and gives the turn back itself.
                await TransmitBufferedLockStep(body, length, cancellationToken).ConfigureAwait(false);
                return;
            }

            try
            {
                StatusWaiter waiter = _waits.Begin(1, length);
                bool exchangeEnded = false;
                try
                {
                    await _output.AcquireAsync(CancellationToken.None).ConfigureAwait(false);
                    try
                    {
                        _output.WriteAnswers();
                        _output.WriteHeader(length);
                        await _output.FlushAsync().ConfigureAwait(false);
                    }
                    finally
                    {
                        await _output.ReleaseAsync().ConfigureAwait(false);
                    }

                    await _waits.AwaitAcceptanceAsync(waiter, length, cancellationToken).ConfigureAwait(false);

                    try
                    {
                        using (CancellationTokenRegistration cut = _output.CloseOnCancel(cancellationToken))
                        {
                            await WritePayloadThenEndExchangeAsync(body, source, length, cancellationToken).ConfigureAwait(false);
                            Output.ThrowIfCancelCut(cut);
                        }
                    }
                    catch (Exception) when (cancellationToken.IsCancellationRequested)
                    {
                        throw ConnectionLifetime.CancelledWhileSending(cancellationToken);
                    }

                    exchangeEnded = true;
                }
                finally
                {
                    if (!exchangeEnded)
                    {
                        _waits.GiveUpOwnExchange();
                        await _output.SendAnswersQuietlyAsync().ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                _turn.Release();
            }
        }
        catch (Exception ex) when (ConnectionLifetime.IsTransportFailure(ex, cancellationToken))
        {
            // A broken transport (reset, disposed stream, ...) ends the connection.
            throw _lifetime.TransmissionFailed(ex);
        }
        finally
        {
            // Our payload was written inline on the receive loop (see OnStatusTaken): leave it before the caller's code runs.
            if (ReferenceEquals(t_deliveringStatus, this))
            {
                await Task.Yield();
            }
        }
    }

    /// <summary>
    /// The last step of a lock-step exchange, once its OK came: the payload, then the end of the exchange, with the
    /// answers held behind the payload (rule 5) in the same flush. Ending the exchange again after a failure is harmless.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WritePayloadThenEndExchangeAsync(ReadOnlySequence<byte> body, Stream? source, long length, CancellationToken cancellationToken = default)
    {
        await _output.AcquireAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await _output.WritePayloadAsync(body, source, length, cancellationToken: cancellationToken).ConfigureAwait(false);
            _waits.EndOwnExchange();
            _output.WriteAnswers();
            await _output.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            await _output.ReleaseAsync().ConfigureAwait(false);
        }
    }
}
