namespace TinyProto.Async.Tests;

/// <summary>A server that records its per-connection hooks ("init", "shutdown") into the same log as its connections.</summary>
internal sealed class RecordingServer : TinyProtoServer
{
    public RecordingServer(EventLog log)
    {
        Log = log;
        SetConnectionHandler(() => new RecordingConnection(log));
    }

    public EventLog Log { get; }

    /// <summary>When set, ConnectionInitAsync throws for connections whose ordinal (1-based) it returns true for.</summary>
    public Func<int, bool>? FailInit { get; set; }

    private int _inits;

    protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        Log.Add("init");
        if (FailInit?.Invoke(Interlocked.Increment(ref _inits)) == true)
        {
            throw new InvalidOperationException("ConnectionInitAsync failed on purpose.");
        }

        return default;
    }

    protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        Log.Add("shutdown");
        return default;
    }
}
