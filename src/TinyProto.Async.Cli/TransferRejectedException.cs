namespace TinyProto.Async.Cli;

/// <summary>A file transfer the receiver refused or that failed its SHA-256 check: exit code <see cref="ExitCode.Rejected"/>.</summary>
internal sealed class TransferRejectedException(string message) : Exception(message);
