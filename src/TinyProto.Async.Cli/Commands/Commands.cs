using System.CommandLine;

namespace TinyProto.Async.Cli.Commands;

/// <summary>Every command of the tool, in the order <c>--help</c> lists them.</summary>
internal static class Commands
{
    public static IEnumerable<Command> All() =>
    [
        ListenCommand.Create(),
        SendCommand.Create(),
        ChatCommand.Create(),
        PingCommand.Create(),
        BenchCommand.Create(),
        SendFileCommand.Create(),
        ReceiveFilesCommand.Create(),
    ];
}
