using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using TinyProto.Async.Connection;
using TinyProto.Async.Diagnostics;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
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
    public ValueTask TransmitAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken = default) =>
        TransmitAsync(message, Operation.Transmit, cancellationToken);

    /// <summary>
    /// One message, counted on the connection's meter and timed as <paramref name="operation"/> (<see cref="Operation.None"/>
    /// for one sent inside another operation). Without a listener the mode's own task is returned as it is.
    /// </summary>
    private ValueTask TransmitAsync(ReadOnlySequence<byte> message, Operation operation, CancellationToken cancellationToken)
    {
        ConnectionParts parts;
        long started;
        try
        {
            ThrowIfNotStarted();
            parts = _parts!;
            started = operation == Operation.None ? 0 : parts.Metrics.Start();
            message = _plugins.Transmit(message);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }

        if (message.Length > FrameCodec.MaxMessageSize)
        {
            return ValueTask.FromException(new TinyProtoException(TinyProtoError.MessageTooLarge, $"A message of {message.Length} bytes is above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); nothing was sent."));
        }

        Activity? span = operation == Operation.Transmit ? Tracing.StartTransmit(this, message.Length) : null;
        if (!parts.Metrics.MeasuresSending && span is null)
        {
            return IsPipelined
                ? parts.Pipelined.TransmitAsync(message, null, message.Length, cancellationToken)
                : parts.LockStep.TransmitAsync(message, cancellationToken);
        }

        var measurement = new SendMeasurement(parts.Metrics, operation, message.Length, started, span);
        return IsPipelined
            ? measurement.Wrap(parts.Pipelined.TransmitAsync(message, null, message.Length, cancellationToken))
            : parts.LockStep.TransmitMeasuredAsync(message, measurement, cancellationToken);
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
        ConnectionMetrics metrics = _parts!.Metrics;
        long started = metrics.Start();
        using Activity? span = Tracing.StartTransmit(this, length);
        try
        {
            if (IsPipelined)
            {
                await _parts!.Pipelined.TransmitAsync(default, payload, length, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _parts!.LockStep.TransmitAsync(payload, length, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            metrics.SendFailed(1, ex);
            metrics.Failed(Operation.Transmit, started, ex);
            Tracing.Fail(span, ex);
            throw;
        }

        metrics.Sent(1, length);
        metrics.Completed(Operation.Transmit, started);
    }

    /// <summary>
    /// Transmits a batch of messages, in order, and completes once the peer has accepted every one of them.
    /// In pipelined mode the whole batch goes out in as few writes as its size allows and its statuses are
    /// awaited together: the way to send many small messages at full speed. In lock-step mode the messages are
    /// transmitted one after another, exactly as by <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.
    /// </summary>
    /// <param name="messages">The messages; none may change until the returned task completes.</param>
    /// <param name="cancellationToken">Cancels the batch; once a header is on the wire, cancelling closes the connection.</param>
    /// <exception cref="ArgumentNullException"><paramref name="messages"/> is null.</exception>
    /// <exception cref="TinyProtoException">
    /// As for <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/>. A refusal, and in lock-step mode any
    /// failure, names the message it hit ("message 1 of a batch of 3"); the messages before it were accepted. In
    /// pipelined mode nothing is sent when a message (after transmit plugins) is above 0xF0FFFFFF bytes.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask TransmitManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ThrowIfNotStarted();
        if (messages.Count == 0)
        {
            return;
        }

        ConnectionMetrics metrics = _parts!.Metrics;
        long started = metrics.Start();
        try
        {
            if (IsPipelined)
            {
                await TransmitBatchAsync(messages, metrics, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // One after another, each message counted as it is accepted (or fails); the batch is the operation timed.
                for (int i = 0; i < messages.Count; i++)
                {
                    try
                    {
                        await TransmitAsync(new ReadOnlySequence<byte>(messages[i]), Operation.None, cancellationToken).ConfigureAwait(false);
                    }
                    catch (TinyProtoException ex) when (messages.Count > 1)
                    {
                        // Named as a pipelined batch's failure is; the messages before it were accepted, so the batch as
                        // a whole must not be sent again (nothing delivered only when the first one failed so).
                        var named = new TinyProtoException(ex.Error, $"Message {i} of a batch of {messages.Count} failed, and the {i} message(s) before it were accepted: {ex.Message}", ex);
                        throw i == 0 && ex.NothingDelivered ? named.NothingWasDelivered() : named;
                    }
                }
            }
        }
        catch (Exception ex)
        {
            metrics.Failed(Operation.TransmitMany, started, ex);
            throw;
        }

        metrics.Completed(Operation.TransmitMany, started);
    }

    /// <summary>A pipelined batch: one write, one wait for all its statuses; counted whole, as accepted or as failed.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask TransmitBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, ConnectionMetrics metrics, CancellationToken cancellationToken)
    {
        ReadOnlySequence<byte>[]? transformed = null;
        try
        {
            if (!_plugins.IsEmpty)
            {
                transformed = _plugins.TransmitBatch(messages);
            }

            await _parts!.Pipelined.TransmitBatchAsync(messages, transformed, cancellationToken).ConfigureAwait(false);
            metrics.SentBatch(messages, transformed);
        }
        catch (Exception ex) when (Connection.ConnectionLifetime.IsTransportFailure(ex, cancellationToken))
        {
            TinyProtoException error = _lifetime.TransmissionFailed(ex);
            metrics.SendFailed(messages.Count, error);
            throw error;
        }
        catch (Exception ex)
        {
            metrics.SendFailed(messages.Count, ex);
            throw;
        }
        finally
        {
            if (transformed is not null)
            {
                ArrayPool<ReadOnlySequence<byte>>.Shared.Return(transformed, clearArray: true);
            }
        }
    }

    private void ThrowIfNotStarted()
    {
        if (Volatile.Read(ref _state) != 2)
        {
            throw _lifetime.IsClosingNow()
                ? _lifetime.ClosedError("transmit").NothingWasDelivered()
                : NotRunning();
        }
    }

    /// <summary>
    /// What sending or receiving on a connection whose loops are not running throws: before the start, or between
    /// the handshake and the loops, where the server's <c>ConnectionInitAsync</c> runs and nothing would answer.
    /// </summary>
    private InvalidOperationException NotRunning() => Volatile.Read(ref _state) == 1
        ? new InvalidOperationException("The connection's loops have not started yet: ConnectionInitAsync runs between the handshake and them, and nothing there would answer a transmission or deliver a message. Transmit or receive from the connection's PreLoopAsync, or later.")
        : new InvalidOperationException("The connection has not been started.");
}
