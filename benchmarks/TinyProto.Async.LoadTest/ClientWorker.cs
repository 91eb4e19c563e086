using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// The echo or one-way workload of one connection. Up to <see cref="ClientSettings.Window"/> messages are in flight;
/// each slot of the window owns its buffer (or pattern stream), so the measured loop allocates nothing itself, takes
/// no lock, and formats no string. Only this worker's task writes its histogram and counter.
/// </summary>
internal sealed class ClientWorker : IDisposable
{
    private readonly TinyProtoConnection _connection;
    private readonly ClientSettings _settings;
    private readonly int _index;
    private readonly int _window;
    private readonly byte[][] _buffers;
    private readonly PatternReadStream[] _streams;
    private readonly PatternCheckStream? _check;
    private readonly byte[]? _reply;
    private readonly ValueTask[] _transmits;
    private readonly long[] _starts;
    private readonly long[] _numbers;
    private readonly ReadOnlyMemory<byte>[] _batch;
    // Echoes above the library's default MaxBufferedMessageSize (64 MiB) only come as streams: ReceiveAsync() takes them.
    private const long ReplyBufferLimit = 64 * 1024 * 1024;

    private long _nextNumber = 1;
    private long _completions;

    public ClientWorker(TinyProtoConnection connection, ClientSettings settings, int index)
    {
        _connection = connection;
        _settings = settings;
        _index = index;
        _window = settings.Window;
        _transmits = new ValueTask[_window];
        _starts = new long[_window];
        _numbers = new long[_window];
        _buffers = new byte[settings.Streamed ? 0 : _window][];
        _streams = new PatternReadStream[settings.Streamed ? _window : 0];
        for (int i = 0; i < _buffers.Length; i++)
        {
            // Filled once: the pattern depends only on the connection, so each message rewrites just its header.
            _buffers[i] = new byte[settings.Size];
            PayloadPattern.Fill(_buffers[i], index, 0, 0);
        }

        for (int i = 0; i < _streams.Length; i++)
        {
            _streams[i] = new PatternReadStream(index);
        }

        _batch = new ReadOnlyMemory<byte>[settings.Batch > 1 ? settings.Batch : 0];
        for (int i = 0; i < _batch.Length; i++)
        {
            byte[] message = new byte[settings.Size];
            PayloadPattern.Fill(message, index, 0, 0);
            _batch[i] = message;
        }

        if (settings.Streamed && settings.Mode == ClientMode.Echo)
        {
            _check = new PatternCheckStream(index);
        }
        else if (settings.Mode == ClientMode.Echo && settings.Size <= ReplyBufferLimit)
        {
            // One byte more than expected, so a longer echo is caught rather than refused.
            _reply = new byte[settings.Size + 1];
        }
    }

    public LatencyHistogram Histogram { get; } = new();

    /// <summary>Messages completed so far, warmup included; read by the progress reporter from another thread.</summary>
    public long Completions => Volatile.Read(ref _completions);

    public long MeasuredMessages { get; private set; }

    public string? Error { get; private set; }

    /// <summary>Warmup, then waits for <paramref name="clock"/> to start the measured run, then runs it.</summary>
    public async Task RunAsync(long count, RunClock clock, CancellationToken cancellationToken)
    {
        bool arrived = false;
        long before = 0;
        try
        {
            if (_settings.Mode == ClientMode.Oneway)
            {
                // A rawpeer server stops echoing after a 1-byte "S"; our servers take it the same way.
                await _connection.TransmitAsync("S"u8.ToArray(), cancellationToken);
            }

            await RunPhaseAsync(_settings.Warmup, long.MaxValue, record: false, cancellationToken);
            before = Completions;
            arrived = true;
            await clock.ArriveAndWaitForStartAsync(cancellationToken);
            await RunPhaseAsync(count, clock.Deadline, record: true, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Error = "cancelled";
        }
        catch (TinyProtoException ex)
        {
            Error = $"{ex.Error}: {ex.Message}";
        }
        catch (LoadTestFailureException ex)
        {
            Error = ex.Message;
        }
        catch (IOException ex)
        {
            Error = ex.Message;
        }
        finally
        {
            // Also after a failure: the messages that did complete were recorded in the histogram.
            MeasuredMessages = arrived ? Completions - before : 0;
            if (!arrived)
            {
                // Failed during warmup: don't hold up the others' start.
                clock.Arrive();
            }

            clock.WorkerDone();
        }
    }

    public void Dispose() => _check?.Dispose();

    private async Task RunPhaseAsync(long count, long deadline, bool record, CancellationToken cancellationToken)
    {
        if (_batch.Length > 0)
        {
            await RunBatchesAsync(count, deadline, record, cancellationToken);
            return;
        }

        long sent = 0;
        int oldest = 0;
        int inFlight = 0;
        bool timeUp = false;
        while (true)
        {
            if (!timeUp && sent < count && inFlight < _window)
            {
                int slot = oldest + inFlight;
                StartTransmit(slot < _window ? slot : slot - _window, cancellationToken);
                inFlight++;
                sent++;
                continue;
            }

            if (inFlight == 0)
            {
                return;
            }

            long end = await CompleteAsync(oldest, record, cancellationToken);
            oldest = oldest + 1 == _window ? 0 : oldest + 1;
            inFlight--;
            timeUp = end >= deadline;
        }
    }

    /// <summary>One-way in batches through <c>TransmitManyAsync</c>; each message's latency is its batch's.</summary>
    private async Task RunBatchesAsync(long count, long deadline, bool record, CancellationToken cancellationToken)
    {
        long sent = 0;
        while (sent < count)
        {
            int n = (int)Math.Min(_batch.Length, count - sent);
            for (int i = 0; i < n; i++)
            {
                PayloadPattern.WriteHeader(MemoryMarshal.AsMemory(_batch[i]).Span, _index, _nextNumber++);
            }

            long start = Stopwatch.GetTimestamp();
            await _connection.TransmitManyAsync(n == _batch.Length ? _batch : _batch[..n], cancellationToken);
            long end = Stopwatch.GetTimestamp();
            if (record)
            {
                Histogram.Record(end - start, n);
            }

            Volatile.Write(ref _completions, _completions + n);
            sent += n;
            if (end >= deadline)
            {
                return;
            }
        }
    }

    private void StartTransmit(int slot, CancellationToken cancellationToken)
    {
        long number = _nextNumber++;
        _numbers[slot] = number;
        if (_settings.Streamed)
        {
            PatternReadStream stream = _streams[slot];
            stream.Reset(number, _settings.Size);
            _starts[slot] = Stopwatch.GetTimestamp();
#pragma warning disable CA2012 // Kept in the window and awaited exactly once, by CompleteAsync.
            _transmits[slot] = _connection.TransmitAsync(stream, _settings.Size, cancellationToken);
#pragma warning restore CA2012
        }
        else
        {
            byte[] buffer = _buffers[slot];
            PayloadPattern.WriteHeader(buffer, _index, number);
            _starts[slot] = Stopwatch.GetTimestamp();
#pragma warning disable CA2012 // Kept in the window and awaited exactly once, by CompleteAsync.
            _transmits[slot] = _connection.TransmitAsync(buffer, cancellationToken);
#pragma warning restore CA2012
        }
    }

    /// <summary>Awaits the oldest message's transmission (and echo); returns the timestamp it completed.</summary>
    // Pooled so that completing asynchronously, as it does once per message, allocates no state machine box.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<long> CompleteAsync(int slot, bool record, CancellationToken cancellationToken)
    {
        ValueTask transmit = _transmits[slot];
        _transmits[slot] = default;
        await transmit;
        long end;
        if (_settings.Mode == ClientMode.Echo)
        {
            if (_check is { } check)
            {
                check.Reset(_numbers[slot]);
                long received = await _connection.ReceiveAsync(check, cancellationToken);
                end = Stopwatch.GetTimestamp();
                if (received != _settings.Size || check.MismatchOffset >= 0)
                {
                    throw new LoadTestFailureException(DescribeBadEcho(_numbers[slot], received, check));
                }
            }
            else if (_reply is { } replyBuffer)
            {
                // The allocation-free receive, into one buffer reused for every echo (as rawpeer does).
                int length = await _connection.ReceiveAsync(replyBuffer.AsMemory(), cancellationToken);
                end = Stopwatch.GetTimestamp();
                if (!replyBuffer.AsSpan(0, length).SequenceEqual(_buffers[slot]))
                {
                    throw new LoadTestFailureException(DescribeBadEcho(_numbers[slot], replyBuffer.AsSpan(0, length).ToArray(), _buffers[slot]));
                }
            }
            else
            {
                byte[] reply = await _connection.ReceiveAsync(cancellationToken);
                end = Stopwatch.GetTimestamp();
                if (!reply.AsSpan().SequenceEqual(_buffers[slot]))
                {
                    throw new LoadTestFailureException(DescribeBadEcho(_numbers[slot], reply, _buffers[slot]));
                }
            }
        }
        else
        {
            end = Stopwatch.GetTimestamp();
        }

        if (record)
        {
            Histogram.Record(end - _starts[slot]);
        }

        Volatile.Write(ref _completions, _completions + 1);
        return end;
    }

    private string DescribeBadEcho(long number, long received, PatternCheckStream check) =>
        received != _settings.Size
            ? $"the echo of message {number} has {received} bytes instead of {_settings.Size}"
            : $"the echo of message {number} differs: {check.DescribeMismatch()}";

    private static string DescribeBadEcho(long number, byte[] reply, byte[] sent)
    {
        if (reply.Length != sent.Length)
        {
            return $"the echo of message {number} has {reply.Length} bytes instead of {sent.Length}";
        }

        if (reply.Length >= 8 && BinaryPrimitives.ReadInt64LittleEndian(reply) is long got && got != number)
        {
            return $"message {got} came back where the echo of message {number} was expected (lost, duplicated or reordered)";
        }

        int same = reply.AsSpan().CommonPrefixLength(sent);
        return $"the echo of message {number} differs: byte {same} is 0x{reply[same]:X2} instead of 0x{sent[same]:X2}";
    }
}
