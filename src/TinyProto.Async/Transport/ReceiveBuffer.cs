using System.Buffers;
using System.IO.Pipelines;

namespace TinyProto.Async.Transport;

/// <summary>
/// What a socket reader (<see cref="SocketPipeReader"/>, <see cref="BlockingSocketReader"/>) holds between reads: the
/// unread bytes in one pooled buffer behind one segment, and what the next read returns without waiting (a
/// cancellation asked for earlier, bytes not yet examined, the end, or a receive's failure).
/// </summary>
/// <remarks>
/// Not thread-safe: its reader guards every member with its own lock. A receive in flight writes only after the unread
/// bytes (<see cref="PrepareReceive"/>), so a result handed out over them stays valid.
/// </remarks>
internal sealed class ReceiveBuffer
{
    private const int BufferSize = 64 * 1024;
    private const int MinimumReadSize = 4 * 1024;

    private readonly BufferSegment _segment = new();

    // Unread bytes are _buffer[_start.._end).
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _unexamined;     // bytes arrived that no read has returned yet, or the last AdvanceTo examined less than all
    private bool _cancelNextRead;

    /// <summary>Bytes received but not yet consumed.</summary>
    public int UnreadCount => _end - _start;

    /// <summary>Whether a pooled buffer is held now.</summary>
    public bool HoldsBuffer => _buffer is not null;

    /// <summary>Whether the peer ended the stream.</summary>
    public bool EndOfStream { get; private set; }

    /// <summary>Why the last receive failed, if it did; every later read throws it.</summary>
    public Exception? Error { get; private set; }

    /// <summary>Whether a result over the buffer was handed out and not yet advanced past.</summary>
    public bool ResultOut { get; private set; }

    /// <summary>Makes the next read return at once, cancelled (<see cref="PipeReader.CancelPendingRead"/> with no read pending).</summary>
    public void CancelNextRead() => _cancelNextRead = true;

    /// <summary>A read that need not wait: a cancellation asked for earlier, unexamined bytes, the end; throws a failure.</summary>
    public bool TryTakeResult(out ReadResult result)
    {
        if (_cancelNextRead)
        {
            _cancelNextRead = false;
            result = TakeResult(canceled: true);
            return true;
        }

        if (_unexamined || EndOfStream)
        {
            result = TakeResult(canceled: false);
            return true;
        }

        if (Error is not null)
        {
            throw SocketPipeReader.ReceiveFailure(Error);
        }

        result = default;
        return false;
    }

    /// <summary>Hands out the unread bytes (all examined from now on) as a result.</summary>
    public ReadResult TakeResult(bool canceled)
    {
        if (!canceled)
        {
            _unexamined = false;
        }

        ResultOut = true;
        return new ReadResult(new ReadOnlySequence<byte>(_segment, _start, _segment, _end), canceled, isCompleted: !canceled && EndOfStream);
    }

    /// <summary>
    /// Takes <see cref="PipeReader.AdvanceTo(SequencePosition, SequencePosition)"/>'s positions; with nothing left unread
    /// and no receive in flight (<paramref name="receiving"/>), the next receive starts at the buffer's beginning.
    /// </summary>
    public void AdvanceTo(SequencePosition consumed, SequencePosition examined, bool receiving)
    {
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
        ResultOut = false;
        if (_start == _end && !receiving)
        {
            _start = _end = 0;
        }
    }

    /// <summary>
    /// Free memory after the unread bytes, at least 4 KiB of it, renting, compacting or growing the buffer. Only while
    /// no result over the unread bytes is out, or while nothing is unread (then nothing moves).
    /// </summary>
    public Memory<byte> PrepareReceive()
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

    /// <summary>Records a receive of <paramref name="count"/> bytes into <see cref="PrepareReceive"/>'s memory; 0 is the end.</summary>
    public void Received(int count)
    {
        if (count == 0)
        {
            EndOfStream = true;
        }
        else
        {
            _end += count;
            _unexamined = true;
        }
    }

    /// <summary>Records that the peer ended the stream (a direct receive saw it).</summary>
    public void Ended() => EndOfStream = true;

    /// <summary>Records a failed receive.</summary>
    public void Failed(Exception error) => Error = error;

    /// <summary>With nothing unread, the next receive starts at the buffer's beginning.</summary>
    public void RewindIfEmpty()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>
    /// Gives the buffer back to the pool. Once the reader is <paramref name="completed"/> while a result over the buffer
    /// is still out (a caller completing it in the middle of a read), the buffer is left to the collector instead, still
    /// behind the segment, so that result never reads an array someone else has rented.
    /// </summary>
    public void Return(bool completed)
    {
        if (_buffer is null)
        {
            return;
        }

        if (!(completed && ResultOut))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _segment.SetArray(null);
        }

        _buffer = null;
        _start = _end = 0;
    }

    /// <summary>The one segment every returned sequence spans; its memory is the current buffer.</summary>
    private sealed class BufferSegment : ReadOnlySequenceSegment<byte>
    {
        public void SetArray(byte[]? array) => Memory = array;
    }
}
