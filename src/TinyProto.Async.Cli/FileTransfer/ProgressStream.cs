using System.Diagnostics;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// The file being sent, read through: counts the bytes read for the progress display and, with <c>--limit-rate</c>,
/// waits so that they stay at or under the rate. Read-only, forward-only.
/// </summary>
internal sealed class ProgressStream(Stream inner, Action<long> progress, RateLimit? limit) : Stream
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (limit is not null)
        {
            Thread.Sleep(limit.DelayAfter(_read, _clock.Elapsed));
        }

        return Counted(inner.Read(buffer));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (limit is not null)
        {
            // Small reads keep the rate smooth: at most a tenth of a second's worth at a time.
            buffer = buffer[..(int)Math.Clamp(limit.BytesPerSecond / 10, 1, buffer.Length)];
            TimeSpan wait = limit.DelayAfter(_read, _clock.Elapsed);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }
        }

        return Counted(await inner.ReadAsync(buffer, cancellationToken));
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Counted(int read)
    {
        _read += read;
        progress(_read);
        return read;
    }
}
