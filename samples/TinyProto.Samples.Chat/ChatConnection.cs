using System.Buffers;
using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.Chat;

/// <summary>One member, on the server: each line it sends goes to the others, prefixed with its name.</summary>
internal sealed class ChatConnection : TinyProtoConnection
{
    private const string NickCommand = "/nick ";
    private readonly ChatServer _server;

    public ChatConnection(ChatServer server)
    {
        _server = server;
        Name = Id.ToString("N")[..6];
    }

    /// <summary>A short id until the member picks a name with <c>/nick NAME</c>.</summary>
    public string Name { get; private set; }

    protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken)
    {
        int others = _server.ActiveConnections.Count - 1;
        await TransmitAsync(Encoding.UTF8.GetBytes($"* welcome, {Name}: {others} other(s) here; '/nick NAME' sets your name"), cancellationToken);
    }

    protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        string line = Encoding.UTF8.GetString(message);
        if (!line.StartsWith(NickCommand, StringComparison.Ordinal))
        {
            Console.WriteLine($"{Name}: {line}");
            await _server.BroadcastAsync($"{Name}: {line}", except: Id);
            return;
        }

        string name = line[NickCommand.Length..].Trim();
        if (name.Length is 0 or > 32 || name.Any(char.IsControl))
        {
            await TransmitAsync("* a name has 1 to 32 printable characters"u8.ToArray(), cancellationToken);
            return;
        }

        string previous = Name;
        Name = name;
        Console.WriteLine($"= {previous} is now {name}");
        await _server.BroadcastAsync($"* {previous} is now {name}", except: Guid.Empty);
    }
}
