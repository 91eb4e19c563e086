using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using TinyProto.Async.Cli.FileTransfer;
using TinyProto.Async.Cli.Output;

namespace TinyProto.Async.Cli.Commands;

/// <summary><c>tinyproto send-file</c>: sends files (and folders' files) to <c>receive-files</c>, resuming what an earlier try left.</summary>
internal static class SendFileCommand
{
    public static Command Create()
    {
        var connect = new ConnectOptions("Seconds to wait for the connection and for each of the receiver's answers");
        var files = new Argument<string[]>("FILE") { Description = "Files or folders to send (a folder's files keep their paths under the folder's name)", Arity = ArgumentArity.OneOrMore };
        var rename = new Option<string?>("--as") { Description = "The name on the receiver, for one FILE ('/' between folders)", HelpName = "NAME" };
        var limitRate = new Option<string?>("--limit-rate") { Description = "Send at most this many bytes a second (64K, 10M, ...)", HelpName = "BYTES" };
        var command = new Command("send-file", "Send files to 'tinyproto receive-files': streamed, SHA-256 verified, resumed after an interruption");
        connect.AddTo(command);
        command.Arguments.Add(files);
        command.Options.Add(rename);
        command.Options.Add(limitRate);
        command.WithExamples("""
            tinyproto send-file 127.0.0.1:5000 backup.tar.gz
            tinyproto send-file 127.0.0.1:5000 photos/ notes.txt
            tinyproto send-file 127.0.0.1:5000 build.zip --as releases/1.2/build.zip --limit-rate 10M
            (run the same command again after an interruption: it sends only what is missing)
            """);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            PeerAddress peer = connect.Peer(parse);
            TimeSpan timeout = connect.Timeout(parse);
            IReadOnlyList<LocalFile> toSend = LocalFile.From(parse.GetValue(files)!, parse.GetValue(rename));
            RateLimit? limit = parse.GetValue(limitRate) is { } rate
                ? new RateLimit(Math.Max(1, SizeParser.Parse("--limit-rate", rate, long.MaxValue)))
                : null;
            await using TinyProtoClient client = connect.CreateClient(parse, peer);
            TinyProtoConnection connection = await client.ConnectAsync(peer.Host, peer.Port, cancellationToken);
            var terminal = Terminal.Detect();
            (List<string> rejected, long bytesSent) = terminal.IsInteractive
                ? await OnTerminalAsync(terminal, connection, timeout, limit, toSend, cancellationToken)
                : await SendAllAsync(new FileSender(connection, timeout, limit, new PlainTransferView(Console.Out)), toSend, cancellationToken);
            await connection.CloseAsync(cancellationToken);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{toSend.Count - rejected.Count} of {toSend.Count} file(s) on the receiver, verified; {bytesSent} bytes sent to {peer}"));
            return rejected.Count == 0 ? ExitCode.Ok
                : throw new TransferRejectedException($"not sent: {string.Join(", ", rejected)}");
        });
        return command;
    }

    private static async Task<(List<string> Rejected, long BytesSent)> OnTerminalAsync(Terminal terminal, TinyProtoConnection connection, TimeSpan timeout, RateLimit? limit,
        IReadOnlyList<LocalFile> files, CancellationToken cancellationToken)
    {
        TerminalTransferView? view = null;
        try
        {
            return await terminal.Console.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(TerminalTransferView.Columns())
                .StartAsync(context =>
                {
                    view = new TerminalTransferView(context);
                    return SendAllAsync(new FileSender(connection, timeout, limit, view), files, cancellationToken);
                });
        }
        finally
        {
            foreach (string note in view?.Notes ?? [])
            {
                terminal.Console.WriteLine(note);
            }
        }
    }

    /// <summary>Sends the files in turn; returns the names not sent and how many bytes went.</summary>
    private static async Task<(List<string> Rejected, long BytesSent)> SendAllAsync(FileSender sender, IReadOnlyList<LocalFile> files, CancellationToken cancellationToken)
    {
        var rejected = new List<string>();
        foreach (LocalFile file in files)
        {
            if (!await sender.SendAsync(file, cancellationToken))
            {
                rejected.Add(file.Name);
            }
        }

        return (rejected, sender.BytesSent);
    }
}
