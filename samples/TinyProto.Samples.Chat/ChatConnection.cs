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
        // The address is the client's own (behind HAProxy, from its PROXY header): clients can check what the server saw.
        await TransmitAsync(Encoding.UTF8.GetBytes($"* welcome, {Name}: you are {RemoteEndPoint} on server {_server.ServerName}; '/nick NAME' sets your name"), cancellationToken);
    }

    protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        string line = Encoding.UTF8.GetString(message);
        if (!line.StartsWith(NickCommand, StringComparison.Ordinal))
        {
            if (!_server.Quiet)
            {
                Console.WriteLine($"{Name}: {line}");
            }

            // Awaited: the next line from this member is published after this one, so everyone gets them in order; and
            // a server that stops (a rolling restart) publishes every line it accepted before it exits.
            try
            {
                await _server.BroadcastAsync($"{Name}: {line}", except: Id);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The backplane did not take it (Redis unreachable): nobody got the line, and its sender is told.
                Console.Error.WriteLine($"! could not relay {Name}'s line: {ex.Message}");
                await TransmitAsync(Encoding.UTF8.GetBytes($"* your line was not relayed: {ex.Message}"), cancellationToken);
            }

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
