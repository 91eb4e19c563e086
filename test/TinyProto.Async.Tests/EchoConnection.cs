using System.Buffers;

namespace TinyProto.Async.Tests;

/// <summary>
/// Transmits every message straight back from its hook, as samples/TinyProto.Samples.Echo does: the server end of most
/// tests that need a peer which answers. Tests that need more (a held message, a recorded failure) have their own.
/// </summary>
internal sealed class EchoConnection : TinyProtoConnection
{
    // The message stays valid until the hook's task completes, and TransmitAsync completes once it is written.
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
        TransmitAsync(message, cancellationToken);
}
