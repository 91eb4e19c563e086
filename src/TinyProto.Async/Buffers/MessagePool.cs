using System.Buffers;

namespace TinyProto.Async.Buffers;

/// <summary>
/// A connection's small store of message objects (an <see cref="InboundMessage"/> with its <see cref="PooledBuffer"/>),
/// so receiving a buffered message allocates nothing in steady state. The bytes themselves always go back to the
/// array pool given here (<see cref="TinyProtoConnectionOptions.BufferPool"/>); only the empty objects are kept here.
/// </summary>
internal sealed class MessagePool(ArrayPool<byte> arrays)
{
    private const int Capacity = 16;

    private readonly Stack<InboundMessage> _messages = new();
    private readonly Stack<PooledBuffer> _buffers = new();

    public PooledBuffer RentBuffer(long length)
    {
        lock (_buffers)
        {
            if (_buffers.TryPop(out PooledBuffer? buffer))
            {
                buffer.Reuse(length);
                return buffer;
            }
        }

        return new PooledBuffer(length, arrays) { Pool = this };
    }

    public InboundMessage RentMessage(PooledBuffer body, ReadOnlySequence<byte> sequence)
    {
        lock (_messages)
        {
            if (_messages.TryPop(out InboundMessage? message))
            {
                message.Reuse(body, sequence);
                return message;
            }
        }

        return InboundMessage.Buffered(body, sequence, this);
    }

    public void Return(PooledBuffer buffer)
    {
        lock (_buffers)
        {
            if (_buffers.Count < Capacity)
            {
                _buffers.Push(buffer);
            }
        }
    }

    public void Return(InboundMessage message)
    {
        lock (_messages)
        {
            if (_messages.Count < Capacity)
            {
                _messages.Push(message);
            }
        }
    }
}
