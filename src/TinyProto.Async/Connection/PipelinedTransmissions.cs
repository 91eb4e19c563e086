using System.Buffers;
using System.Runtime.CompilerServices;

namespace TinyProto.Async.Connection;

/// <summary>
/// Our own messages in pipelined mode (rule 6): each header goes out with its payload, without waiting for the status,
/// and a batch goes out back to back with one wait for all its statuses.
/// </summary>
/// <remarks>
/// It owns no mutable state: the output's turn puts whole messages on the wire in order, and <see cref="StatusWaits"/>,
/// registered in that same order under the turn, matches the statuses to them.
/// </remarks>
internal sealed class PipelinedTransmissions
{
    private readonly Output _output;
    private readonly StatusWaits _waits;
    private readonly ConnectionLifetime _lifetime;

    public PipelinedTransmissions(Output output, StatusWaits waits, ConnectionLifetime lifetime)
    {
        _output = output;
        _waits = waits;
        _lifetime = lifetime;
    }

    /// <summary>Header and payload together, then wait for the status (rule 6). A broken transport ends the connection.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask TransmitAsync(ReadOnlySequence<byte> body, Stream? source, long length, CancellationToken cancellationToken)
    {
        try
        {
            StatusWaiter waiter;
            await _output.AcquireAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // Statuses come back in the order of the headers, so register in output order.
                waiter = _waits.Begin(1, length);

                using (CancellationTokenRegistration cut = _output.CloseOnCancel(cancellationToken))
                {
                    _output.WriteAnswers();
                    await _output.WritePayloadAsync(body, source, length, withHeader: true, cancellationToken).ConfigureAwait(false);
                    _output.WriteAnswers();
                    await _output.FlushAsync().ConfigureAwait(false);
                    Output.ThrowIfCancelCut(cut);
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                throw ConnectionLifetime.CancelledWhileSending(cancellationToken);
            }
            finally
            {
                await _output.ReleaseAsync().ConfigureAwait(false);
            }

            await _waits.AwaitAcceptanceAsync(waiter, length, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ConnectionLifetime.IsTransportFailure(ex, cancellationToken))
        {
            // A reset, a disposed stream, ...
            throw _lifetime.TransmissionFailed(ex);
        }
    }

    /// <summary>All headers and payloads of a batch back to back, then one wait for all their statuses (rule 6).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask TransmitBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, ReadOnlySequence<byte>[]? transformed, CancellationToken cancellationToken)
    {
        StatusWaiter waiter;
        await _output.AcquireAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long firstLength = transformed is null ? messages[0].Length : transformed[0].Length;
            waiter = _waits.Begin(messages.Count, firstLength);
            using (CancellationTokenRegistration cut = _output.CloseOnCancel(cancellationToken))
            {
                await _output.WriteBatchAsync(messages, transformed).ConfigureAwait(false);
                Output.ThrowIfCancelCut(cut);
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            throw ConnectionLifetime.CancelledWhileSending(cancellationToken);
        }
        finally
        {
            await _output.ReleaseAsync().ConfigureAwait(false);
        }

        await _waits.AwaitAcceptanceAsync(waiter, waiter.Length, cancellationToken).ConfigureAwait(false);
    }
}
