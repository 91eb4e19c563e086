using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// The message instruments of one <c>TinyProto.Async</c> meter, after the OpenTelemetry messaging conventions
/// (<c>messaging.client.sent.messages</c>, <c>.consumed.messages</c>, <c>.operation.duration</c>) in a namespace of
/// our own, since tinyproto has no broker: messages and payload bytes sent and received, and how long operations took.
/// One set per meter factory (and one for the library's own meter); each connection records on its set through a
/// <see cref="ConnectionMetrics"/>. Read-only once made.
/// </summary>
internal sealed class MessageMetrics
{
    private static readonly Lazy<MessageMetrics> s_shared = new(() => new MessageMetrics(null));
    private static readonly ConditionalWeakTable<IMeterFactory, MessageMetrics> s_byFactory = new();

    private MessageMetrics(IMeterFactory? factory)
    {
        Meter meter = TinyProtoMeter.Get(factory);
        SentMessages = meter.CreateCounter<long>("tinyproto.sent.messages", "{message}", "Messages this end transmitted (error.type when the transmission failed).");
        ReceivedMessages = meter.CreateCounter<long>("tinyproto.received.messages", "{message}", "Messages this end received whole (error.type for one the connection's end cut short).");
        SentBytes = meter.CreateCounter<long>("tinyproto.sent.bytes", "By", "Payload bytes of the messages the peer accepted.");
        ReceivedBytes = meter.CreateCounter<long>("tinyproto.received.bytes", "By", "Payload bytes of the messages received whole.");
        OperationDuration = TinyProtoMeter.CreateDuration(meter, "tinyproto.operation.duration",
            "How long an operation took (tinyproto.operation.name: transmit, transmit_many, request, receive).", TinyProtoMeter.OperationBuckets);
    }

    public Counter<long> SentMessages { get; }

    public Counter<long> ReceivedMessages { get; }

    public Counter<long> SentBytes { get; }

    public Counter<long> ReceivedBytes { get; }

    public Histogram<double> OperationDuration { get; }

    /// <summary>The instruments on <paramref name="factory"/>'s meter, made once per factory; on the library's own meter without one.</summary>
    public static MessageMetrics For(IMeterFactory? factory)
    {
        if (factory is null)
        {
            return s_shared.Value;
        }

        if (s_byFactory.TryGetValue(factory, out MessageMetrics? made))
        {
            return made;
        }

        // GetValue may run its callback twice when two connections race (a client and a server handshaking at once):
        // two sets of instruments, one of them dropped, and a listener that bound to that one sees nothing. One at a time.
        lock (s_byFactory)
        {
            return s_byFactory.GetValue(factory, static f => new MessageMetrics(f));
        }
    }
}
