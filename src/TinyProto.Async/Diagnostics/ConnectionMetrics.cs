using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// What one connection records on the message instruments (<see cref="MessageMetrics"/>), with tags made once, when its
/// handshake succeeded: <c>network.transport</c>, <c>server.address</c> and <c>server.port</c> (the server's end: our
/// local endpoint in the server role, the server as the client named it or the remote endpoint in the client role) and
/// <c>tinyproto.role</c>. A measurement passes a cached tag array, so it allocates nothing; with no listener each call
/// costs the instruments' <c>Enabled</c> checks, and no timestamp is taken unless the duration histogram is listened to.
/// Only a failure builds a <see cref="TagList"/> (with <c>error.type</c>).
/// </summary>
/// <remarks>
/// Nothing in it changes after construction but <c>_operationTags</c>, each array made the first time its operation is
/// recorded (two threads may make equal arrays at once; either one is kept). Safe from any thread.
/// </remarks>
internal sealed class ConnectionMetrics
{
    private readonly MessageMetrics _instruments;
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly KeyValuePair<string, object?>[]?[] _operationTags = new KeyValuePair<string, object?>[]?[(int)Operation.Receive + 1];

    public ConnectionMetrics(MessageMetrics instruments, TimeProvider time, TinyProtoRole role, EndPoint? local, EndPoint? remote, (string Host, int Port)? serverName)
    {
        _instruments = instruments;
        _time = time;
        _tags = Tags(role, role == TinyProtoRole.Server ? local : remote, serverName);
    }

    /// <summary>A timestamp for an operation's duration, or 0 when no one listens to the histogram (then none is taken).</summary>
    public long Start() => _instruments.OperationDuration.Enabled ? _time.GetTimestamp() : 0;

    /// <summary>Whether anyone listens to what a transmission records: its message, bytes or duration.</summary>
    public bool MeasuresSending => _instruments.SentMessages.Enabled || _instruments.SentBytes.Enabled || _instruments.OperationDuration.Enabled;

    /// <summary>Whether anyone listens to operation durations.</summary>
    public bool MeasuresOperations => _instruments.OperationDuration.Enabled;

    /// <summary>
    /// The caller's view of one message's <paramref name="transmission"/> of <paramref name="bytes"/>: counted when it
    /// completes, and timed as <paramref name="operation"/> from <paramref name="startedAt"/>. No state machine when it
    /// completed already; a pooled one otherwise.
    /// </summary>
    public ValueTask Measure(ValueTask transmission, Operation operation, long bytes, long startedAt)
    {
        if (!transmission.IsCompletedSuccessfully)
        {
            return MeasureAsync(transmission, operation, bytes, startedAt);
        }

        transmission.GetAwaiter().GetResult();
        Sent(1, bytes);
        Completed(operation, startedAt);
        return default;
    }

    /// <summary><paramref name="messages"/> the peer accepted, of <paramref name="bytes"/> payload bytes in all.</summary>
    public void Sent(int messages, long bytes)
    {
        if (_instruments.SentMessages.Enabled)
        {
            _instruments.SentMessages.Add(messages, _tags);
        }

        if (_instruments.SentBytes.Enabled)
        {
            _instruments.SentBytes.Add(bytes, _tags);
        }
    }

    /// <summary>The messages of a batch the peer accepted: their payload bytes are summed only when someone counts them.</summary>
    public void SentBatch(IReadOnlyList<ReadOnlyMemory<byte>> messages, System.Buffers.ReadOnlySequence<byte>[]? transformed)
    {
        long bytes = 0;
        if (_instruments.SentBytes.Enabled)
        {
            for (int i = 0; i < messages.Count; i++)
            {
                bytes += transformed is null ? messages[i].Length : transformed[i].Length;
            }
        }

        Sent(messages.Count, bytes);
    }

    /// <summary><paramref name="messages"/> whose transmission failed with <paramref name="error"/>.</summary>
    public void SendFailed(int messages, Exception error)
    {
        if (_instruments.SentMessages.Enabled)
        {
            TagList tags = WithError(_tags, ErrorType.Of(error));
            _instruments.SentMessages.Add(messages, in tags);
        }
    }

    /// <summary>A message received whole, of <paramref name="bytes"/> payload bytes, whose header was read at <paramref name="startedAt"/>.</summary>
    public void Received(long bytes, long startedAt)
    {
        if (_instruments.ReceivedMessages.Enabled)
        {
            _instruments.ReceivedMessages.Add(1, _tags);
        }

        if (_instruments.ReceivedBytes.Enabled)
        {
            _instruments.ReceivedBytes.Add(bytes, _tags);
        }

        Completed(Operation.Receive, startedAt);
    }

    /// <summary>A message the connection's end cut short (<paramref name="error"/>: what ended it, null for a close).</summary>
    public void ReceiveFailed(long startedAt, Exception? error)
    {
        string type = error is null ? ErrorType.ConnectionClosed : ErrorType.Of(error);
        if (_instruments.ReceivedMessages.Enabled)
        {
            TagList tags = WithError(_tags, type);
            _instruments.ReceivedMessages.Add(1, in tags);
        }

        Failed(Operation.Receive, startedAt, type);
    }

    /// <summary>An operation that succeeded; nothing when it was not timed (<paramref name="startedAt"/> is 0).</summary>
    public void Completed(Operation operation, long startedAt)
    {
        if (startedAt != 0 && _instruments.OperationDuration.Enabled)
        {
            _instruments.OperationDuration.Record(_time.GetElapsedTime(startedAt).TotalSeconds, OperationTags(operation));
        }
    }

    /// <summary>An operation that failed with <paramref name="error"/>; nothing when it was not timed.</summary>
    public void Failed(Operation operation, long startedAt, Exception error) => Failed(operation, startedAt, ErrorType.Of(error));

    private void Failed(Operation operation, long startedAt, string errorType)
    {
        if (startedAt != 0 && _instruments.OperationDuration.Enabled)
        {
            TagList tags = WithError(OperationTags(operation), errorType);
            _instruments.OperationDuration.Record(_time.GetElapsedTime(startedAt).TotalSeconds, in tags);
        }
    }

    /// <summary>The connection's tags; see the class. Nothing for the server's address when it has no IP or Unix socket endpoint (an in-memory pipe).</summary>
    private static KeyValuePair<string, object?>[] Tags(TinyProtoRole role, EndPoint? server, (string Host, int Port)? serverName)
    {
        var tags = new List<KeyValuePair<string, object?>>(4);
        if (serverName is { } named)
        {
            tags.Add(new("network.transport", "tcp"));
            tags.Add(new("server.address", named.Host));
            tags.Add(new("server.port", named.Port));
        }
        else if (server is IPEndPoint ip)
        {
            tags.Add(new("network.transport", "tcp"));
            tags.Add(new("server.address", ip.Address.ToString()));
            tags.Add(new("server.port", ip.Port));
        }
        else if (server is UnixDomainSocketEndPoint unix)
        {
            tags.Add(new("network.transport", "unix"));
            tags.Add(new("server.address", unix.ToString()));
        }

        tags.Add(new("tinyproto.role", role == TinyProtoRole.Server ? "server" : "client"));
        return [.. tags];
    }

    private static TagList WithError(KeyValuePair<string, object?>[] tags, string errorType)
    {
        var list = new TagList(tags);
        list.Add("error.type", errorType);
        return list;
    }

    private KeyValuePair<string, object?>[] OperationTags(Operation operation) =>
        _operationTags[(int)operation] ??= [.. _tags, new("tinyproto.operation.name", NameOf(operation))];

    private static string NameOf(Operation operation) => operation switch
    {
        Operation.Transmit => "transmit",
        Operation.TransmitMany => "transmit_many",
        Operation.Request => "request",
        Operation.Receive => "receive",
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "Not an operation of its own."),
    };

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask MeasureAsync(ValueTask transmission, Operation operation, long bytes, long startedAt)
    {
        try
        {
            await transmission.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SendFailed(1, ex);
            Failed(operation, startedAt, ex);
            throw;
        }

        Sent(1, bytes);
        Completed(operation, startedAt);
    }
}
