using System.Buffers;

namespace TinyProto.Async.Benchmarks;

/// <summary>Transmits every message straight back, zero-copy, as samples/TinyProto.Samples.Echo does.</summary>
internal sealed class EchoConnection : TinyProtoConnection
{
    // The message stays valid until the hook's task completes, and TransmitAsync completes once it is written.
    // Returning that task (no async/await here) keeps the echo free of allocations.
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
        TransmitAsync(message, cancellationToken);
}
