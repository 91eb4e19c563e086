using System.Buffers;
using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary>The server side of the echo: every message received is transmitted straight back.</summary>
internal sealed class EchoConnection : TinyProtoConnection
{
    // The message is valid until this hook's task completes, and TransmitAsync completes once it has been
    // written, so echoing it needs no copy; returning the task directly (no async/await) allocates nothing.
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
        TransmitAsync(message, cancellationToken);
}
