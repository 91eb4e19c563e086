using System.Buffers;
using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.Chat;

/// <summary>The client's end: prints every message that arrives.</summary>
internal sealed class ChatClientConnection : TinyProtoConnection
{
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        Console.WriteLine(Encoding.UTF8.GetString(message));
        return default;
    }
}
