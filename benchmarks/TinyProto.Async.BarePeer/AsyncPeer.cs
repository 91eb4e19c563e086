using System.Buffers.Binary;
using System.Net.Sockets;

namespace TinyProto.Async.BarePeer;

/// <summary>The protocol with <c>await</c>ed <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/> and <see cref="Socket.ReceiveAsync(Memory{byte}, SocketFlags, CancellationToken)"/> in one loop.</summary>
internal sealed class AsyncPeer(Socket socket)
{
    private readonly byte[] _header = new byte[4];
    private readonly byte[] _status = new byte[1];

    public async Task ServeAsync()
    {
        await HandshakeAsync();
        byte[] payload = [];
        while (await ReceiveExactlyAsync(_header, endAllowed: true))
        {
            int length = Wire.Length(_header);
            if (payload.Length < length)
            {
                payload = new byte[length];
            }

            await SendAsync(Wire.Ok);
            await ReceiveExactlyAsync(payload.AsMemory(0, length), endAllowed: false);
            await TransmitAsync(payload.AsMemory(0, length));
        }
    }

    public async Task EchoAsync(int count, int size)
    {
        await HandshakeAsync();
        byte[] payload = Wire.Payload(size);
        byte[] echoed = new byte[size];
        for (int i = 0; i < count; i++)
        {
            await TransmitAsync(payload);
            await ReceiveExactlyAsync(_header, endAllowed: false);
            Wire.CheckLength(_header, size);
            await SendAsync(Wire.Ok);
            await ReceiveExactlyAsync(echoed, endAllowed: false);
        }

        Wire.CheckEcho(payload, echoed);
    }

    private async Task HandshakeAsync()
    {
        await SendAsync(Wire.Ok);
        await ReceiveExactlyAsync(_status, endAllowed: false);
        Wire.CheckOk(_status[0], "the opening handshake");
    }

    private async Task TransmitAsync(ReadOnlyMemory<byte> payload)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_header, (uint)payload.Length);
        await SendAsync(_header);
        await ReceiveExactlyAsync(_status, endAllowed: false);
        Wire.CheckOk(_status[0], "a size header");
        await SendAsync(payload);
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[await socket.SendAsync(bytes, SocketFlags.None)..];
        }
    }

    /// <summary>False when the peer closed before the first byte and <paramref name="endAllowed"/>.</summary>
    private async ValueTask<bool> ReceiveExactlyAsync(Memory<byte> buffer, bool endAllowed)
    {
        for (int done = 0; done < buffer.Length;)
        {
            int received = await socket.ReceiveAsync(buffer[done..], SocketFlags.None);
            if (received == 0)
            {
                return done == 0 && endAllowed ? false : throw new EndOfStreamException("The peer closed the connection mid-exchange.");
            }

            done += received;
        }

        return true;
    }
}
