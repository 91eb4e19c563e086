// tinyproto: a command-line tool for people who run tinyproto services. Each command is in Commands/; exit codes in ExitCode.cs.
using System.CommandLine;
using TinyProto.Async.Cli;
using TinyProto.Async.Cli.Commands;

var root = new RootCommand($"""
    Talk to any tinyproto peer (TinyProto.Async, the Python tinyproto 3.0 package, or another): see what it sends,
    send it messages or files, chat, check it is up and measure it. Each command has --help with examples.

    {ExitCode.Legend}
    """);
root.WithExamples("""
    tinyproto listen --port 5000 --echo
    tinyproto send 127.0.0.1:5000 "hello" --expect-reply
    tinyproto ping 127.0.0.1:5000 --count 5
    tinyproto receive-files --port 6000 --dir ./incoming
    tinyproto send-file 127.0.0.1:6000 big.iso
    """);
HelpExamples.Install(root);
foreach (Command command in Commands.All())
{
    root.Subcommands.Add(command);
}

ParseResult parse = root.Parse(args);
if (parse.Errors.Count > 0 && parse.Action is not HelpExamples.ExamplesAction)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }

    Console.Error.WriteLine(CommandRunner.SeeHelp(parse));
    return ExitCode.Usage;
}

return await parse.InvokeAsync();
