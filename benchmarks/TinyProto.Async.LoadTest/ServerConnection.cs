using System.Buffers;
using System.Buffers.Binary;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// One connection of the <c>server</c> command: echoes every message, or in sink mode checks it (content and
/// order, per <see cref="PayloadPattern"/>) and drops it. A first message that is the single byte 'S' switches the
/// connection to sink mode, as the C reference peer rawpeer does, so rawpeer's <c>stream</c> client (and our
/// <c>--mode oneway</c>, which sends it for rawpeer's sake) work against an echo server too.
/// </summary>
internal sealed class ServerConnection(ServerStatistics statistics, bool sink) : TinyProtoConnection
{
    private const int MaxReportedErrors = 10;
    private const int StreamChunkSize = 1 << 20;

    private bool _sink = sink;
    private bool _first = true;

    // False once the payloads turn out to be all zeros, as rawpeer sends: those can only be counted.
    private bool _verified = true;
    private int _connectionIndex = -1;
    private long _expectedNumber = 1;
    private long _messages;
    private long _bytes;
    private long _errors;
    private byte[]? _chunk;
    private PatternReadStream? _regenerated;

    // Not async: returning TransmitAsync's task keeps the buffered message alive until the echo is written, and
    // saves a state machine per message.
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        if (_first)
        {
            _first = false;
            if (message.Length == 1 && message.FirstSpan[0] == (byte)'S')
            {
                _sink = true;
                return default;
            }
        }

        _messages++;
        _bytes += message.Length;
        if (!_sink)
        {
            return TransmitAsync(message, cancellationToken);
        }

        if (_connectionIndex < 0)
        {
            LearnSender(message);
        }

        if (_verified)
        {
            long mismatch = PayloadPattern.FindMismatch(message, _connectionIndex, _expectedNumber);
            if (mismatch >= 0)
            {
                byte[] header = message.Slice(0, Math.Min(message.Length, PayloadPattern.HeaderSize)).ToArray();
                long number = CheckNumber(header, _expectedNumber);
                if (number == _expectedNumber)
                {
                    ReportCorruption(number, mismatch, message.Slice(mismatch, 1).FirstSpan[0]);
                }

                _expectedNumber = number;
            }

            _expectedNumber++;
        }

        return default;
    }

    /// <summary>
    /// Messages above MaxBufferedMessageSize (64 MiB) arrive as a stream and are checked chunk by chunk. Echoing one
    /// is a regeneration: the payload is read and checked in full, then the same pattern is sent back from a
    /// <see cref="PatternReadStream"/>, since the incoming stream must be read before transmitting and holding it
    /// would defeat the bounded memory.
    /// </summary>
    protected override async ValueTask TransmissionStreamReceivedAsync(Stream message, CancellationToken cancellationToken)
    {
        _first = false;
        long length = message.Length;
        _messages++;
        _bytes += length;
        _chunk ??= new byte[StreamChunkSize];
        int read = await message.ReadAtLeastAsync(_chunk, PayloadPattern.HeaderSize, throwOnEndOfStream: false, cancellationToken);
        var head = new ReadOnlySequence<byte>(_chunk, 0, read);
        if (_connectionIndex < 0)
        {
            LearnSender(head);
        }

        if (!_verified)
        {
            if (!_sink)
            {
                throw new LoadTestFailureException($"a {length}-byte message is too large to buffer, and its payload is not a load-test pattern, so it cannot be echoed by regeneration");
            }

            return;
        }

        byte[] header = _chunk.AsSpan(0, PayloadPattern.HeaderSize).ToArray();
        long number = BinaryPrimitives.ReadInt64LittleEndian(header);
        int connectionIndex = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
        if (_sink)
        {
            number = CheckNumber(header, _expectedNumber);
            connectionIndex = _connectionIndex;
            _expectedNumber = number + 1;
        }

        long offset = 0;
        bool corrupted = false;
        while (read > 0)
        {
            int mismatch = PayloadPattern.FindMismatch(_chunk.AsSpan(0, read), connectionIndex, number, offset);
            if (mismatch >= 0 && !corrupted)
            {
                corrupted = true;
                ReportCorruption(number, offset + mismatch, _chunk[mismatch], connectionIndex);
            }

            offset += read;
            read = await message.ReadAsync(_chunk, cancellationToken);
        }

        if (!_sink)
        {
            if (corrupted)
            {
                throw new LoadTestFailureException($"message {number} arrived corrupted; not echoing it");
            }

            _regenerated ??= new PatternReadStream(connectionIndex);
            _regenerated.Reset(number, length);
            await TransmitAsync(_regenerated, length, cancellationToken);
        }
    }

    protected override ValueTask PostLoopAsync(CancellationToken cancellationToken)
    {
        statistics.AddConnection(_messages, _bytes, _errors, _verified);
        if (_sink && _messages > 0)
        {
            Console.Error.WriteLine($"sink {RemoteEndPoint}: {_messages} messages, {_bytes} payload bytes, {_errors} errors{(_verified ? "" : " (unpatterned payloads, not verified)")}");
        }

        return default;
    }

    private void LearnSender(in ReadOnlySequence<byte> firstMessage)
    {
        _connectionIndex = PayloadPattern.ReadConnection(firstMessage);
        if (firstMessage.Length > 0 && IsAllZero(firstMessage))
        {
            // Load-test messages number from 1, so their first byte is never all zero with the rest.
            _verified = false;
            Console.Error.WriteLine($"sink {RemoteEndPoint}: the payloads are all zeros, not load-test patterns (a rawpeer client?): counting them without checking");
        }
    }

    /// <summary>Reports a message whose number is not the expected one; returns the number to continue from.</summary>
    private long CheckNumber(byte[] header, long expected)
    {
        if (header.Length < 8)
        {
            return expected;
        }

        long got = BinaryPrimitives.ReadInt64LittleEndian(header);
        if (got == expected)
        {
            return expected;
        }

        // Follow the sender's numbering from here, so one lost message is one error, not one per later message.
        ReportError($"message {got} arrived where message {expected} was expected (lost, duplicated or reordered)");
        return got;
    }

    private void ReportCorruption(long number, long offset, byte actual, int connectionIndex = -1)
    {
        int index = connectionIndex >= 0 ? connectionIndex : _connectionIndex;
        ReportError($"message {number}: byte {offset} is 0x{actual:X2} instead of 0x{PayloadPattern.ExpectedByte(index, number, offset):X2}");
    }

    private void ReportError(string what)
    {
        _errors++;
        if (_errors <= MaxReportedErrors)
        {
            Console.Error.WriteLine($"server {RemoteEndPoint}: error: {what}");
        }
        else if (_errors == MaxReportedErrors + 1)
        {
            Console.Error.WriteLine($"server {RemoteEndPoint}: more errors; only the count is reported from here");
        }
    }

    private static bool IsAllZero(in ReadOnlySequence<byte> message)
    {
        foreach (ReadOnlyMemory<byte> segment in message)
        {
            if (segment.Span.ContainsAnyExcept((byte)0))
            {
                return false;
            }
        }

        return true;
    }
}
