using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    private const int FlushThreshold = 256 * 1024;
    private const int StreamChunkSize = 64 * 1024;

    // _outputLock: who may write to the transport's writer; units (a header, a payload, statuses) never interleave.
    // _transmitLock: lock-step mode keeps at most one of our own messages in flight (rule 5).
    private readonly SemaphoreSlim _outputLock = new(1, 1);
    private readonly SemaphoreSlim _transmitLock = new(1, 1);

    // Guarded by _gate: our messages awaiting statuses, oldest first (the conversation counts them for the protocol).
    private readonly Queue<StatusWaiter> _awaitingStatus = new();

    /// <summary>
    /// Transmits one message and completes once the peer has accepted it: in lock-step mode when the payload
    /// is in the output after the peer's OK, in pipelined mode when the peer's OK for it has arrived.
    /// </summary>
    /// <param name="message">The message; it must stay unchanged until the returned task completes.</param>
    /// <param name="cancellationToken">
    /// Cancels the transmission while it waits its turn, without effect on the connection. Once its size header
    /// is on the wire the protocol cannot take it back, so cancelling then closes the connection.
    /// </param>
    /// <exception cref="TinyProtoException">
    /// <see cref="TinyProtoError.MessageTooLarge"/> above 0xF0FFFFFF bytes (nothing is sent);
    /// <see cref="TinyProtoError.MessageRefused"/> when the peer refused it;
    /// <see cref="TinyProtoError.Timeout"/> when no status came within <see cref="TinyProtoConnectionOptions.Timeout"/>;
    /// <see cref="TinyProtoError.ConnectionClosed"/> when the connection ended first.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask TransmitAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default) =>
        TransmitAsync(new ReadOnlySequence<byte>(message), cancellationToken);

    /// <summary>Transmits one message held in a (possibly multi-segment) sequence; as <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    /// <param name="message">The message; it must stay unchanged until the returned task completes.</param>
    /// <param name="cancellationToken">Cancels the transmission; see the <see cref="ReadOnlyMemory{T}"/> overload.</param>
    /// <exception cref="TinyProtoException">As for the <see cref="ReadOnlyMemory{T}"/> overload.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask TransmitAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken = default)
    {
        try
        {
            ThrowIfNotStarted();
            for (int i = 0; i < _plugins.Count; i++)
            {
                message = _plugins[i].Transmit(message);
            }
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }

        if (message.Length > FrameCodec.MaxMessageSize)
        {
            return ValueTask.FromException(new TinyProtoException(TinyProtoError.MessageTooLarge, $"A message of {message.Length} bytes is above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); nothing was sent."));
        }

        if (!IsPipelined && !cancellationToken.IsCancellationRequested && _transmitLock.Wait(0, CancellationToken.None))
        {
            return TransmitBufferedLockStep(message, message.Length, cancellationToken);
        }

        return TransmitCoreAsync(message, null, message.Length, cancellationToken);
    }

    /// <summary>
    /// Transmits one message of <paramref name="length"/> bytes read from <paramref name="payload"/> while it is
    /// sent, so a message of any size up to 0xF0FFFFFF bytes needs only a small buffer. Transmit plugins do not apply.
    /// </summary>
    /// <param name="payload">Where the bytes come from; exactly <paramref name="length"/> bytes are read from its current position.</param>
    /// <param name="length">The message size, 0 to 0xF0FFFFFF.</param>
    /// <param name="cancellationToken">Cancels the transmission; see the <see cref="ReadOnlyMemory{T}"/> overload.</param>
    /// <exception cref="ArgumentNullException"><paramref name="payload"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="payload"/> cannot be read.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="TinyProtoException">
    /// As for the <see cref="ReadOnlyMemory{T}"/> overload; also <see cref="TinyProtoError.ConnectionClosed"/> when
    /// <paramref name="payload"/> ends before <paramref name="length"/> bytes (the connection is closed, since the peer expects the rest).
    /// </exception>
    public async ValueTask TransmitAsync(Stream payload, long length, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (!payload.CanRead)
        {
            throw new ArgumentException("The payload stream cannot be read.", nameof(payload));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > FrameCodec.MaxMessageSize)
        {
            throw new TinyProtoException(TinyProtoError.MessageTooLarge, $"A message of {length} bytes is above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); nothing was sent.");
        }

        ThrowIfNotStarted();
        await TransmitCoreAsync(default, payload, length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One transmission, when it cannot start on the allocation-free lock-step path (<see cref="TransmitBufferedLockStep"/>)
    /// at once: pipelined mode, another transmission holding the turn (a buffered one then continues on that path), or a
    /// payload read from a stream. That last one is written here, in lock-step: header, wait for the status, payload
    /// (rule 5: one own message in flight at a time); the payload comes from the caller's stream, so it is never read
    /// on the receive loop.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask TransmitCoreAsync(ReadOnlySequence<byte> body, Stream? source, long length, CancellationToken cancellationToken)
    {
        try
        {
            if (IsPipelined)
            {
                await TransmitPipelinedAsync(body, source, length, cancellationToken).ConfigureAwait(false);
                return;
            }

            await _transmitLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (source is null)
            {
                // Our turn came: the buffered path takes over, and gives the turn back itself.
                await TransmitBufferedLockStep(body, length, cancellationToken).ConfigureAwait(false);
                return;
            }

            try
            {
                StatusWaiter waiter = AwaitNextStatus(count: 1, length);
                bool exchangeEnded = false;
                try
                {
                    await AcquireOutputAsync(CancellationToken.None).ConfigureAwait(false);
                    try
                    {
                        WritePendingStatuses();
                        FrameCodec.WriteHeader(_output, (uint)length);
                        await FlushOutputAsync().ConfigureAwait(false);
                    }
                    finally
                    {
                        await ReleaseOutputAsync().ConfigureAwait(false);
                    }

                    await AwaitAcceptanceAsync(waiter, length, cancellationToken).ConfigureAwait(false);

                    await WritePayloadThenEndExchangeAsync(body, source, length).ConfigureAwait(false);
                    exchangeEnded = true;
                }
                finally
                {
                    if (!exchangeEnded)
                    {
                        EndOwnExchange();
                        await SendPendingStatusesQuietlyAsync().ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                _transmitLock.Release();
            }
        }
        catch (Exception ex) when (ex is not TinyProtoException and not OperationCanceledException)
        {
            // A broken transport (reset, disposed stream, ...) ends the connection.
            var error = new TinyProtoException(TinyProtoError.ConnectionClosed, $"The transmission failed and the connection was closed: {ex.Message}", ex);
            Fail(error);
            throw error;
        }
        finally
        {
            // Our payload was written inline on the receive loop (see TakeStatus): leave it before the caller's code runs.
            if (ReferenceEquals(t_deliveringStatus, this))
            {
                await Task.Yield();
            }
        }
    }

    /// <summary>Header and payload together, then wait for the status (rule 6).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask TransmitPipelinedAsync(ReadOnlySequence<byte> body, Stream? source, long length, CancellationToken cancellationToken)
    {
        StatusWaiter waiter;
        await AcquireOutputAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Statuses come back in the order of the headers, so register in output order.
            waiter = AwaitNextStatus(count: 1, length);

            WritePendingStatuses();
            await WritePayloadAsync(body, source, length, withHeader: true).ConfigureAwait(false);
            WritePendingStatuses();
            await FlushOutputAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseOutputAsync().ConfigureAwait(false);
        }

        await AwaitAcceptanceAsync(waiter, length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The last step of a lock-step exchange, once its OK came: the payload, then the end of the exchange, with the
    /// answers held behind the payload (rule 5) in the same flush. Ending the exchange again after a failure is harmless.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WritePayloadThenEndExchangeAsync(ReadOnlySequence<byte> body, Stream? source, long length)
    {
        await AcquireOutputAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await WritePayloadAsync(body, source, length).ConfigureAwait(false);
            EndOwnExchange();
            WritePendingStatuses();
            await FlushOutputAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseOutputAsync().ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WritePayloadAsync(ReadOnlySequence<byte> body, Stream? source, long length, bool withHeader = false)
    {
        if (withHeader)
        {
            FrameCodec.WriteHeader(_output, (uint)length);
        }

        if (source is null)
        {
            if (await TryWritePayloadDirectlyAsync(body).ConfigureAwait(false))
            {
                return;
            }

            long unflushed = 0;
            foreach (ReadOnlyMemory<byte> memory in body)
            {
                for (int offset = 0; offset < memory.Length; offset += FlushThreshold)
                {
                    ReadOnlySpan<byte> part = memory.Span.Slice(offset, Math.Min(FlushThreshold, memory.Length - offset));
                    _output.Write(part);
                    unflushed += part.Length;
                    if (unflushed >= FlushThreshold)
                    {
                        await FlushOutputAsync().ConfigureAwait(false);
                        _deadline.PayloadSent(unflushed);
                        unflushed = 0;
                    }
                }
            }

            return;
        }

        long remaining = length;
        long pending = 0;
        while (remaining > 0)
        {
            Memory<byte> memory = _output.GetMemory(StreamChunkSize);
            if (memory.Length > remaining)
            {
                memory = memory[..(int)remaining];
            }

            int read;
            try
            {
                read = await source.ReadAsync(memory).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Whatever the stream throws, a cancellation included: the header is out, and the peer counts the rest
                // of the announced bytes as this payload. Nothing can follow on this connection.
                var error = new TinyProtoException(TinyProtoError.ConnectionClosed,
                    $"Reading the payload stream failed after {length - remaining} of the announced {length} bytes ({ex.GetType().Name}: {ex.Message}); the connection was closed because the peer expects the rest.", ex);
                FailWithPayloadCutShort(error);
                throw error;
            }

            if (read == 0)
            {
                var error = new TinyProtoException(TinyProtoError.ConnectionClosed,
                    $"The payload stream ended after {length - remaining} of the announced {length} bytes; the connection was closed because the peer expects the rest.");
                FailWithPayloadCutShort(error);
                throw error;
            }

            _output.Advance(read);
            remaining -= read;
            pending += read;
            if (pending >= FlushThreshold)
            {
                await FlushOutputAsync().ConfigureAwait(false);
                _deadline.PayloadSent(pending);
                pending = 0;
            }
        }
    }

    private void ThrowIfNotStarted()
    {
        if (Volatile.Read(ref _state) != 2)
        {
            throw Volatile.Read(ref _state) == 0 && !_closing
                ? new InvalidOperationException("The connection has not been started.")
                : ClosedError("transmit");
        }
    }
}
