using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
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
    /// As for <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/>. A refusal names the first message refused;
    /// the messages before it were accepted. In pipelined mode nothing is sent when a message (after transmit plugins)
    /// is above 0xF0FFFFFF bytes.
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

        if (!IsPipelined)
        {
            for (int i = 0; i < messages.Count; i++)
            {
                await TransmitAsync(messages[i], cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        ReadOnlySequence<byte>[]? transformed = null;
        try
        {
            if (_plugins.Count > 0)
            {
                transformed = TransformBatch(messages);
            }

            await TransmitBatchPipelinedAsync(messages, transformed, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not TinyProtoException and not OperationCanceledException)
        {
            var error = new TinyProtoException(TinyProtoError.ConnectionClosed, $"The transmission failed and the connection was closed: {ex.Message}", ex);
            Fail(error);
            throw error;
        }
        finally
        {
            if (transformed is not null)
            {
                ArrayPool<ReadOnlySequence<byte>>.Shared.Return(transformed, clearArray: true);
            }
        }
    }

    /// <summary>Applies transmit plugins to every message up front, so an oversize result is found before anything is sent.</summary>
    private ReadOnlySequence<byte>[] TransformBatch(IReadOnlyList<ReadOnlyMemory<byte>> messages)
    {
        ReadOnlySequence<byte>[] transformed = ArrayPool<ReadOnlySequence<byte>>.Shared.Rent(messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            var message = new ReadOnlySequence<byte>(messages[i]);
            for (int p = 0; p < _plugins.Count; p++)
            {
                message = _plugins[p].Transmit(message);
            }

            if (message.Length > FrameCodec.MaxMessageSize)
            {
                ArrayPool<ReadOnlySequence<byte>>.Shared.Return(transformed, clearArray: true);
                throw new TinyProtoException(TinyProtoError.MessageTooLarge, $"Message {i} of the batch is {message.Length} bytes after transmit plugins, above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); nothing was sent.");
            }

            transformed[i] = message;
        }

        return transformed;
    }

    /// <summary>All headers and payloads back to back, then one wait for all their statuses (rule 6).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask TransmitBatchPipelinedAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, ReadOnlySequence<byte>[]? transformed, CancellationToken cancellationToken)
    {
        StatusWaiter waiter;
        await AcquireOutputAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long firstLength = transformed is null ? messages[0].Length : transformed[0].Length;
            waiter = AwaitNextStatus(count: messages.Count, length: firstLength);
            WritePendingStatuses();
            long unflushed = 0;
            for (int i = 0; i < messages.Count; i++)
            {
                ReadOnlySequence<byte> message = transformed is null ? new ReadOnlySequence<byte>(messages[i]) : transformed[i];
                FrameCodec.WriteHeader(_output, (uint)message.Length);
                foreach (ReadOnlyMemory<byte> memory in message)
                {
                    _output.Write(memory.Span);
                }

                unflushed += FrameCodec.HeaderLength + message.Length;
                if (unflushed >= FlushThreshold)
                {
                    // Statuses we owe the peer go out between whole messages (rule 6).
                    WritePendingStatuses();
                    await FlushOutputAsync().ConfigureAwait(false);
                    unflushed = 0;
                }
            }

            WritePendingStatuses();
            await FlushOutputAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseOutputAsync().ConfigureAwait(false);
        }

        await AwaitAcceptanceAsync(waiter, waiter.Length, cancellationToken).ConfigureAwait(false);
    }
}
