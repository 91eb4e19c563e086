namespace TinyProto.Async.Cli;

/// <summary>An argument that parses but makes no sense (a port out of range, a file that does not exist): exit code <see cref="ExitCode.Usage"/>.</summary>
internal sealed class CommandLineException(string message) : Exception(message);
