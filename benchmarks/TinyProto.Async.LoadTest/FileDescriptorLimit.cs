namespace TinyProto.Async.LoadTest;

/// <summary>
/// The open-file limit, for error messages. No setrlimit call is needed: on Linux the .NET runtime already raises
/// the soft RLIMIT_NOFILE to the hard limit at startup, so only the hard limit (<c>ulimit -Hn</c>) can stop us.
/// </summary>
internal static class FileDescriptorLimit
{
    public static string Describe()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    string[] parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return $"soft {parts[0]}, hard {parts[1]}";
                }
            }
        }
        catch (IOException)
        {
            // Not Linux: say nothing about the numbers.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return "unknown";
    }

    public static bool IsLimitError(Exception exception) =>
        exception is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.TooManyOpenSockets }
        || exception.Message.Contains("Too many open files", StringComparison.OrdinalIgnoreCase);
}
