namespace TinyProto.Async.LoadTest;

/// <summary>
/// A read-only, non-seekable stream that generates one load-test message (<see cref="PayloadPattern"/>) as it is
/// read, so a message of any size up to the protocol maximum is sent from a few bytes of state. Reused per message
/// through <see cref="Reset"/>, so the measured loop allocates nothing.
/// </summary>
internal sealed class PatternReadStream(int connection) : Stream
{
    private long _number;
    private long _length;
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public void Reset(long number, long length)
    {
        _number = number;
        _length = length;
        _position = 0;
    }

    public override int Read(Span<byte> buffer)
    {
        int n = (int)Math.Min(buffer.Length, _length - _position);
        PayloadPattern.Fill(buffer[..n], connection, _number, _position);
        _position += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled<int>(cancellationToken)
            : new ValueTask<int>(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
