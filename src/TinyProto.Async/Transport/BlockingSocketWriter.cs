using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace TinyProto.Async.Transport;

/// <summary>
/// The <see cref="PipeWriter"/> of a dedicated-thread connection: a flush sends at once without blocking
/// (<see cref="NonBlockingSend"/>), on whatever thread flushes, and completes synchronously when the socket took it all,
/// which for small messages is always. What the socket cannot take at once goes to a helper thread of this writer that
/// sends it with blocking calls, in order, and completes the flush from there.
/// </summary>
/// <remarks>
/// Everything mutable is guarded by <c>_sync</c>. Only the connection's output turn writes and flushes, one flush at a
/// time; the helper thread (<see cref="BlockingSendQueue"/>, started on the first send that would block) touches only the queue.
/// </remarks>
internal sealed class BlockingSocketWriter : PipeWriter, IValueTaskSource<FlushResult>, BlockingSendQueue.IOwner
{
    private const int BufferSize = 64 * 1024;

    private readonly Socket _socket;
    private readonly NetworkStream _owner;
    private readonly object _sync = new();
    private readonly BlockingSendQueue _queue;

    private ManualResetValueTaskSourceCore<FlushResult> _flush;
    private byte[]? _buffer;
    private int _written;
    private long _awaited;        // the item the pending flush waits for; 0: no flush waits
    private Exception? _sendError;
    private bool _completed;
    private bool _memoryOut;      // GetMemory gave out memory that Advance has not yet taken

    /// <param name="stream">The stream over the (blocking, never asynchronous) socket; completing the writer disposes it.</param>
    public BlockingSocketWriter(NetworkStream stream)
    {
        _owner = stream;
        _socket = stream.Socket;
        _queue = new BlockingSendQueue(_socket, _sync, this);
    }

    public override void Advance(int bytes)
    {
        lock (_sync)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(bytes);
            if (_buffer is null || _written + bytes > _buffer.Length)
            {
                throw new InvalidOperationException("Advanced past the memory the writer gave out.");
            }

            _written += bytes;
            _memoryOut = false;
        }
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            _memoryOut = true;
            return Reserve(Math.Max(sizeHint, 1)).AsMemory(_written);
        }
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            if (_sendError is not null)
            {
                throw Failure(_sendError);
            }

            if (_awaited != 0)
            {
                throw new InvalidOperationException("A flush is already pending on this writer.");
            }

            if (_written > 0 && ReaderThread.TryCork(this))
            {
                // Sent once the reader thread has run every continuation of this arrival (SendCorked).
                return new ValueTask<FlushResult>(default(FlushResult));
            }

            if (_written > 0 && SendOrQueueBuffered())
            {
                return new ValueTask<FlushResult>(default(FlushResult));
            }

            if (_queue.Count == 0)
            {
                return new ValueTask<FlushResult>(default(FlushResult));
            }

            return AwaitQueued();
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> (the caller's memory, after everything flushed before), without copying it; completes
    /// once the socket took all of it. Only after a flush, by the holder of the output turn; a close ends it by closing the socket.
    /// </summary>
    public ValueTask<FlushResult> WriteDirectAsync(ReadOnlyMemory<byte> data)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            if (_sendError is not null)
            {
                throw Failure(_sendError);
            }

            if (_awaited != 0 || _memoryOut)
            {
                throw new InvalidOperationException("A direct write needs a writer with no flush pending and no memory out.");
            }

            // What a held-back flush left goes first.
            if (_written > 0)
            {
                SendOrQueueBuffered();
            }

            return SendOrQueue(null, data) ? new ValueTask<FlushResult>(default(FlushResult)) : AwaitQueued();
        }
    }

    /// <summary>
    /// The reader thread sends what a held-back flush left (<see cref="ReaderThread.TryCork"/>), without blocking and
    /// without anyone awaiting it; unless a writer on another thread has memory out, which it then flushes itself.
    /// A failure is kept for the next flush to throw.
    /// </summary>
    public void SendCorked()
    {
        lock (_sync)
        {
            if (_completed || _memoryOut || _written == 0 || _sendError is not null)
            {
                return;
            }

            try
            {
                SendOrQueueBuffered();
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                _sendError = ex;
            }
        }
    }

    public override void CancelPendingFlush()
    {
        lock (_sync)
        {
            if (_awaited == 0)
            {
                return;
            }

            // The helper thread still sends what was queued; the caller only stops waiting for it.
            _awaited = 0;
        }

        _flush.RunContinuationsAsynchronously = true;
        _flush.SetResult(new FlushResult(isCanceled: true, isCompleted: false));
    }

    public override void Complete(Exception? exception = null)
    {
        lock (_sync)
        {
            if (_completed)
            {
                return;
            }

            if (_written > 0 && _queue.Count == 0 && _sendError is null)
            {
                try
                {
                    SendNow(_buffer.AsSpan(0, _written));
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // Broken already: nothing more can go out.
                }
            }

            _completed = true;
            ReturnBuffer();
            _queue.Stop();
        }

        _owner.Dispose();
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        Task? drained = null;
        lock (_sync)
        {
            if (_completed)
            {
                return;
            }

            if (_sendError is null && (_written > 0 || _queue.Count > 0))
            {
                if (_written > 0)
                {
                    _queue.Enqueue(_buffer!, new ReadOnlyMemory<byte>(_buffer, 0, _written));
                    _buffer = null;
                    _written = 0;
                }

                drained = _queue.Drained();
            }
        }

        if (drained is not null)
        {
            // Bounded by the connection's close deadline, which closes the socket under a stalled send.
            await drained.ConfigureAwait(false);
        }

        Complete(exception);
    }

    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token) => _flush.GetStatus(token);

    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _flush.OnCompleted(continuation, state, token, flags);

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token) => _flush.GetResult(token);

    private static IOException Failure(Exception error) =>
        error as IOException ?? new IOException($"Unable to write data to the transport connection: {error.Message}", error);

    /// <summary>Sends without blocking; returns how much the socket took. The caller holds <c>_sync</c> and nothing is queued.</summary>
    private int SendNow(ReadOnlySpan<byte> data)
    {
        int offset = 0;
        while (offset < data.Length)
        {
            int sent = NonBlockingSend.Send(_socket, data[offset..]);
            if (sent == 0)
            {
                break;
            }

            offset += sent;
        }

        return offset;
    }

    /// <summary>
    /// Sends what the socket takes of <paramref name="data"/> now, unless something is queued before it, and queues the
    /// rest (with <paramref name="owned"/>, its pooled array); true if all of it went out. The caller holds <c>_sync</c>.
    /// </summary>
    private bool SendOrQueue(byte[]? owned, ReadOnlyMemory<byte> data)
    {
        int sent = _queue.Count == 0 ? SendNow(data.Span) : 0;
        if (sent == data.Length)
        {
            return true;
        }

        _queue.Enqueue(owned, data[sent..]);
        return false;
    }

    /// <summary>
    /// <see cref="SendOrQueue"/> for the buffered bytes: the buffer is empty afterwards, and if part of it was queued, the
    /// queue owns the array now. The caller holds <c>_sync</c>.
    /// </summary>
    private bool SendOrQueueBuffered()
    {
        bool all = SendOrQueue(_buffer, _buffer.AsMemory(0, _written));
        if (!all)
        {
            _buffer = null;
        }

        _written = 0;
        return all;
    }

    /// <summary>A pending flush for everything queued so far; the caller holds <c>_sync</c>.</summary>
    private ValueTask<FlushResult> AwaitQueued()
    {
        _flush.Reset();
        _awaited = _queue.Queued;
        return new ValueTask<FlushResult>(this, _flush.Version);
    }

    bool BlockingSendQueue.IOwner.ItemSent(long sent, Exception? error)
    {
        if (error is not null)
        {
            _sendError = error;
        }

        bool complete = _awaited != 0 && (error is not null || sent >= _awaited);
        if (complete)
        {
            _awaited = 0;
        }

        return complete;
    }

    void BlockingSendQueue.IOwner.CompleteFlush(Exception? error)
    {
        _flush.RunContinuationsAsynchronously = true;
        if (error is null)
        {
            _flush.SetResult(default);
        }
        else
        {
            _flush.SetException(Failure(error));
        }
    }

    /// <summary>The current buffer with room for <paramref name="size"/> more bytes; the caller holds <c>_sync</c>.</summary>
    private byte[] Reserve(int size)
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(BufferSize, size));
        }
        else if (_buffer.Length - _written < size)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + size));
            _buffer.AsSpan(0, _written).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        return _buffer;
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _written = 0;
        }
    }

    private void ThrowIfCompleted()
    {
        if (_completed)
        {
            throw new InvalidOperationException("The writer was completed.");
        }
    }

}
