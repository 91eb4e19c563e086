using System.Buffers;
using System.CommandLine;
using System.Text;
using Spectre.Console;
using TinyProto.Async.Cli.Output;

namespace TinyProto.Async.Cli.Commands;

/// <summary>
/// <c>tinyproto chat</c>: each line typed is sent as a UTF-8 message and each message that arrives is printed as a line,
/// at the same time: the chat sample's and the Python original's chat example's protocol (plain UTF-8 lines).
/// </summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var connect = new ConnectOptions("Seconds to wait for the connection, and for each line's acceptance");
        var command = new Command("chat", "Chat in lines: each line typed is a message, each message that arrives is printed");
        connect.AddTo(command);
        command.WithExamples("""
            tinyproto chat 127.0.0.1:5000        (Ctrl+D or Ctrl+C leaves)
            echo "/nick ada" | tinyproto chat 5000
            """);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            PeerAddress peer = connect.Peer(parse);
            TimeSpan timeout = connect.Timeout(parse);
            Terminal terminal = Terminal.Detect();
            await using TinyProtoClient client = connect.CreateClient(parse, peer);
            client.SetConnectionHandler(() => new ChatLineConnection(terminal));
            TinyProtoConnection connection = await client.ConnectAsync(peer.Host, peer.Port, cancellationToken);
            Console.Error.WriteLine($"connected to {peer}; type a line and Enter to send it, Ctrl+D to leave");

            // Standard input is read on a task of its own: a blocking read cannot be cancelled, so the chat ends when
            // input ends, the peer closes, or Ctrl+C, whichever comes first.
            Task<bool> typing = SendLinesAsync(connection, timeout, cancellationToken);
            Task ended = await Task.WhenAny(typing, connection.Completion, Task.Delay(Timeout.Infinite, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            if (ended == typing && await typing)
            {
                await connection.CloseAsync(CancellationToken.None);
                Console.Error.WriteLine("left");
                return ExitCode.Ok;
            }

            // The connection ended (a read of standard input may still be waiting: the process exits over it).
            if (typing.IsFaulted)
            {
                await typing;
            }

            await connection.Completion.ContinueWith(_ => { }, TaskScheduler.Default);
            Console.Error.WriteLine(connection.CloseError is { } error
                ? $"connection lost: {CommandRunner.Describe(error)}"
                : "the peer closed the connection");
            return ExitCode.Closed;
        });
        return command;
    }

    /// <summary>Sends each line of standard input; true when input ended, false when the connection did.</summary>
    private static async Task<bool> SendLinesAsync(TinyProtoConnection connection, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await Task.Yield();
        while (await Console.In.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                await connection.TransmitAsync(Encoding.UTF8.GetBytes(line), deadline.Token);
            }
            catch (TinyProtoException ex) when (ex.Error is TinyProtoError.ConnectionClosed or TinyProtoError.NotConnected)
            {
                return false;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the peer did not accept a line within {timeout.TotalSeconds:0.###} s");
            }
        }

        return true;
    }

    /// <summary>Prints each message as a line (control characters escaped), in colour on a terminal.</summary>
    private sealed class ChatLineConnection(Terminal terminal) : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            string line = MessagePrinter.Text(message, int.MaxValue);
            if (terminal.UseColor)
            {
                terminal.Console.MarkupLine(terminal.Paint(line, "cyan"));
            }
            else
            {
                Console.Out.WriteLine(line);
                Console.Out.Flush();
            }

            return default;
        }
    }
}
