using System.Buffers;
using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.Chat;

/// <summary>The client's end: takes its name on each connection (a reconnect too), and prints every message that arrives.</summary>
internal sealed class ChatClientConnection(string? name) : TinyProtoConnection
{
    protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken)
    {
        if (name is not null)
        {
            await TransmitAsync(Encoding.UTF8.GetBytes("/nick " + name), cancellationToken);
        }
    }

    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        Console.WriteLine(Encoding.UTF8.GetString(message));
        return default;
    }
}
