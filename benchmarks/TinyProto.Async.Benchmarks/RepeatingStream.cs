namespace TinyProto.Async.Benchmarks;

/// <summary>
/// A read-only stream of <see cref="Length"/> bytes made by repeating one small block, so a 256 MiB message
/// costs a 64 KiB array and the copying, not 256 MiB of memory.
/// </summary>
internal sealed class RepeatingStream : Stream
{
    private const int BlockLength = 64 * 1024;
    private static readonly byte[] s_block = CreateBlock();
    private long _length;
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Starts the stream over with <paramref name="length"/> bytes to read.</summary>
    public void Restart(long length)
    {
        _length = length;
        _position = 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int total = (int)Math.Min(buffer.Length, _length - _position);
        Span<byte> target = buffer[..total];
        while (!target.IsEmpty)
        {
            int at = (int)(_position % BlockLength);
            int n = Math.Min(target.Length, BlockLength - at);
            s_block.AsSpan(at, n).CopyTo(target);
            target = target[n..];
            _position += n;
        }

        return total;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private static byte[] CreateBlock()
    {
        byte[] block = new byte[BlockLength];
        new Random(20240601).NextBytes(block);
        return block;
    }
}
