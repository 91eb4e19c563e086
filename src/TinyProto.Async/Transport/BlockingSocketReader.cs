using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace TinyProto.Async.Transport;

/// <summary>
/// The <see cref="PipeReader"/> of a dedicated-thread connection: a <see cref="ReaderThread"/> receives from the
/// socket with blocking calls (the socket never enters the runtime's asynchronous engine) into one pooled buffer, and
/// completes the pending read on itself, so the receive loop parses where the data arrived.
/// </summary>
/// <remarks>
/// <para>Everything mutable is guarded by <c>_sync</c>. The thread receives only while a read waits for more data
/// (<c>_readerWaiting</c> and nothing unexamined) or a direct receive waits (<c>_direct</c>); it writes only after
/// the unread bytes while it receives, so a result over them stays valid.</para>
/// <para>Completing the reader disposes the socket's stream (shutting the socket down, which ends a blocking receive),
/// as the stream reader it stands in for did.</para>
/// </remarks>
internal sealed class BlockingSocketReader : PipeReader, IValueTaskSource<ReadResult>
{
    private readonly Socket _socket;
    private readonly NetworkStream _owner;
    private readonly ReceiveBuffer _unread = new();
    private readonly DirectReceive _direct = new();
    private readonly object _sync = new();
    private readonly ReaderThread _thread;

    private ManualResetValueTaskSourceCore<ReadResult> _read;
    private CancellationTokenRegistration _readCancellation;
    private CancellationToken _readToken;
    private ReceiveSpin _spin;
    private bool _receiving;      // the thread is in a receive
    private bool _threadWaiting;  // the thread waits for a receive to do
    private bool _readerWaiting;
    private bool _readerCompleted;

    /// <param name="stream">The stream over the (blocking, never asynchronous) socket; the reader disposes it when completed.</param>
    public BlockingSocketReader(NetworkStream stream)
    {
        _owner = stream;
        _socket = stream.Socket;
        _thread = new ReaderThread(ReceiveOnce, "TinyProto reader");
        _thread.Start();
    }

    /// <summary>The thread this reader receives on.</summary>
    internal ReaderThread Thread => _thread;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
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
            short version = _read.Version;
            _readerWaiting = true;
            _readToken = cancellationToken;
            if (cancellationToken.CanBeCanceled)
            {
                _readCancellation = cancellationToken.UnsafeRegister(static (state, token) => ((BlockingSocketReader)state!).CancelRead(token), this);
            }

            WakeThread();
            return new ValueTask<ReadResult>(this, version);
        }
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
            _unread.AdvanceTo(consumed, examined, _receiving);
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

        _read.RunContinuationsAsynchronously = true;
        _read.SetResult(result);
    }

    public override void Complete(Exception? exception = null)
    {
        bool failRead;
        bool failDirect;
        lock (_sync)
        {
            if (_readerCompleted)
            {
                return;
            }

            _readerCompleted = true;
            failRead = _readerWaiting;
            _readerWaiting = false;
            failDirect = _direct.Waiting;
            _direct.Waiting = false;
            _readCancellation.Unregister();
            if (!_receiving)
            {
                _unread.Return(completed: true);
            }

            WakeThread();
        }

        // A receive in progress ends with the socket, and the thread gives the buffer back then.
        _owner.Dispose();
        if (failRead)
        {
            _read.RunContinuationsAsynchronously = true;
            _read.SetException(new InvalidOperationException("The reader was completed while a read was pending."));
        }

        if (failDirect)
        {
            _direct.Fail(new ObjectDisposedException(nameof(Socket)), inline: false);
        }
    }

    /// <summary>
    /// Receives straight into <paramref name="destination"/>, bypassing the buffer. Only valid while the reader holds
    /// nothing unread and no read is pending, so that no byte can be taken out of order. A close ends it by closing the socket.
    /// </summary>
    public ValueTask<int> ReceiveDirectAsync(Memory<byte> destination)
    {
        lock (_sync)
        {
            ThrowIfCompleted();
            if (_unread.UnreadCount != 0 || _readerWaiting || _direct.Waiting)
            {
                throw new InvalidOperationException("A direct receive needs a reader with nothing unread and no read pending.");
            }

            if (_unread.EndOfStream)
            {
                return new ValueTask<int>(0);
            }

            if (_unread.Error is not null)
            {
                return ValueTask.FromException<int>(_unread.Error);
            }

            ValueTask<int> pending = _direct.Arm(destination);
            WakeThread();
            return pending;
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    /// <summary>The reader thread's one step: waits for a receive to do, does it, and completes the read that waited.</summary>
    private bool ReceiveOnce()
    {
        Memory<byte> memory;
        bool direct;
        lock (_sync)
        {
            while (true)
            {
                if (_readerCompleted)
                {
                    _unread.Return(completed: true);
                    return false;
                }

                if (_direct.Waiting)
                {
                    memory = _direct.Destination;
                    direct = true;
                    break;
                }

                if (_readerWaiting)
                {
                    memory = _unread.PrepareReceive();
                    direct = false;
                    break;
                }

                _threadWaiting = true;
                Monitor.Wait(_sync);
                _threadWaiting = false;
            }

            _receiving = true;
        }

        int received = 0;
        Exception? error = null;
        try
        {
            _spin.WaitBriefly(_socket);
            received = _socket.Receive(memory.Span, SocketFlags.None);
        }
        catch (Exception ex)
        {
            error = ex;
        }

        if (direct)
        {
            lock (_sync)
            {
                _receiving = false;
                if (_readerCompleted)
                {
                    _unread.Return(completed: true);
                    return false;
                }

                _direct.Waiting = false;
                if (error is not null)
                {
                    _unread.Failed(error);
                }
                else if (received == 0)
                {
                    _unread.Ended();
                }
            }

            if (error is not null)
            {
                _direct.Fail(error, inline: true);
            }
            else
            {
                _direct.Complete(received);
            }

            return true;
        }

        ReadResult result;
        lock (_sync)
        {
            _receiving = false;
            if (_readerCompleted)
            {
                _unread.Return(completed: true);
                return false;
            }

            if (error is not null)
            {
                _unread.Failed(error);
            }
            else
            {
                _unread.Received(received);
            }

            if (!_readerWaiting)
            {
                // The read was cancelled meanwhile; what came waits for the next one.
                return true;
            }

            _readerWaiting = false;
            _readCancellation.Unregister();
            result = error is null ? _unread.TakeResult(canceled: false) : default;
        }

        // The receive loop continues here, on the thread the data woke.
        _read.RunContinuationsAsynchronously = false;
        if (error is null)
        {
            _read.SetResult(result);
        }
        else
        {
            _read.SetException(SocketPipeReader.ReceiveFailure(error));
        }

        return true;
    }

    /// <summary>Wakes the thread if it waits for a receive to do; the caller holds <c>_sync</c>.</summary>
    private void WakeThread()
    {
        if (_threadWaiting)
        {
            Monitor.Pulse(_sync);
        }
    }

    private void CancelRead(CancellationToken token)
    {
        lock (_sync)
        {
            if (!_readerWaiting || _readToken != token)
            {
                return;
            }

            _readerWaiting = false;
        }

        _read.RunContinuationsAsynchronously = true;
        _read.SetException(new OperationCanceledException(token));
    }

    private void ThrowIfCompleted()
    {
        if (_readerCompleted)
        {
            throw new InvalidOperationException("The reader was completed.");
        }
    }

    /// <summary>A receive straight into a message's memory, awaited by the receive loop; its fields are guarded by the reader's <c>_sync</c>.</summary>
    private sealed class DirectReceive : IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _core;

        public bool Waiting { get; set; }

        public Memory<byte> Destination { get; private set; }

        public ValueTask<int> Arm(Memory<byte> destination)
        {
            _core.Reset();
            Destination = destination;
            Waiting = true;
            return new ValueTask<int>(this, _core.Version);
        }

        public void Complete(int received)
        {
            Destination = default;
            _core.RunContinuationsAsynchronously = false;
            _core.SetResult(received);
        }

        public void Fail(Exception error, bool inline)
        {
            Destination = default;
            _core.RunContinuationsAsynchronously = !inline;
            _core.SetException(error);
        }

        public int GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
