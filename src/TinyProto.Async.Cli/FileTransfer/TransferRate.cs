namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// A transfer's rate and time left, from how many bytes were done when: the rate over the last few seconds (so it
/// follows changes), the time left from that rate. I/O-free; the caller gives the clock's readings.
/// </summary>
internal sealed class TransferRate
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(3);
    private readonly Queue<(TimeSpan At, long Bytes)> _samples = new();

    public TransferRate(long total, long done, TimeSpan now)
    {
        Total = total;
        Done = done;
        _samples.Enqueue((now, done));
    }

    public long Total { get; }

    public long Done { get; private set; }

    /// <summary>Bytes per second over the window; 0 until time has passed.</summary>
    public double BytesPerSecond { get; private set; }

    /// <summary>The time left at <see cref="BytesPerSecond"/>; null while the rate is not known.</summary>
    public TimeSpan? Remaining => Done >= Total ? TimeSpan.Zero
        : BytesPerSecond > 0 ? TimeSpan.FromSeconds((Total - Done) / BytesPerSecond) : null;

    public void Update(long done, TimeSpan now)
    {
        Done = done;
        _samples.Enqueue((now, done));
        while (_samples.Count > 2 && now - _samples.Peek().At > Window)
        {
            _samples.Dequeue();
        }

        (TimeSpan firstAt, long firstBytes) = _samples.Peek();
        double seconds = (now - firstAt).TotalSeconds;
        BytesPerSecond = seconds > 0 ? (done - firstBytes) / seconds : BytesPerSecond;
    }
}

/// <summary>
/// <c>--limit-rate</c>: how long to wait so that bytes sent since the start stay at or under a rate. I/O-free.
/// </summary>
internal sealed class RateLimit(long bytesPerSecond)
{
    public long BytesPerSecond { get; } = bytesPerSecond > 0 ? bytesPerSecond : throw new ArgumentOutOfRangeException(nameof(bytesPerSecond));

    /// <summary>The wait before going on, after <paramref name="bytes"/> bytes in <paramref name="elapsed"/>: zero when behind the rate.</summary>
    public TimeSpan DelayAfter(long bytes, TimeSpan elapsed)
    {
        var due = TimeSpan.FromSeconds((double)bytes / BytesPerSecond);
        return due > elapsed ? due - elapsed : TimeSpan.Zero;
    }
}
