namespace TinyProto.Async.LoadTest;

/// <summary>
/// A write-only sink that compares everything written to it with the expected load-test message
/// (<see cref="PayloadPattern"/>) and keeps only the first difference, so a message of any size is verified
/// byte for byte in bounded memory. Reused per message through <see cref="Reset"/>.
/// </summary>
internal sealed class PatternCheckStream(int connection) : Stream
{
    private long _number;
    private long _written;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _written;

    public override long Position
    {
        get => _written;
        set => throw new NotSupportedException();
    }

    /// <summary>The message offset of the first byte that differed, or -1.</summary>
    public long MismatchOffset { get; private set; } = -1;

    public byte MismatchActual { get; private set; }

    public void Reset(long number)
    {
        _number = number;
        _written = 0;
        MismatchOffset = -1;
    }

    public string DescribeMismatch() =>
        $"byte {MismatchOffset} is 0x{MismatchActual:X2} instead of 0x{PayloadPattern.ExpectedByte(connection, _number, MismatchOffset):X2}";

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (MismatchOffset < 0)
        {
            int mismatch = PayloadPattern.FindMismatch(buffer, connection, _number, _written);
            if (mismatch >= 0)
            {
                MismatchOffset = _written + mismatch;
                MismatchActual = buffer[mismatch];
            }
        }

        _written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        Write(buffer.Span);
        return default;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
