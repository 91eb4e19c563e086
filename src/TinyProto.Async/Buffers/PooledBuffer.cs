using System.Buffers;

namespace TinyProto.Async.Buffers;

/// <summary>
/// A message body built from arrays rented from an <see cref="ArrayPool{T}"/> (the connection's
/// <see cref="TinyProtoConnectionOptions.BufferPool"/>, returned to that pool on <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// Memory follows the bytes that arrived, never the size a header announced: a body up to <see cref="FirstSegmentSize"/>
/// is one array; above it, each array holds what is being appended and at least four times the one before, up to
/// <see cref="ChunkSize"/>. So a peer that announces a large message and sends nothing makes us hold only a small
/// array, while a message that does arrive takes a few arrays (and never one larger than the chunk).
/// </remarks>
internal sealed class PooledBuffer : IDisposable
{
    /// <summary>The size of each rented array for bodies that need more than one.</summary>
    public const int ChunkSize = 1024 * 1024;

    /// <summary>The most a body holds before its bytes arrive.</summary>
    public const int FirstSegmentSize = 16 * 1024;

    private readonly ArrayPool<byte> _arrays;
    private long _length;
    private Segment? _spare;
    private Segment? _first;
    private Segment? _last;
    private long _written;
    private bool _disposed;

    public PooledBuffer(long length, ArrayPool<byte> arrays)
    {
        _length = length;
        _arrays = arrays;
    }

    /// <summary>Reads all of <paramref name="source"/> (<see cref="Stream.Length"/> bytes) into a new body; dispose it.</summary>
    public static async ValueTask<PooledBuffer> ReadWholeAsync(Stream source, ArrayPool<byte> arrays, CancellationToken cancellationToken)
    {
        // Read straight into the body, which grows with what arrived (see the remarks), not with the announced length.
        var body = new PooledBuffer(source.Length, arrays);
        try
        {
            while (body.Remaining > 0)
            {
                int read = await source.ReadAsync(body.GetAppendMemory(body.Remaining), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException($"The message ended after {body.Length - body.Remaining} of its {body.Length} bytes.");
                }

                body.Advance(read);
            }
        }
        catch
        {
            body.Dispose();
            throw;
        }

        return body;
    }

    /// <summary>The pool this buffer object goes back to on <see cref="Dispose"/>, if any.</summary>
    public MessagePool? Pool { get; init; }

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
                AddSegment(data.Length);
            }

            int n = Math.Min(data.Length, _last!.Array.Length - _last.Count);
            _last.Append(data[..n]);
            _written += n;
            data = data[n..];
        }
    }

    /// <summary>Free space at the end of the body, at most <paramref name="limit"/> bytes, to fill and then <see cref="Advance"/>.</summary>
    public Memory<byte> GetAppendMemory(long limit)
    {
        if (_last is null || _last.Count == _last.Array.Length)
        {
            AddSegment(0);
        }

        return _last!.Array.AsMemory(_last.Count, (int)Math.Min(_last.Array.Length - _last.Count, Math.Min(limit, Remaining)));
    }

    /// <summary>Counts <paramref name="count"/> bytes written into the memory from <see cref="GetAppendMemory"/>.</summary>
    public void Advance(int count)
    {
        _last!.Advance(count);
        _written += count;
    }

    /// <summary>Copies a whole sequence into the body.</summary>
    public void Append(ReadOnlySequence<byte> data)
    {
        foreach (ReadOnlyMemory<byte> memory in data)
        {
            Append(memory.Span);
        }
    }

    /// <summary>Makes a pooled buffer object ready for a new body of <paramref name="length"/> bytes.</summary>
    public void Reuse(long length)
    {
        _length = length;
        _written = 0;
        _disposed = false;
    }

    /// <summary>Adds an array for the next <paramref name="arriving"/> bytes (0 when unknown), sized as the remarks say.</summary>
    private void AddSegment(int arriving)
    {
        long wanted = Math.Max(arriving, _last is null ? FirstSegmentSize : 4L * _last.Array.Length);
        int size = (int)Math.Min(Remaining, Math.Min(wanted, ChunkSize));
        Segment segment = _spare ?? new Segment();
        _spare = null;
        segment.Init(_arrays.Rent(size), _written);
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

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Segment? segment = _first;
        _spare ??= segment;
        _first = _last = null;
        while (segment is not null)
        {
            Segment? next = (Segment?)segment.Next;
            _arrays.Return(segment.Array);
            segment.Clear();
            segment = next;
        }

        Pool?.Return(this);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public byte[] Array { get; private set; } = [];

        public void Init(byte[] array, long runningIndex)
        {
            Array = array;
            RunningIndex = runningIndex;
            Count = 0;
        }

        /// <summary>Drops the array and the link, so a kept segment object holds nothing.</summary>
        public void Clear()
        {
            Array = [];
            Count = 0;
            Memory = default;
            Next = null;
        }

        public int Count { get; private set; }

        public void Append(ReadOnlySpan<byte> data)
        {
            data.CopyTo(Array.AsSpan(Count));
            Count += data.Length;
            Memory = Array.AsMemory(0, Count);
        }

        public void Advance(int count)
        {
            Count += count;
            Memory = Array.AsMemory(0, Count);
        }

        public void SetNext(Segment next) => Next = next;
    }
}
