using System.Buffers;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Connection;

/// <summary>A connection's plugins, fixed once it starts: in the order added on transmit, in reverse on receive.</summary>
internal sealed class PluginChain
{
    private readonly List<ITinyProtoPlugin> _plugins = [];

    /// <summary>Whether there are no plugins (the common case, where nothing needs doing).</summary>
    public bool IsEmpty => _plugins.Count == 0;

    /// <summary>Adds a plugin; only before the connection starts.</summary>
    public void Add(ITinyProtoPlugin plugin) => _plugins.Add(plugin);

    /// <summary>What goes on the wire for <paramref name="message"/>.</summary>
    public ReadOnlySequence<byte> Transmit(ReadOnlySequence<byte> message)
    {
        for (int i = 0; i < _plugins.Count; i++)
        {
            message = _plugins[i].Transmit(message);
        }

        return message;
    }

    /// <summary>
    /// What goes on the wire for each message of a batch, worked out up front so that an oversize result is found before
    /// anything is sent. The array is rented: return it to <see cref="ArrayPool{T}.Shared"/>, cleared.
    /// </summary>
    /// <exception cref="TinyProtoException">A message is above the protocol maximum after the plugins (<see cref="TinyProtoError.MessageTooLarge"/>).</exception>
    public ReadOnlySequence<byte>[] TransmitBatch(IReadOnlyList<ReadOnlyMemory<byte>> messages)
    {
        ReadOnlySequence<byte>[] transformed = ArrayPool<ReadOnlySequence<byte>>.Shared.Rent(messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            ReadOnlySequence<byte> message = Transmit(new ReadOnlySequence<byte>(messages[i]));
            if (message.Length > FrameCodec.MaxMessageSize)
            {
                ArrayPool<ReadOnlySequence<byte>>.Shared.Return(transformed, clearArray: true);
                throw new TinyProtoException(TinyProtoError.MessageTooLarge, $"Message {i} of the batch is {message.Length} bytes after transmit plugins, above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); nothing was sent.");
            }

            transformed[i] = message;
        }

        return transformed;
    }

    /// <summary>What the receiver gets for <paramref name="message"/> as it came off the wire.</summary>
    public ReadOnlySequence<byte> Receive(ReadOnlySequence<byte> message)
    {
        for (int i = _plugins.Count - 1; i >= 0; i--)
        {
            message = _plugins[i].Receive(message);
        }

        return message;
    }
}
