using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace TinyProto.Async.Tests;

/// <summary>A connection that records its hooks ("pre", "msg:&lt;text&gt;", "post") and keeps a copy of each message.</summary>
internal class RecordingConnection : TinyProtoConnection
{
    public RecordingConnection(EventLog? log = null)
    {
        Log = log ?? new EventLog();
    }

    public EventLog Log { get; }

    public ConcurrentQueue<byte[]> Received { get; } = new();

    /// <summary>Names the message in the log; long or binary messages by length.</summary>
    public static string Describe(ReadOnlySpan<byte> message) =>
        message.Length <= 64 && !message.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E)
            ? "msg:" + Encoding.ASCII.GetString(message)
            : $"msg:[{message.Length} bytes]";

    protected override ValueTask PreLoopAsync(CancellationToken cancellationToken)
    {
        Log.Add("pre");
        return default;
    }

    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        byte[] copy = message.ToArray();
        Received.Enqueue(copy);
        Log.Add(Describe(copy));
        return default;
    }

    protected override ValueTask PostLoopAsync(CancellationToken cancellationToken)
    {
        Log.Add("post");
        return default;
    }
}

/// <summary>A <see cref="RecordingConnection"/> that also overrides <c>LoopPassAsync</c> (logged as "pass").</summary>
internal sealed class PassRecordingConnection : RecordingConnection
{
    public PassRecordingConnection(EventLog? log = null)
        : base(log)
    {
    }

    protected override ValueTask LoopPassAsync(CancellationToken cancellationToken)
    {
        Log.Add("pass");
        return default;
    }
}
