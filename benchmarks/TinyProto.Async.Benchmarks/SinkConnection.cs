using System.Buffers;

namespace TinyProto.Async.Benchmarks;

/// <summary>Takes every buffered message and drops it, so the sender's cost is all that is measured.</summary>
internal sealed class SinkConnection : TinyProtoConnection
{
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) => default;
}
