using System.Buffers;
using TinyProto.Async.Protocol;
using TinyProto.Async.Tests;

namespace TinyProto.Async.Fuzz;

/// <summary>
/// The fuzz target of the I/O-free readers: the frame codec (<see cref="FrameCodec"/>) and the PROXY protocol header
/// (<see cref="ProxyHeaderReader"/>), over the input after its first byte, read whole and cut into pieces whose sizes
/// the first byte seeds (the fuzzer chooses the split points).
/// </summary>
/// <remarks>
/// Differential oracles: what the codec reads (statuses, headers, payload lengths) is the same however the bytes are
/// cut, no header exceeds the protocol maximum and no status is below 0xF1; the PROXY reader, fed the bytes piece by
/// piece as a receiver reads them, reaches the verdict it gives on the whole (the same header length, or invalid), never
/// asks for more than a complete header's length (<see cref="ProxyHeaderReader.MinimumLength"/>), and throws nothing.
/// </remarks>
public static class CodecTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 1)
        {
            return;
        }

        byte[] data = input[1..].ToArray();
        var random = new Random(input[0]);
        int[] pieces = [.. Enumerable.Range(0, 32).Select(_ => random.Next(1, 17))];

        string whole = Units(new ReadOnlySequence<byte>(data));
        string cut = Units(Segmented(data, pieces));
        if (whole != cut)
        {
            throw new OracleException($"the codec read [{whole}] whole but [{cut}] cut into pieces");
        }

        ProxyHeaderFedInPieces(data, pieces);
    }

    /// <summary>What the codec reads from a stream of messages, as text: S(status), H(size), P(payload length), and how it ends.</summary>
    private static string Units(ReadOnlySequence<byte> buffer)
    {
        var units = new List<string>();
        while (true)
        {
            BoundaryUnit unit = FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size);
            switch (unit)
            {
                case BoundaryUnit.Status:
                    if (!FrameCodec.IsStatus(status))
                    {
                        throw new OracleException($"status 0x{status:X2} is not in the status range");
                    }

                    units.Add($"S{status:X2}");
                    break;
                case BoundaryUnit.Header:
                    if (size > FrameCodec.MaxMessageSize)
                    {
                        throw new OracleException($"a header of 0x{size:X8} bytes, above the protocol maximum");
                    }

                    units.Add($"H{size}");
                    long payload = Math.Min(size, buffer.Length);
                    buffer = buffer.Slice(payload);
                    units.Add($"P{payload}");
                    if (payload < size)
                    {
                        return string.Join(' ', units) + " (cut)";
                    }

                    break;
                default:
                    return string.Join(' ', units) + $" (ends with {buffer.Length} unread)";
            }
        }
    }

    private static void ProxyHeaderFedInPieces(byte[] data, int[] pieces)
    {
        const int MaxV2 = ProxyHeaderReader.DefaultMaxV2Length;
        ProxyReadStatus verdict = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(data), MaxV2, out _, out long length, out _);
        long arrived = 0;
        for (int i = 0; arrived < data.Length; i++)
        {
            arrived = Math.Min(data.Length, arrived + pieces[i % pieces.Length]);
            ReadOnlySequence<byte> prefix = Segmented(data.AsSpan(0, (int)arrived).ToArray(), pieces);
            ProxyReadStatus status = ProxyHeaderReader.TryRead(prefix, MaxV2, out _, out long consumed, out _);
            switch (status)
            {
                case ProxyReadStatus.Complete when verdict != ProxyReadStatus.Complete || consumed != length:
                    throw new OracleException($"the PROXY reader found a {consumed}-byte header in the first {arrived} bytes, but said {verdict} ({length}) on all {data.Length}");
                case ProxyReadStatus.Complete:
                    return;
                case ProxyReadStatus.Invalid when verdict != ProxyReadStatus.Invalid:
                    throw new OracleException($"the PROXY reader refused the first {arrived} bytes, but said {verdict} on all {data.Length}");
                case ProxyReadStatus.Invalid:
                    return;
                case ProxyReadStatus.NeedMoreData:
                    long minimum = ProxyHeaderReader.MinimumLength(prefix);
                    if (minimum <= arrived || (verdict == ProxyReadStatus.Complete && minimum > length))
                    {
                        throw new OracleException($"with {arrived} bytes the PROXY reader asked for at least {minimum}, but the header is {(verdict == ProxyReadStatus.Complete ? $"{length} bytes" : verdict.ToString())}");
                    }

                    break;
            }
        }

        if (verdict != ProxyReadStatus.NeedMoreData && data.Length > 0)
        {
            throw new OracleException($"fed in pieces the PROXY reader never reached its verdict on the whole ({verdict})");
        }
    }

    /// <summary><paramref name="bytes"/> as a sequence of segments with the given lengths (repeated as needed).</summary>
    internal static ReadOnlySequence<byte> Segmented(byte[] bytes, int[] pieces)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        int first = Math.Min(bytes.Length, pieces[0]);
        var head = new TestSegment(bytes.AsMemory(0, first), 0);
        TestSegment tail = head;
        int offset = first;
        for (int i = 1; offset < bytes.Length; i++)
        {
            int length = Math.Min(bytes.Length - offset, pieces[i % pieces.Length]);
            tail = tail.Append(bytes.AsMemory(offset, length));
            offset += length;
        }

        return new ReadOnlySequence<byte>(head, 0, tail, tail.Memory.Length);
    }
}
