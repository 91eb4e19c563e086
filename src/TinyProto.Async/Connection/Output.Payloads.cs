using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Connection;

/// <summary>Payloads and batches on their way out: from memory, from a stream, straight to the socket, and how a cancelled or cut-short one ends.</summary>
internal sealed partial class Output
{
    /// <summary>
    /// Writes one payload (after its header when <paramref name="withHeader"/>), from <paramref name="body"/> or, when
    /// <paramref name="source"/> is set, exactly <paramref name="length"/> bytes read from it; the caller holds the turn.
    /// A source that ends early or throws closes the connection: the peer counts whatever follows as the rest.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WritePayloadAsync(ReadOnlySequence<byte> body, Stream? source, long length, bool withHeader = false, CancellationToken cancellationToken = default)
    {
        if (withHeader)
        {
            WriteHeader(length);
        }

        if (source is null)
        {
            if (await TryWriteDirectlyAsync(body).ConfigureAwait(false))
            {
                return;
            }

            long unflushed = 0;
            foreach (ReadOnlyMemory<byte> memory in body)
            {
                for (int offset = 0; offset < memory.Length; offset += PayloadFlushChunk)
                {
                    ReadOnlySpan<byte> part = memory.Span.Slice(offset, Math.Min(PayloadFlushChunk, memory.Length - offset));
                    _writer.Write(part);
                    unflushed += part.Length;
                    if (unflushed >= PayloadFlushChunk)
                    {
                        await FlushAsync().ConfigureAwait(false);
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
            Memory<byte> memory = _writer.GetMemory(StreamChunkSize);
            if (memory.Length > remaining)
            {
                memory = memory[..(int)remaining];
            }

            int read;
            try
            {
                read = await source.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Whatever the stream throws, a cancellation included: the header is out, and the peer counts the rest
                // of the announced bytes as this payload. Nothing can follow on this connection.
                throw CutShort(new TinyProtoException(TinyProtoError.ConnectionClosed,
                    $"Reading the payload stream failed after {length - remaining} of the announced {length} bytes ({ex.GetType().Name}: {ex.Message}); the connection was closed because the peer expects the rest.", ex));
            }

            if (read == 0)
            {
                throw CutShort(new TinyProtoException(TinyProtoError.ConnectionClosed,
                    $"The payload stream ended after {length - remaining} of the announced {length} bytes; the connection was closed because the peer expects the rest."));
            }

            _writer.Advance(read);
            remaining -= read;
            pending += read;
            if (pending >= PayloadFlushChunk)
            {
                await FlushAsync().ConfigureAwait(false);
                _deadline.PayloadSent(pending);
                pending = 0;
            }
        }
    }

    /// <summary>Writes a batch of pipelined messages back to back, with the answers owed between whole messages (rule 6); the caller holds the turn.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, ReadOnlySequence<byte>[]? transformed)
    {
        WriteAnswers();
        long unflushed = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            ReadOnlySequence<byte> message = transformed is null ? new ReadOnlySequence<byte>(messages[i]) : transformed[i];
            WriteHeader(message.Length);
            foreach (ReadOnlyMemory<byte> memory in message)
            {
                _writer.Write(memory.Span);
            }

            unflushed += FrameCodec.HeaderLength + message.Length;
            if (unflushed >= FlushThreshold)
            {
                WriteAnswers();
                await FlushAsync().ConfigureAwait(false);
                unflushed = 0;
            }
        }

        WriteAnswers();
        await FlushAsync().ConfigureAwait(false);
    }


    /// <summary>
    /// While the returned registration lives, cancelling <paramref name="cancellationToken"/> closes the connection and
    /// cuts the write under way: once a header is out the protocol cannot take the message back, so a cancelled
    /// payload ends the connection rather than being written to the end.
    /// </summary>
    public CancellationTokenRegistration CloseOnCancel(CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => ((Output)state!).AbortCancelledPayload(), this)
            : default;

    /// <summary>
    /// Ends a <see cref="CloseOnCancel"/> registration once the write it guarded got to its end: when the cancellation
    /// cut the connection all the same (it came as the write ended), the transmission throws rather than report a
    /// success, since the cut transport may lose what was written. Either the cancellation cuts or the write ends first.
    /// </summary>
    public static void ThrowIfCancelCut(CancellationTokenRegistration registration)
    {
        if (registration.Token.CanBeCanceled && !registration.Unregister())
        {
            throw new OperationCanceledException(registration.Token);
        }
    }

    /// <summary>A transmission was cancelled while its payload was written: the connection closes and the write is cut.</summary>
    public void AbortCancelledPayload() => _abortWrites(new TinyProtoException(TinyProtoError.ConnectionClosed,
        "A transmission was cancelled while its payload was being sent; the protocol cannot take a message back, so the connection was closed."));

    /// <summary>A payload of ours ended before its announced length: no byte may follow it; the connection closes.</summary>
    private TinyProtoException CutShort(TinyProtoException error)
    {
        lock (_gate)
        {
            _conversation.CutShort();
        }

        _lifetime.Fail(error);
        return error;
    }

    /// <summary>Writes a large payload from the caller's memory straight to the transport's stream, after what the pipe holds.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> TryWriteDirectlyAsync(ReadOnlySequence<byte> body)
    {
        if (_direct is null || body.Length < DirectThreshold)
        {
            return false;
        }

        await FlushAsync().ConfigureAwait(false);

        // No cancellation token: a stream that gave up waiting could still be reading the caller's memory. A close
        // that stalls on this write cuts it by closing the socket. Written in pieces of at most DirectWriteChunk, so
        // that a slow peer that keeps reading shows progress (Deadline.WaitWhileProgressingAsync).
        foreach (ReadOnlyMemory<byte> memory in body)
        {
            for (int offset = 0; offset < memory.Length; offset += DirectWriteChunk)
            {
                int count = Math.Min(DirectWriteChunk, memory.Length - offset);
                ValueTask write = _direct.WriteDirectAsync(memory.Slice(offset, count));
                if (!write.IsCompletedSuccessfully)
                {
                    _watch.Begin();
                    try
                    {
                        await write.ConfigureAwait(false);
                    }
                    finally
                    {
                        _watch.End();
                    }
                }

                _deadline.PayloadSent(count);
            }
        }

        return true;
    }
}
