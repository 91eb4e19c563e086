using System.Buffers;
using System.Buffers.Binary;

namespace TinyProto.Async.Protocol;

/// <summary>
/// The pure wire codec: synchronous reads and writes of protocol units over byte buffers.
/// It knows nothing of pipes, sockets or connection state.
/// </summary>
internal static class FrameCodec
{
    /// <summary>The protocol maximum message size, <c>0xF0FFFFFF</c> bytes.</summary>
    public const uint MaxMessageSize = 0xF0FFFFFF;

    /// <summary>The length of a size header.</summary>
    public const int HeaderLength = 4;

    /// <summary>Whether <paramref name="value"/> read at a message boundary is a status rather than a header's first byte.</summary>
    public static bool IsStatus(byte value) => value >= Signal.LowestStatus;

    /// <summary>
    /// Reads the unit at a message boundary: a status byte or a size header. On success
    /// <paramref name="buffer"/> is sliced past the unit; on <see cref="BoundaryUnit.Incomplete"/>
    /// it is left as it was.
    /// </summary>
    /// <param name="buffer">The unread bytes, starting at a message boundary.</param>
    /// <param name="status">The status byte, for <see cref="BoundaryUnit.Status"/>.</param>
    /// <param name="size">
    /// The announced message size, for <see cref="BoundaryUnit.Header"/>; never above <see cref="MaxMessageSize"/>, since a
    /// larger size starts with a byte in the status range (the connection decides what such a byte means).
    /// </param>
    public static BoundaryUnit TryReadBoundary(ref ReadOnlySequence<byte> buffer, out byte status, out uint size)
    {
        status = 0;
        size = 0;
        if (buffer.IsEmpty)
        {
            return BoundaryUnit.Incomplete;
        }

        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (IsStatus(first[0]))
        {
            status = first[0];
            buffer = buffer.Slice(1);
            return BoundaryUnit.Status;
        }

        if (first.Length >= HeaderLength)
        {
            size = BinaryPrimitives.ReadUInt32BigEndian(first);
        }
        else if (buffer.Length >= HeaderLength)
        {
            Span<byte> header = stackalloc byte[HeaderLength];
            buffer.Slice(0, HeaderLength).CopyTo(header);
            size = BinaryPrimitives.ReadUInt32BigEndian(header);
        }
        else
        {
            return BoundaryUnit.Incomplete;
        }

        buffer = buffer.Slice(HeaderLength);
        return BoundaryUnit.Header;
    }

    /// <summary>Reads one byte (a handshake byte), slicing <paramref name="buffer"/> past it.</summary>
    public static bool TryReadByte(ref ReadOnlySequence<byte> buffer, out byte value)
    {
        if (buffer.IsEmpty)
        {
            value = 0;
            return false;
        }

        value = buffer.FirstSpan[0];
        buffer = buffer.Slice(1);
        return true;
    }

    /// <summary>Writes a size header for a message of <paramref name="size"/> bytes.</summary>
    public static void WriteHeader(IBufferWriter<byte> output, uint size)
    {
        BinaryPrimitives.WriteUInt32BigEndian(output.GetSpan(HeaderLength), size);
        output.Advance(HeaderLength);
    }

    /// <summary>Writes one status or handshake byte.</summary>
    public static void WriteByte(IBufferWriter<byte> output, byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }
}
