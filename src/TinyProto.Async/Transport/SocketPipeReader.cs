using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace TinyProto.Async.Transport;

/// <summary>
/// A <see cref="PipeReader"/> that receives from a connected socket into one pooled buffer, without allocating
/// per read: a pending read is a reusable <see cref="IValueTaskSource{TResult}"/>, and the socket's own cached
/// receive operation is awaited through one cached callback. <c>PipeReader.Create(NetworkStream)</c> did the same
/// job with a pooled async state machine per read that missed its pool whenever continuations moved threads.
/// </summary>
/// <remarks>
/// <para>When everything received has been consumed the reader first waits with a zero-byte receive and gives
/// its buffer back to the pool while it waits, so an idle connection holds no buffer.</para>
/// <para>It also lets the connection receive a large payload straight into the message's own memory
/// (<see cref="ReceiveDirectAsync"/>), which is safe only while it holds nothing unread.</para>
/// <para>Completing the reader disposes the socket's stream (which shuts the socket down and closes it), as the
/// stream reader it replaces did.</para>
/// </remarks>
internal sealed class SocketPipeReader : PipeReader, IValueTaskSource<ReadResult>
{
    private const int BufferSize = 64 * 1024;
    private const int MinimumReadSize = 4 * 1024;

    private readonly Socket _socket;
    private readonly NetworkStream _owner;
    private readonly BufferSegment _segment = new();
    private readonly Action _onReceiveCompleted;
    private readonly object _sync = new();

    private ManualResetValueTaskSourceCore<ReadResult> _read;
    private CancellationTokenRegistration _readCancellation;
    private CancellationToken _readToken;
    private Memory<byte> _receiveMemory;
    private ValueTask<int> _pendingReceive;
    private bool _pendingIsZeroByte;

    // Unread bytes are _buffer[_start.._end); the receive in flight, if any, writes only after _end.
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _unexamined;     // bytes arrived that no read has returned yet, or the last AdvanceTo examined less than all
    private bool _endOfStream;
    private Exception? _receiveError;
    private bool _receiveInFlight;
    private bool _readerWaiting;
    private bool _cancelNextRead;
    private bool _readerCompleted;
    private bool _resultOut;      // a result was handed out and not yet advanced past

    /// <param name="stream">The stream over the socket to receive from; the reader disposes it when completed.</param>
    public SocketPipeReader(NetworkStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _owner = stream;
        _socket = stream.Socket;
        _onReceiveCompleted = OnReceiveCompleted;
    }

    /// <summary>Bytes received but not yet consumed (for tests and assertions).</summary>
    internal int UnreadCount
    {
        get
        {
            lock (_sync)
            {
                return _end - _start;
            }
        }
    }

    /// <summary>Whether the reader holds a pooled buffer right now.</summary>
    internal bool HoldsBuffer => Volatile.Read(ref _buffer) is not null;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        bool startReceive;
        short version;
        lock (_sync)
        {
            ThrowIfCompleted();
            if (_readerWaiting)
            {
                throw new InvalidOperationException("A read is already pending on this reader.");
            }

            if (TryTakeResult(out ReadResult ready))
            {
                return new ValueTask<ReadResult>(ready);
            }

            cancellationToken.ThrowIfCancellationRequested();
            _read.Reset();
            version = _read.Version;
            _readerWaiting = true;
            startReceive = !_receiveInFlight;
            if (startReceive)
            {
                // Where the receive goes is decided here, under the lock: moving unread bytes later could pull them
                // from under a result that CancelPendingRead hands out meanwhile.
                _receiveInFlight = true;
                _pendingIsZeroByte = _start == _end;
                if (_pendingIsZeroByte)
                {
                    _start = _end = 0;
                }
                else
                {
                    _receiveMemory = PrepareReceiveMemory();
                }
            }

            _readToken = cancellationToken;
            if (cancellationToken.CanBeCanceled)
            {
                _readCancellation = cancellationToken.UnsafeRegister(static (state, token) => ((SocketPipeReader)state!).CancelRead(token), this);
            }
        }

        if (startReceive)
        {
            Receive();
        }

        return new ValueTask<ReadResult>(this, version);
    }

    public override bool TryRead(out ReadResult result)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            return TryTakeResult(out result);
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            if (consumed.GetObject() != _segment || examined.GetObject() != _segment)
            {
                throw new InvalidOperationException("The position does not come from the last buffer this reader returned.");
            }

            int consumedIndex = consumed.GetInteger();
            int examinedIndex = examined.GetInteger();
            if (consumedIndex < _start || consumedIndex > _end || examinedIndex < consumedIndex || examinedIndex > _end)
            {
                throw new ArgumentOutOfRangeException(nameof(consumed), "The positions lie outside the unread bytes the last read returned.");
            }

            _start = consumedIndex;
            _unexamined = examinedIndex < _end;
            _resultOut = false;
            if (_start == _end && !_receiveInFlight)
            {
                _start = _end = 0;
            }
        }
    }

    public override void CancelPendingRead()
    {
        ReadResult result;
        lock (_sync)
        {
            if (!_readerWaiting)
            {
                _cancelNextRead = true;
                return;
            }

            _readerWaiting = false;
            _readCancellation.Unregister();
            _resultOut = true;
            result = new ReadResult(Unread(), isCanceled: true, isCompleted: false);
        }

        // Never run the reader's continuation on the thread that cancels.
        _read.RunContinuationsAsynchronously = true;
        _read.SetResult(result);
    }

    public override void Complete(Exception? exception = null)
    {
        bool failRead;
        lock (_sync)
        {
            if (_readerCompleted)
            {
                return;
            }

            _readerCompleted = true;
            failRead = _readerWaiting;
            _readerWaiting = false;
            _readCancellation.Unregister();
            if (!_receiveInFlight)
            {
                ReturnBuffer();
            }
        }

        // A receive still in flight ends with the socket and gives the buffer back then.
        _owner.Dispose();
        if (failRead)
        {
            _read.RunContinuationsAsynchronously = true;
            _read.SetException(new InvalidOperationException("The reader was completed while a read was pending."));
        }
    }

    /// <summary>
    /// Receives straight into <paramref name="destination"/>, bypassing the buffer. Only valid while the reader holds
    /// nothing unread and no read is pending, so that no byte can be taken out of order.
    /// </summary>
    public ValueTask<int> ReceiveDirectAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            if (_start != _end || _receiveInFlight || _readerWaiting)
            {
                throw new InvalidOperationException("A direct receive needs a reader with nothing unread and no read pending.");
            }

            if (_endOfStream)
            {
                return new ValueTask<int>(0);
            }
        }

        return _socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken);
    }

    /// <summary>
    /// The exception a failed socket receive surfaces as: an <see cref="IOException"/> around the cause (a
    /// <see cref="SocketException"/>, or <see cref="ObjectDisposedException"/> once the socket is closed), as
    /// <see cref="NetworkStream"/> reports it; a cancellation stays as it is.
    /// </summary>
    public static Exception ReceiveFailure(Exception exception) => exception is OperationCanceledException or IOException
        ? exception
        : new IOException($"Unable to read data from the transport connection: {exception.Message}", exception);

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    /// <summary>A read that need not wait: a cancellation asked for earlier, unexamined bytes, the end, or an error.</summary>
    private bool TryTakeResult(out ReadResult result)
    {
        if (_cancelNextRead)
        {
            _cancelNextRead = false;
            _resultOut = true;
            result = new ReadResult(Unread(), isCanceled: true, isCompleted: false);
            return true;
        }

        if (_unexamined || _endOfStream)
        {
            _unexamined = false;
            _resultOut = true;
            result = new ReadResult(Unread(), isCanceled: false, isCompleted: _endOfStream);
            return true;
        }

        if (_receiveError is not null)
        {
            throw ReceiveFailure(_receiveError);
        }

        result = default;
        return false;
    }

    /// <summary>The unread bytes; even when there are none, positions of the one segment, which AdvanceTo takes.</summary>
    private ReadOnlySequence<byte> Unread() => new(_segment, _start, _segment, _end);

    /// <summary>Runs one receive (a zero-byte wait first when nothing is unread) until it is pending or done.</summary>
    private void Receive()
    {
        try
        {
            if (_pendingIsZeroByte)
            {
                ValueTask<int> wait = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                if (!wait.IsCompleted)
                {
                    // Idle: hold no buffer until data comes.
                    lock (_sync)
                    {
                        if (_start == _end)
                        {
                            ReturnBuffer();
                        }
                    }

                    AwaitReceive(wait);
                    return;
                }

                wait.GetAwaiter().GetResult();
                _pendingIsZeroByte = false;
            }

            Memory<byte> memory = _receiveMemory;
            _receiveMemory = default;
            if (memory.IsEmpty)
            {
                memory = PrepareReceiveMemory();
            }

            ValueTask<int> receive = _socket.ReceiveAsync(memory, SocketFlags.None);
            if (!receive.IsCompleted)
            {
                AwaitReceive(receive);
                return;
            }

            Received(receive.GetAwaiter().GetResult());
        }
        catch (Exception ex)
        {
            ReceiveFailed(ex);
        }
    }

    private void AwaitReceive(ValueTask<int> receive)
    {
        _pendingReceive = receive;
        _pendingReceive.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onReceiveCompleted);
    }

    private void OnReceiveCompleted()
    {
        ValueTask<int> receive = _pendingReceive;
        _pendingReceive = default;
        int received;
        try
        {
            received = receive.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            ReceiveFailed(ex);
            return;
        }

        if (_pendingIsZeroByte)
        {
            // Data (or the end) is there now: take it.
            _pendingIsZeroByte = false;
            Receive();
            return;
        }

        Received(received);
    }

    /// <summary>
    /// Free memory after the unread bytes, at least <see cref="MinimumReadSize"/> of it, renting, compacting or growing the
    /// buffer. Only while no result over the unread bytes is out: under the lock in ReadAsync, or after a zero-byte wait
    /// (nothing unread, so nothing moves).
    /// </summary>
    private Memory<byte> PrepareReceiveMemory()
    {
        lock (_sync)
        {
            if (_buffer is null)
            {
                _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                _segment.SetArray(_buffer);
                _start = _end = 0;
            }
            else if (_buffer.Length - _end < MinimumReadSize)
            {
                int unread = _end - _start;
                if (_buffer.Length - unread < MinimumReadSize)
                {
                    // Nothing was consumed and the buffer is full: the reader needs more than it holds.
                    byte[] larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                    _buffer.AsSpan(_start, unread).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = larger;
                    _segment.SetArray(larger);
                }
                else
                {
                    _buffer.AsSpan(_start, unread).CopyTo(_buffer);
                }

                _start = 0;
                _end = unread;
            }

            return _buffer.AsMemory(_end);
        }
    }

    private void Received(int count)
    {
        ReadResult result;
        lock (_sync)
        {
            if (count == 0)
            {
                _endOfStream = true;
            }
            else
            {
                _end += count;
                _unexamined = true;
            }

            if (!EndReceive())
            {
                return;
            }

            _unexamined = false;
            _resultOut = true;
            result = new ReadResult(Unread(), isCanceled: false, isCompleted: _endOfStream);
        }

        // The reader's continuation runs here, on the thread that completed the receive: no extra hop.
        _read.RunContinuationsAsynchronously = false;
        _read.SetResult(result);
    }

    private void ReceiveFailed(Exception exception)
    {
        lock (_sync)
        {
            _pendingIsZeroByte = false;
            _receiveError = exception;
            if (!EndReceive())
            {
                return;
            }
        }

        _read.RunContinuationsAsynchronously = false;
        _read.SetException(ReceiveFailure(exception));
    }

    /// <summary>
    /// Ends the receive in flight (under the lock, its outcome recorded): true if a read waits for it and is now claimed
    /// for completion; false if none does, giving a completed reader's buffer back.
    /// </summary>
    private bool EndReceive()
    {
        _receiveInFlight = false;
        if (_readerCompleted)
        {
            ReturnBuffer();
            return false;
        }

        if (!_readerWaiting)
        {
            return false;
        }

        _readerWaiting = false;
        _readCancellation.Unregister();
        return true;
    }

    private void CancelRead(CancellationToken token)
    {
        lock (_sync)
        {
            // A callback that lost the race with the data may run late: it may only end a read waiting on its token.
            if (!_readerWaiting || _readToken != token)
            {
                return;
            }

            _readerWaiting = false;
        }

        _read.RunContinuationsAsynchronously = true;
        _read.SetException(new OperationCanceledException(token));
    }

    /// <summary>
    /// Gives the buffer back to the pool. Once the reader is completed while a result over the buffer is still out
    /// (a caller completing it in the middle of a read), the buffer is left to the collector instead, still behind
    /// the segment, so that result never reads an array someone else has rented.
    /// </summary>
    private void ReturnBuffer()
    {
        if (_buffer is not null && _readerCompleted && _resultOut)
        {
            _buffer = null;
            return;
        }

        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _segment.SetArray(null);
            _start = _end = 0;
        }
    }

    private void ThrowIfCompleted()
    {
        if (_readerCompleted)
        {
            throw new InvalidOperationException("The reader was completed.");
        }
    }

    /// <summary>The one segment every returned sequence spans; its memory is the current buffer.</summary>
    private sealed class BufferSegment : ReadOnlySequenceSegment<byte>
    {
        public void SetArray(byte[]? array) => Memory = array;
    }
}
