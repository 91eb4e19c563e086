namespace TinyProto.Async.Benchmarks;

/// <summary>A write-only stream that keeps nothing but a count of the bytes written to it.</summary>
internal sealed class DiscardingStream : Stream
{
    private long _count;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _count;

    public override long Position
    {
        get => _count;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => _count += count;

    public override void Write(ReadOnlySpan<byte> buffer) => _count += buffer.Length;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _count += buffer.Length;
        return default;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        _count += count;
        return Task.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
