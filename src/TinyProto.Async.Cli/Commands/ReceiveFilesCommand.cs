using System.CommandLine;
using TinyProto.Async.Cli.FileTransfer;

namespace TinyProto.Async.Cli.Commands;

/// <summary><c>tinyproto receive-files</c>: a server that writes the files <c>send-file</c> sends into one folder.</summary>
internal static class ReceiveFilesCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port", "-p") { Description = "TCP port to listen on (0 picks a free one; the line 'listening on ENDPOINT' says which)", Required = true, HelpName = "PORT" };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDRESS" };
        var dir = new Option<DirectoryInfo>("--dir", "-d") { Description = "The folder files go to (created if missing); names that would lead outside it are refused", Required = true, HelpName = "DIR" };
        var maxSize = new Option<string>("--max-size") { Description = "Refuse files larger than this (up to 0xF0FFFFFF, one tinyproto message)", DefaultValueFactory = _ => "0xF0FFFFFF", HelpName = "BYTES" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a file of the same name with other content (without it, such a file is refused)" };
        var tls = new ServerTlsOptions();
        var command = new Command("receive-files", "Accept files from 'tinyproto send-file' into a folder: verified by SHA-256, renamed into place only when complete, resumable")
        {
            port, host, dir, maxSize, overwrite,
        };
        tls.AddTo(command);
        command.WithExamples("""
            tinyproto receive-files --port 5000 --dir ./incoming
            tinyproto receive-files --port 5000 --host :: --dir /srv/drop --max-size 1G
            tinyproto receive-files --port 5000 --dir ./incoming --tls-cert server.pfx
            """);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            int portNumber = parse.GetValue(port);
            if (portNumber is < 0 or > 65535)
            {
                throw new CommandLineException($"--port: {portNumber} is not a port from 0 to 65535");
            }

            DirectoryInfo root = Directory.CreateDirectory(parse.GetValue(dir)!.FullName);
            long max = SizeParser.Parse("--max-size", parse.GetValue(maxSize)!, TinyProtoConnectionOptions.ProtocolMaxMessageSize);
            var log = new ReceiverLog(Console.Out);
            await using var server = new FileReceiverServer(new ReceiveDirectory(root.FullName, parse.GetValue(overwrite), max), log);
            server.AddAddress(parse.GetValue(host)!, portNumber);
            server.TlsOptions = tls.Create(parse);
            return await Serving.RunAsync(server, $" and receiving into {root.FullName}", cancellationToken);
        });
        return command;
    }
}
