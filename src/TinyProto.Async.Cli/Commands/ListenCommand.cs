using System.CommandLine;
using TinyProto.Async.Cli.Output;

namespace TinyProto.Async.Cli.Commands;

/// <summary><c>tinyproto listen</c>: a server that prints (and optionally echoes and saves) every message it receives.</summary>
internal static class ListenCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port", "-p") { Description = "TCP port to listen on (0 picks a free one; the line 'listening on ENDPOINT' says which)", Required = true, HelpName = "PORT" };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDRESS" };
        var echo = new Option<bool>("--echo") { Description = "Send each message back to its sender" };
        var save = new Option<DirectoryInfo?>("--save") { Description = "Write each message to a file in this directory (CONNECTION-SEQUENCE.bin; created if missing)", HelpName = "DIR" };
        var maxSize = new Option<string>("--max-size") { Description = "Refuse messages larger than this (up to 0xF0FFFFFF; larger ones are streamed, not held in memory)", DefaultValueFactory = _ => "64M", HelpName = "BYTES" };
        var format = new FormatOptions();
        var tls = new ServerTlsOptions();
        var command = new Command("listen", "Accept tinyproto connections and print each message with its time, connection and size")
        {
            port, host, echo, save, maxSize,
        };
        command.WithExamples("""
            tinyproto listen --port 5000
            tinyproto listen --port 5000 --echo --json
            tinyproto listen --port 0 --hex --save ./messages
            """);
        format.AddTo(command);
        tls.AddTo(command);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            int portNumber = parse.GetValue(port);
            if (portNumber is < 0 or > 65535)
            {
                throw new CommandLineException($"--port: {portNumber} is not a port from 0 to 65535");
            }

            var settings = new ListenSettings(
                format.CreatePrinter(parse, Console.Out),
                parse.GetValue(echo),
                parse.GetValue(save) is { } directory ? Directory.CreateDirectory(directory.FullName) : null);
            await using var server = new ListenServer(settings);
            server.AddAddress(parse.GetValue(host)!, portNumber);
            server.ConnectionOptions.MaxMessageSize = SizeParser.Parse("--max-size", parse.GetValue(maxSize)!, TinyProtoConnectionOptions.ProtocolMaxMessageSize);
            server.TlsOptions = tls.Create(parse);
            return await Serving.RunAsync(server, string.Empty, cancellationToken);
        });
        return command;
    }
}
