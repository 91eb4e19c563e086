using System.Buffers;
using System.Buffers.Binary;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// The content of load-test message number <c>n</c> (1-based) on connection <c>c</c>, <c>L</c> bytes long: the first
/// <c>L</c> bytes of [n as 8 bytes LE][c as 4 bytes LE][pattern], where pattern byte <c>j</c> (offset in the message) is
/// <c>(phase(c) + j) % 251</c>. The header catches lost, duplicated and reordered messages; the pattern catches
/// corrupted bytes. The pattern depends only on the connection so a sender fills a buffer once and rewrites just the
/// header per message, and verifying is a vectorised compare against a precomputed table.
/// </summary>
internal static class PayloadPattern
{
    public const int HeaderSize = 12;

    private const int Period = 251;

    // A multiple of the period, so consecutive chunks of the pattern start at the same table offset.
    private const int ChunkSize = Period * 261;

    // Table[i] = i % 251, long enough to serve one chunk from any phase.
    private static readonly byte[] Table = CreateTable();

    /// <summary>Writes bytes <paramref name="offset"/>.. of message <paramref name="number"/> of connection <paramref name="connection"/> into <paramref name="destination"/>.</summary>
    public static void Fill(Span<byte> destination, int connection, long number, long offset)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        WriteHeaderTo(header, connection, number);
        while (!destination.IsEmpty && offset < HeaderSize)
        {
            destination[0] = header[(int)offset];
            destination = destination[1..];
            offset++;
        }

        int phase = (int)((Phase(connection) + offset) % Period);
        while (!destination.IsEmpty)
        {
            int n = Math.Min(destination.Length, ChunkSize);
            Table.AsSpan(phase, n).CopyTo(destination);
            destination = destination[n..];
        }
    }

    /// <summary>Rewrites only the header of a buffer that <see cref="Fill"/> filled for the same connection.</summary>
    public static void WriteHeader(Span<byte> message, int connection, long number)
    {
        if (message.Length >= HeaderSize)
        {
            WriteHeaderTo(message, connection, number);
            return;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        WriteHeaderTo(header, connection, number);
        header[..message.Length].CopyTo(message);
    }

    /// <summary>
    /// Compares <paramref name="actual"/> with bytes <paramref name="offset"/>.. of the expected message.
    /// Returns the offset within <paramref name="actual"/> of the first differing byte, or -1 if all match.
    /// </summary>
    public static int FindMismatch(ReadOnlySpan<byte> actual, int connection, long number, long offset)
    {
        int checkedBytes = 0;
        if (offset < HeaderSize)
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            WriteHeaderTo(header, connection, number);
            int n = (int)Math.Min(actual.Length, HeaderSize - offset);
            int same = actual[..n].CommonPrefixLength(header.Slice((int)offset, n));
            if (same < n)
            {
                return same;
            }

            checkedBytes = n;
            offset += n;
        }

        int phase = (int)((Phase(connection) + offset) % Period);
        while (checkedBytes < actual.Length)
        {
            int n = Math.Min(actual.Length - checkedBytes, ChunkSize);
            ReadOnlySpan<byte> part = actual.Slice(checkedBytes, n);
            ReadOnlySpan<byte> expected = Table.AsSpan(phase, n);
            if (!part.SequenceEqual(expected))
            {
                return checkedBytes + part.CommonPrefixLength(expected);
            }

            checkedBytes += n;
        }

        return -1;
    }

    /// <summary>As <see cref="FindMismatch(ReadOnlySpan{byte}, int, long, long)"/> over a whole (multi-segment) message; returns -1 or the message offset of the first differing byte.</summary>
    public static long FindMismatch(in ReadOnlySequence<byte> message, int connection, long number)
    {
        long offset = 0;
        foreach (ReadOnlyMemory<byte> segment in message)
        {
            int mismatch = FindMismatch(segment.Span, connection, number, offset);
            if (mismatch >= 0)
            {
                return offset + mismatch;
            }

            offset += segment.Length;
        }

        return -1;
    }

    /// <summary>The connection index a message's header names (missing bytes of a short message read as 0).</summary>
    public static int ReadConnection(in ReadOnlySequence<byte> message)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        header.Clear();
        ReadOnlySequence<byte> available = message.Slice(0, Math.Min(message.Length, HeaderSize));
        available.CopyTo(header);
        return BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
    }

    /// <summary>The expected byte at <paramref name="offset"/>, for error messages.</summary>
    public static byte ExpectedByte(int connection, long number, long offset)
    {
        Span<byte> one = stackalloc byte[1];
        Fill(one, connection, number, offset);
        return one[0];
    }

    private static void WriteHeaderTo(Span<byte> header, int connection, long number)
    {
        BinaryPrimitives.WriteInt64LittleEndian(header, number);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], connection);
    }

    private static int Phase(int connection) => (int)((uint)connection * 13u % Period);

    private static byte[] CreateTable()
    {
        var table = new byte[ChunkSize + Period];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = (byte)(i % Period);
        }

        return table;
    }
}
