using System.Buffers.Binary;

namespace TinyProto.Async.BarePeer;

/// <summary>The few protocol facts both peers share: the OK byte, the size header, and checks that say what was wrong.</summary>
internal static class Wire
{
    public static readonly byte[] Ok = [0xFF];

    public static int Length(ReadOnlySpan<byte> header)
    {
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header);
        return length <= 0xF0FFFFFF && length <= Array.MaxLength
            ? (int)length
            : throw new InvalidDataException($"The size header 0x{length:X8} is above what this peer buffers.");
    }

    public static void CheckOk(byte status, string after)
    {
        if (status != Ok[0])
        {
            throw new InvalidDataException($"The peer answered {after} with 0x{status:X2}, not OK (0xFF).");
        }
    }

    public static void CheckLength(ReadOnlySpan<byte> header, int expected)
    {
        if (Length(header) != expected)
        {
            throw new InvalidDataException($"The echo announced {Length(header)} bytes; {expected} were sent.");
        }
    }

    public static byte[] Payload(int size)
    {
        byte[] payload = new byte[size];
        for (int i = 0; i < size; i++)
        {
            payload[i] = (byte)i;
        }

        return payload;
    }

    public static void CheckEcho(byte[] sent, byte[] echoed)
    {
        if (!sent.AsSpan().SequenceEqual(echoed))
        {
            throw new InvalidDataException("The last echo differs from what was sent.");
        }
    }
}
