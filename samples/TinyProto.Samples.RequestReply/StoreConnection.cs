using System.Buffers;
using TinyProto.Async;

namespace TinyProto.Samples.RequestReply;

/// <summary>The server side of one client: each message received is a request, answered with one message.</summary>
internal sealed class StoreConnection(KeyValueStore store) : TinyProtoConnection
{
    // The hook runs for one message at a time, so replies go out in the order of the requests: the client matches
    // them by order alone, as the protocol has no request ids. A bad request gets an ERROR reply, never an exception,
    // so it closes nothing. The message is valid only until the hook's task completes; Answer is done with it before.
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
        TransmitAsync(store.Answer(message.IsSingleSegment ? message.FirstSpan : message.ToArray()), cancellationToken);
}
