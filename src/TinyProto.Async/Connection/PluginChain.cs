using System.Buffers;

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
