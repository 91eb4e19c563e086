namespace TinyProto.Async.Benchmarks;

/// <summary>
/// Reads every streamed message (one above <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/>) into a
/// discarding stream and reports its length, so a benchmark can wait until the receiver has really taken it all.
/// </summary>
internal sealed class StreamSinkConnection : TinyProtoConnection
{
    private readonly SemaphoreSlim _received = new(0);
    private readonly DiscardingStream _destination = new();
    private long _lastLength;

    /// <summary>Waits for the next streamed message to have been read to its end and returns its length.</summary>
    public async Task<long> WaitForMessageAsync(CancellationToken cancellationToken = default)
    {
        await _received.WaitAsync(cancellationToken);
        return Volatile.Read(ref _lastLength);
    }

    protected override async ValueTask TransmissionStreamReceivedAsync(Stream message, CancellationToken cancellationToken)
    {
        long before = _destination.Length;
        await message.CopyToAsync(_destination, cancellationToken);
        long read = _destination.Length - before;
        if (read != message.Length)
        {
            throw new InvalidOperationException($"Read {read} bytes of a {message.Length}-byte message.");
        }

        Volatile.Write(ref _lastLength, read);
        _received.Release();
    }
}
