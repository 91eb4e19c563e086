namespace TinyProto.Async.LoadTest;

/// <summary>The server's totals over all connections; each connection adds its own counts once, when it ends.</summary>
internal sealed class ServerStatistics
{
    private long _connections;
    private long _messages;
    private long _bytes;
    private long _errors;
    private long _unverifiedConnections;

    public long Errors => Interlocked.Read(ref _errors);

    public void AddConnection(long messages, long bytes, long errors, bool verified)
    {
        Interlocked.Increment(ref _connections);
        Interlocked.Add(ref _messages, messages);
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Add(ref _errors, errors);
        if (!verified)
        {
            Interlocked.Increment(ref _unverifiedConnections);
        }
    }

    public override string ToString() =>
        $"{Interlocked.Read(ref _connections)} connections, {Interlocked.Read(ref _messages)} messages, {Interlocked.Read(ref _bytes)} payload bytes received, " +
        $"{Errors} errors, {Interlocked.Read(ref _unverifiedConnections)} connections with unpatterned payloads (not verified)";
}
