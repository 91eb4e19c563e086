using System.Buffers;

namespace TinyProto.Async.Buffers;

/// <summary>
/// A message body built from arrays rented from <see cref="ArrayPool{T}.Shared"/>: one array for
/// messages up to <see cref="ChunkSize"/>, a chain of such arrays above it (so the body never needs
/// one array larger than the chunk). Returned to the pool on <see cref="Dispose"/>.
/// </summary>
internal sealed class PooledBuffer : IDisposable
{
    /// <summary>The size of each rented array for bodies that need more than one.</summary>
    public const int ChunkSize = 1024 * 1024;

    private readonly long _length;
    private Segment? _first;
    private Segment? _last;
    private long _written;

    public PooledBuffer(long length)
    {
        _length = length;
    }

    /// <summary>The declared length of the body.</summary>
    public long Length => _length;

    /// <summary>How many bytes are still missing.</summary>
    public long Remaining => _length - _written;

    /// <summary>The body; valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySequence<byte> Sequence => _first is null
        ? ReadOnlySequence<byte>.Empty
        : new ReadOnlySequence<byte>(_first, 0, _last!, _last!.Count);

    /// <summary>Copies bytes into the body; the caller never passes more than <see cref="Remaining"/>.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_last is null || _last.Count == _last.Array.Length)
            {
                int size = (int)Math.Min(Remaining, ChunkSize);
                var segment = new Segment(ArrayPool<byte>.Shared.Rent(size), _written);
                if (_last is null)
                {
                    _first = segment;
                }
                else
                {
                    _last.SetNext(segment);
                }

                _last = segment;
            }

            int n = Math.Min(data.Length, _last.Array.Length - _last.Count);
            _last.Append(data[..n]);
            _written += n;
            data = data[n..];
        }
    }

    /// <summary>Copies a whole sequence into the body.</summary>
    public void Append(ReadOnlySequence<byte> data)
    {
        foreach (ReadOnlyMemory<byte> memory in data)
        {
            Append(memory.Span);
        }
    }

    public void Dispose()
    {
        Segment? segment = _first;
        _first = _last = null;
        while (segment is not null)
        {
            ArrayPool<byte>.Shared.Return(segment.Array);
            segment = (Segment?)segment.Next;
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] array, long runningIndex)
        {
            Array = array;
            RunningIndex = runningIndex;
        }

        public byte[] Array { get; }

        public int Count { get; private set; }

        public void Append(ReadOnlySpan<byte> data)
        {
            data.CopyTo(Array.AsSpan(Count));
            Count += data.Length;
            Memory = Array.AsMemory(0, Count);
        }

        public void SetNext(Segment next) => Next = next;
    }
}
