using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text;
using TinyProto.Async.Cli.Output;

namespace TinyProto.Async.Cli.Commands;

/// <summary><c>tinyproto send</c>: sends a message (text, a file or standard input), optionally waits for each reply and prints it.</summary>
internal static class SendCommand
{
    public static Command Create()
    {
        var connect = new ConnectOptions("Seconds to wait for the connection, for each message's acceptance and for each reply");
        var text = new Argument<string?>("TEXT") { Description = "The message, as UTF-8 text", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<FileInfo?>("--file", "-f") { Description = "Send this file's contents as the message (streamed: any size up to 0xF0FFFFFF bytes)", HelpName = "FILE" };
        var stdin = new Option<bool>("--stdin") { Description = "Send standard input as the message (read to its end first)" };
        var lines = new Option<bool>("--lines") { Description = "With --stdin: send each line as a message of its own, as it is read" };
        var repeat = new Option<int>("--repeat", "-n") { Description = "Send the message this many times", DefaultValueFactory = _ => 1, HelpName = "N" };
        var expectReply = new Option<bool>("--expect-reply", "-r") { Description = "Wait for a reply to each message and print it (exit 4 if none comes within --timeout)" };
        var format = new FormatOptions();
        var command = new Command("send", "Send a message and optionally print the reply");
        connect.AddTo(command);
        command.Arguments.Add(text);
        foreach (Option option in new Option[] { file, stdin, lines, repeat, expectReply })
        {
            command.Options.Add(option);
        }

        format.AddTo(command);
        command.WithExamples("""
            tinyproto send 127.0.0.1:5000 "hello"
            tinyproto send 127.0.0.1:5000 "ping" --expect-reply --timeout 2
            tinyproto send [::1]:5000 --file request.bin --expect-reply --hex
            printf 'a\nb\n' | tinyproto send 5000 --stdin --lines --expect-reply --json
            """);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            PeerAddress peer = connect.Peer(parse);
            TimeSpan timeout = connect.Timeout(parse);
            int count = parse.GetValue(repeat);
            if (count < 1)
            {
                throw new CommandLineException($"--repeat: {count} is not a count of 1 or more");
            }

            MessageSource source = MessageSource.From(parse.GetValue(text), parse.GetValue(file), parse.GetValue(stdin), parse.GetValue(lines));
            MessagePrinter printer = format.CreatePrinter(parse, Console.Out);
            bool replies = parse.GetValue(expectReply);
            await using TinyProtoClient client = connect.CreateClient(parse, peer);
            TinyProtoConnection connection = await client.ConnectAsync(peer.Host, peer.Port, cancellationToken);
            int sent = 0;
            long bytes = 0;
            for (int round = 0; round < count; round++)
            {
                await foreach (Outgoing message in source.ReadAsync(cancellationToken))
                {
                    await WithinAsync(timeout, $"{peer} did not accept message {sent + 1} within {Seconds(timeout)}",
                        token => message.TransmitAsync(connection, token), cancellationToken);
                    sent++;
                    bytes += message.Length;
                    if (replies)
                    {
                        byte[] reply = await WithinAsync(timeout, $"no reply to message {sent} from {peer} within {Seconds(timeout)}",
                            token => connection.ReceiveAsync(token).AsTask(), cancellationToken);
                        printer.Payload(new ReadOnlySequence<byte>(reply), sent, DateTimeOffset.Now);
                    }
                }
            }

            await connection.CloseAsync(cancellationToken);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sent {sent} message(s), {bytes} bytes, to {peer}"));
            return ExitCode.Ok;
        });
        return command;
    }

    private static string Seconds(TimeSpan timeout) => string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s");

    private static async Task WithinAsync(TimeSpan timeout, string message, Func<CancellationToken, Task> operation, CancellationToken cancellationToken) =>
        await WithinAsync(timeout, message, async token =>
        {
            await operation(token);
            return true;
        }, cancellationToken);

    /// <summary>Runs <paramref name="operation"/>, turning a cancellation by the timeout (not by Ctrl+C) into a <see cref="TimeoutException"/>.</summary>
    private static async Task<T> WithinAsync<T>(TimeSpan timeout, string message, Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            return await operation(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(message);
        }
    }
}

/// <summary>One message to send: bytes in memory, or a file streamed from disk.</summary>
internal sealed class Outgoing
{
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly FileInfo? _file;

    public Outgoing(ReadOnlyMemory<byte> bytes) => (_bytes, Length) = (bytes, bytes.Length);

    public Outgoing(FileInfo file) => (_file, Length) = (file, file.Length);

    public long Length { get; }

    public async Task TransmitAsync(TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            await connection.TransmitAsync(_bytes, cancellationToken);
            return;
        }

        await using var stream = new FileStream(_file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await connection.TransmitAsync(stream, Length, cancellationToken);
    }
}

/// <summary>Where <c>send</c>'s messages come from: exactly one of TEXT, <c>--file</c> and <c>--stdin</c>.</summary>
internal abstract class MessageSource
{
    public static MessageSource From(string? text, FileInfo? file, bool stdin, bool lines)
    {
        int given = (text is null ? 0 : 1) + (file is null ? 0 : 1) + (stdin ? 1 : 0);
        if (given != 1)
        {
            throw new CommandLineException(given == 0
                ? "nothing to send: give TEXT, --file FILE or --stdin"
                : "give one of TEXT, --file FILE and --stdin, not several");
        }

        if (lines && !stdin)
        {
            throw new CommandLineException("--lines goes with --stdin");
        }

        if (file is not null)
        {
            if (!file.Exists)
            {
                throw new CommandLineException($"--file: '{file.FullName}' does not exist");
            }

            if (file.Length > TinyProtoConnectionOptions.ProtocolMaxMessageSize)
            {
                throw new CommandLineException(string.Create(CultureInfo.InvariantCulture,
                    $"--file: '{file.FullName}' has {file.Length} bytes, more than a tinyproto message can carry ({TinyProtoConnectionOptions.ProtocolMaxMessageSize})"));
            }

            return new Fixed(new Outgoing(file));
        }

        if (text is not null)
        {
            return new Fixed(new Outgoing(Encoding.UTF8.GetBytes(text)));
        }

        return lines ? new StdinLines() : new StdinWhole();
    }

    public abstract IAsyncEnumerable<Outgoing> ReadAsync(CancellationToken cancellationToken);

    private sealed class Fixed(Outgoing message) : MessageSource
    {
        public override async IAsyncEnumerable<Outgoing> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield return message;
        }
    }

    /// <summary>Standard input read once, to its end, and sent again on each repeat.</summary>
    private sealed class StdinWhole : MessageSource
    {
        private byte[]? _bytes;

        public override async IAsyncEnumerable<Outgoing> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            if (_bytes is null)
            {
                using var buffer = new MemoryStream();
                await using Stream input = Console.OpenStandardInput();
                await input.CopyToAsync(buffer, cancellationToken);
                _bytes = buffer.ToArray();
            }

            yield return new Outgoing(_bytes);
        }
    }

    /// <summary>Each line of standard input (without its line end) as it is read; a repeat sends the lines read so far again.</summary>
    private sealed class StdinLines : MessageSource
    {
        private List<byte[]>? _lines;

        public override async IAsyncEnumerable<Outgoing> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            if (_lines is not null)
            {
                foreach (byte[] line in _lines)
                {
                    yield return new Outgoing(line);
                }

                yield break;
            }

            _lines = [];
            while (await Console.In.ReadLineAsync(cancellationToken) is { } line)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(line);
                _lines.Add(bytes);
                yield return new Outgoing(bytes);
            }
        }
    }
}
