using System.Buffers;
using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary>The server side of the echo: every message received is transmitted straight back.</summary>
internal sealed class EchoConnection : TinyProtoConnection
{
    // The message is valid until this hook returns, and TransmitAsync returns once it has been written,
    // so echoing it needs no copy.
    protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
        await TransmitAsync(message, cancellationToken);
}
