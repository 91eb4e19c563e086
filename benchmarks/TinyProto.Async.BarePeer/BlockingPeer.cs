using System.Buffers.Binary;
using System.Net.Sockets;

namespace TinyProto.Async.BarePeer;

/// <summary>The protocol with blocking <see cref="Socket.Send(ReadOnlySpan{byte})"/> and <see cref="Socket.Receive(Span{byte})"/> on one thread, as rawpeer does it in C.</summary>
internal sealed class BlockingPeer(Socket socket)
{
    private readonly byte[] _header = new byte[4];
    private readonly byte[] _status = new byte[1];

    public void Serve()
    {
        Handshake();
        byte[] payload = [];
        while (ReceiveExactly(_header, endAllowed: true))
        {
            int length = Wire.Length(_header);
            if (payload.Length < length)
            {
                payload = new byte[length];
            }

            Send(Wire.Ok);
            ReceiveExactly(payload.AsSpan(0, length), endAllowed: false);
            Transmit(payload.AsSpan(0, length));
        }
    }

    public void Echo(int count, int size)
    {
        Handshake();
        byte[] payload = Wire.Payload(size);
        byte[] echoed = new byte[size];
        for (int i = 0; i < count; i++)
        {
            Transmit(payload);
            ReceiveExactly(_header, endAllowed: false);
            Wire.CheckLength(_header, size);
            Send(Wire.Ok);
            ReceiveExactly(echoed, endAllowed: false);
        }

        Wire.CheckEcho(payload, echoed);
    }

    private void Handshake()
    {
        Send(Wire.Ok);
        ReceiveExactly(_status, endAllowed: false);
        Wire.CheckOk(_status[0], "the opening handshake");
    }

    private void Transmit(ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_header, (uint)payload.Length);
        Send(_header);
        ReceiveExactly(_status, endAllowed: false);
        Wire.CheckOk(_status[0], "a size header");
        Send(payload);
    }

    private void Send(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[socket.Send(bytes)..];
        }
    }

    /// <summary>False when the peer closed before the first byte and <paramref name="endAllowed"/>.</summary>
    private bool ReceiveExactly(Span<byte> buffer, bool endAllowed)
    {
        for (int done = 0; done < buffer.Length;)
        {
            int received = socket.Receive(buffer[done..]);
            if (received == 0)
            {
                return done == 0 && endAllowed ? false : throw new EndOfStreamException("The peer closed the connection mid-exchange.");
            }

            done += received;
        }

        return true;
    }
}
