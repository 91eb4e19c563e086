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
    private readonly Socket _socket;
    private readonly NetworkStream _owner;
    private readonly ReceiveBuffer _unread = new();
    private readonly Action _onReceiveCompleted;
    private readonly object _sync = new();

    private ManualResetValueTaskSourceCore<ReadResult> _read;
    private CancellationTokenRegistration _readCancellation;
    private CancellationToken _readToken;
    private Memory<byte> _receiveMemory;
    private ValueTask<int> _pendingReceive;
    private bool _pendingIsZeroByte;
    private bool _receiveInFlight;   // the receive writes only after the unread bytes
    private bool _readerWaiting;
    private bool _readerCompleted;

    /// <param name="stream">The stream over the socket to receive from; the reader disposes it when completed.</param>
    public SocketPipeReader(NetworkStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _owner = stream;
        _socket = stream.Socket;
        _onReceiveCompleted = OnReceiveCompleted;
    }

    /// <summary>Bytes received but not yet consumed (for tests and assertions).</summary>
    internal int UnreadCount => Locked(static unread => unread.UnreadCount);

    /// <summary>Whether the reader holds a pooled buffer right now.</summary>
    internal bool HoldsBuffer => Locked(static unread => unread.HoldsBuffer);

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

            if (_unread.TryTakeResult(out ReadResult ready))
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
                _pendingIsZeroByte = _unread.UnreadCount == 0;
                if (_pendingIsZeroByte)
                {
                    _unread.RewindIfEmpty();
                }
                else
                {
                    _receiveMemory = _unread.PrepareReceive();
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
            return _unread.TryTakeResult(out result);
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            _unread.AdvanceTo(consumed, examined, _receiveInFlight);
        }
    }

    public override void CancelPendingRead()
    {
        ReadResult result;
        lock (_sync)
        {
            if (!_readerWaiting)
            {
                _unread.CancelNextRead();
                return;
            }

            _readerWaiting = false;
            _readCancellation.Unregister();
            result = _unread.TakeResult(canceled: true);
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
                _unread.Return(completed: true);
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
            if (_unread.UnreadCount != 0 || _receiveInFlight || _readerWaiting)
            {
                throw new InvalidOperationException("A direct receive needs a reader with nothing unread and no read pending.");
            }

            if (_unread.EndOfStream)
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
                        if (_unread.UnreadCount == 0)
                        {
                            _unread.Return(completed: _readerCompleted);
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
                lock (_sync)
                {
                    memory = _unread.PrepareReceive();
                }
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

    private void Received(int count)
    {
        ReadResult result;
        lock (_sync)
        {
            _unread.Received(count);
            if (!EndReceive())
            {
                return;
            }

            result = _unread.TakeResult(canceled: false);
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
            _unread.Failed(exception);
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
            _unread.Return(completed: true);
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

    private T Locked<T>(Func<ReceiveBuffer, T> read)
    {
        lock (_sync)
        {
            return read(_unread);
        }
    }

    private void ThrowIfCompleted()
    {
        if (_readerCompleted)
        {
            throw new InvalidOperationException("The reader was completed.");
        }
    }
}
