using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Connection;

/// <summary>
/// The connection's side of the transport's writer: whose turn it is to write, and the units it writes (the answers
/// the <see cref="Conversation"/> says are owed, headers, payloads from memory or a stream), and the flushes.
/// </summary>
/// <remarks>
/// The turn (<c>_turn</c>) decides who may touch the <see cref="PipeWriter"/>: only the holder of the turn writes, so
/// units never interleave. Answers owed are written by whoever holds the turn when they may go (after a header of ours,
/// between whole messages, behind our payload), and by <see cref="ReleaseAsync"/> when no one else will. Nothing else
/// here is mutable.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The SemaphoreSlim's wait handle is never created; it holds nothing to dispose.")]
internal sealed class Output
{
    /// <summary>Buffered bytes that make a flush worth it in the middle of a batch of pipelined messages.</summary>
    public const int FlushThreshold = 256 * 1024;

    /// <summary>
    /// The most payload bytes written between flushes: each flush that completes is progress for the
    /// <see cref="WriteWatch"/>, so a peer that reads at least this much per Timeout is never taken for one that stopped.
    /// </summary>
    private const int PayloadFlushChunk = 64 * 1024;

    private const int StreamChunkSize = 64 * 1024;

    /// <summary>Payloads from this size on skip the pipe's buffers when the transport allows it.</summary>
    private const int DirectThreshold = 64 * 1024;

    /// <summary>The largest single write of a direct payload, so that a slow peer that keeps reading shows progress.</summary>
    private const int DirectWriteChunk = 1024 * 1024;

    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly PipeWriter _writer;
    private readonly StreamDuplexPipe? _direct;
    private readonly object _gate;
    private readonly Conversation _conversation;
    private readonly Deadline _deadline;
    private readonly ConnectionLifetime _lifetime;
    private readonly WriteWatch _watch;
    private readonly Action<TinyProtoException> _abortWrites;

    public Output(PipeWriter writer, StreamDuplexPipe? direct, object gate, Conversation conversation, Deadline deadline, ConnectionLifetime lifetime, WriteWatch watch, Action<TinyProtoException> abortWrites)
    {
        _watch = watch;
        _abortWrites = abortWrites;
        _writer = writer;
        _direct = direct;
        _gate = gate;
        _conversation = conversation;
        _deadline = deadline;
        _lifetime = lifetime;
    }

    /// <summary>Whether someone holds the turn (a close that stalls is cut only while a write waits).</summary>
    public bool IsBusy => _turn.CurrentCount == 0;

    /// <summary>Takes the turn if it is free.</summary>
    public bool TryAcquire() => _turn.Wait(0, CancellationToken.None);

    /// <summary>Takes the turn, waiting for it if needed.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask AcquireAsync(CancellationToken cancellationToken)
    {
        if (!_turn.Wait(0, cancellationToken))
        {
            await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the turn, waiting at most <paramref name="timeout"/>; true when it was taken.</summary>
    public Task<bool> TryAcquireAsync(TimeSpan timeout) => _turn.WaitAsync(timeout);

    /// <summary>Gives the turn back and sends nothing: for a caller that failed and sends the answers owed itself.</summary>
    public void Release() => _turn.Release();

    /// <summary>Gives the turn back; answers that became owed meanwhile are sent by whoever holds it next, or by us.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReleaseAsync()
    {
        while (true)
        {
            _turn.Release();
            lock (_gate)
            {
                if (!_conversation.HasAnswersToWrite || _lifetime.IsClosing)
                {
                    return;
                }
            }

            if (!_turn.Wait(0))
            {
                return;
            }

            bool flushed = false;
            try
            {
                WriteAnswers();
                await FlushAsync().ConfigureAwait(false);
                flushed = true;
            }
            finally
            {
                if (!flushed)
                {
                    _turn.Release();
                }
            }
        }
    }

    /// <summary>Writes the answers owed, if they may go now (the <see cref="Conversation"/> decides); the caller holds the turn.</summary>
    public void WriteAnswers()
    {
        lock (_gate)
        {
            _conversation.WriteAnswers(_writer);
        }
    }

    /// <summary>Writes a size header; the caller holds the turn.</summary>
    public void WriteHeader(long length)
    {
        FrameCodec.WriteHeader(_writer, (uint)length);
        _deadline.HeaderSent();
    }

    /// <summary>Starts a flush without awaiting it (the allocation-free lock-step path awaits only when it must).</summary>
    public ValueTask<FlushResult> StartFlush() => _writer.FlushAsync(CancellationToken.None);

    /// <summary>Flushes what was written; the caller holds the turn.</summary>
    public ValueTask FlushAsync()
    {
        ValueTask<FlushResult> flush = _writer.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            CheckFlush(flush.Result);
            return default;
        }

        return AwaitFlushAsync(flush);
    }

    /// <summary>Awaits a flush that did not complete at once, bounded by the <see cref="WriteWatch"/>; the caller holds the turn.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        _watch.Begin();
        try
        {
            CheckFlush(await flush.ConfigureAwait(false));
        }
        finally
        {
            _watch.End();
        }
    }

    /// <summary>Throws when a flush shows the transport is gone (cancelled by a close, or the peer stopped reading).</summary>
    public void CheckFlush(FlushResult result)
    {
        if (result.IsCanceled)
        {
            throw _lifetime.ClosedError("transmit");
        }

        if (result.IsCompleted)
        {
            throw new TinyProtoException(TinyProtoError.ConnectionClosed, "The peer stopped reading; the connection is closed.");
        }
    }

    /// <summary>Sends the answers owed unless someone holds the turn (they send them themselves).</summary>
    public ValueTask SendAnswersIfAnyAsync()
    {
        lock (_gate)
        {
            if (!_conversation.HasAnswersToWrite)
            {
                return default;
            }
        }

        return SendAnswersAsync();
    }

    /// <summary>Sends the answers owed (or flushes) unless someone holds the turn.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAnswersAsync()
    {
        if (!_turn.Wait(0))
        {
            return;
        }

        try
        {
            WriteAnswers();
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>As <see cref="SendAnswersAsync"/>, after a transmission failed: the connection goes down with that error, not this one.</summary>
    public async ValueTask SendAnswersQuietlyAsync()
    {
        if (_lifetime.IsClosingNow())
        {
            // A transport cut or abandoned for good takes nothing more; a flush could wait on it for ever.
            return;
        }

        try
        {
            await SendAnswersAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The transmission already failed; the connection is going down with its own error.
        }
    }

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
