using System.Buffers;

namespace TinyProto.Async.Benchmarks;

/// <summary>Transmits every message straight back, zero-copy, as samples/TinyProto.Samples.Echo does.</summary>
internal sealed class EchoConnection : TinyProtoConnection
{
    // The message stays valid until the hook returns, and TransmitAsync returns once it is written.
    protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
        await TransmitAsync(message, cancellationToken);
}
