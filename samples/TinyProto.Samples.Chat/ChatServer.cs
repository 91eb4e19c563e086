using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.Chat;

/// <summary>Relays each member's lines to the other members and tells them who joins and leaves.</summary>
internal sealed class ChatServer : TinyProtoServer
{
    public ChatServer() => SetConnectionHandler(() => new ChatConnection(this));

    /// <summary>Transmits <paramref name="text"/> to every member but <paramref name="except"/>, all at once.</summary>
    public Task BroadcastAsync(string text, Guid except)
    {
        byte[] message = Encoding.UTF8.GetBytes(text);
        return Task.WhenAll(ActiveConnections.Values.Where(c => c.Id != except).Select(c => DeliverAsync(c, message)));
    }

    // The notices are not awaited: a member that is slow to answer must not hold up another one's start or end.
    protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        string name = ((ChatConnection)connection).Name;
        Console.WriteLine($"+ {name} joined from {connection.RemoteEndPoint}");
        _ = BroadcastAsync($"* {name} joined", except: id);
        return default;
    }

    protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        string name = ((ChatConnection)connection).Name;
        Console.WriteLine($"- {name} left");
        _ = BroadcastAsync($"* {name} left", except: id);
        return default;
    }

    private static async Task DeliverAsync(TinyProtoConnection recipient, byte[] message)
    {
        try
        {
            // No cancellation token on purpose: cancelling a transmission whose header is out closes the
            // recipient's connection, and the sender leaving is no reason to cut off a recipient.
            await recipient.TransmitAsync(message);
        }
        catch (Exception ex) when (ex is TinyProtoException or InvalidOperationException)
        {
            // A recipient that is still in its handshake, already gone, or not answering misses this message;
            // the others still get it. A gone recipient's leave notice follows from its own shutdown.
            if (ex is not TinyProtoException { Error: TinyProtoError.ConnectionClosed } and not InvalidOperationException)
            {
                Console.Error.WriteLine($"! could not deliver to {((ChatConnection)recipient).Name}: {ex.Message}");
            }
        }
    }
}
