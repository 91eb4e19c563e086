namespace TinyProto.Samples;

/// <summary>Bad command-line arguments; the message says which and why. The process exits with code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
