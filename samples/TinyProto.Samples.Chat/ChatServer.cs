using System.Text;
using TinyProto.Async;
using TinyProto.Async.ScaleOut;

namespace TinyProto.Samples.Chat;

/// <summary>
/// Relays each member's lines to every other member and tells them who joins and leaves, through a fan-out: alone,
/// over an in-memory backplane; as one of several servers behind a load balancer, over Redis, so members on every
/// server see each other.
/// </summary>
internal sealed class ChatServer : TinyProtoServer
{
    private readonly TinyProtoFanOut _fanOut;

    public ChatServer(TinyProtoFanOut fanOut, string serverName, bool quiet, Microsoft.Extensions.Logging.ILogger? logger = null)
        : base(logger)
    {
        Quiet = quiet;
        _fanOut = fanOut;
        ServerName = serverName;
        SetConnectionHandler(() => new ChatConnection(this));
    }

    /// <summary>Whether members' lines are left out of this server's output (joins and leaves are still printed).</summary>
    public bool Quiet { get; }

    /// <summary>What this server calls itself in welcomes and its own output, to tell several apart.</summary>
    public string ServerName { get; }

    /// <summary>Publishes <paramref name="text"/> to every member on every server but <paramref name="except"/>.</summary>
    /// <exception cref="Exception">The backplane did not take it (Redis unreachable, say): nobody got it.</exception>
    public ValueTask BroadcastAsync(string text, Guid except) => _fanOut.PublishToAllAsync(Encoding.UTF8.GetBytes(text), except);

    protected override async ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        // From now on this member gets what anyone on any server publishes (each member from a queue of its own, so a
        // slow one holds up nobody).
        await _fanOut.AttachAsync(connection, cancellationToken);
        string name = ((ChatConnection)connection).Name;
        string via = connection.ProxyEndPoint is { } proxy ? $" via {proxy}" : "";
        Console.WriteLine($"+ {name} joined from {connection.RemoteEndPoint}{via}");
        await NoticeAsync($"* {name} joined", except: id);
    }

    protected override async ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        string name = ((ChatConnection)connection).Name;
        Console.WriteLine($"- {name} left");
        await NoticeAsync($"* {name} left", except: id);
    }

    /// <summary>A join or leave notice: one the backplane does not take is reported here, and the member still joins or leaves.</summary>
    private async Task NoticeAsync(string text, Guid except)
    {
        try
        {
            await BroadcastAsync(text, except);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Console.Error.WriteLine($"! could not publish '{text}': {ex.Message}");
        }
    }
}
