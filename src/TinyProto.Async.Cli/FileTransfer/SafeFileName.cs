using System.Text;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// The rules for a name a sender asks the receiver to write: relative, '/' between folders, and nothing that could
/// reach outside the receiving folder or mean something else on Windows. I/O-free: <see cref="ReceiveDirectory"/>
/// checks the disk (symbolic links, folders in the way) once the name itself passed.
/// </summary>
internal static class SafeFileName
{
    /// <summary>The longest name, folders and all.</summary>
    public const int MaxLength = 1024;

    /// <summary>The longest part between slashes, in UTF-8 bytes: room is left for the partial file's prefix and suffix within the usual 255.</summary>
    public const int MaxSegmentBytes = 200;

    private static readonly string[] DeviceNames =
    [
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
        "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³",
        "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
    ];

    /// <summary>The name's parts between slashes, or null with <paramref name="reason"/> saying why the name is refused.</summary>
    public static string[]? Check(string name, out string? reason)
    {
        reason = Problem(name);
        return reason is null ? name.Split('/') : null;
    }

    private static string? Problem(string name)
    {
        if (name.Length == 0)
        {
            return "the name is empty";
        }

        if (name.Length > MaxLength)
        {
            return $"the name is longer than {MaxLength} characters";
        }

        if (name.Any(c => char.IsControl(c)))
        {
            return "the name contains a control character";
        }

        if (name.Contains('\\'))
        {
            return "the name contains a backslash (names use '/' between folders)";
        }

        if (name[0] == '/')
        {
            return "the name is an absolute path";
        }

        if (name.Contains(':'))
        {
            return "the name contains ':' (a drive or a stream on Windows)";
        }

        foreach (string segment in name.Split('/'))
        {
            if (SegmentProblem(segment) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static string? SegmentProblem(string segment)
    {
        if (segment.Length == 0)
        {
            return "the name has an empty part (a doubled or trailing '/')";
        }

        if (segment is "." or "..")
        {
            return $"the name has a '{segment}' part (it could lead outside the receiving folder)";
        }

        if (Encoding.UTF8.GetByteCount(segment) > MaxSegmentBytes)
        {
            return $"a part of the name is longer than {MaxSegmentBytes} bytes";
        }

        if (segment.IndexOfAny(['<', '>', '"', '|', '?', '*']) >= 0)
        {
            return $"'{segment}' contains a character Windows does not allow in names (< > \" | ? *)";
        }

        if (segment[^1] is '.' or ' ')
        {
            return $"'{segment}' ends with a dot or a space (Windows drops them, so it would name another file)";
        }

        string stem = segment.Split('.')[0].TrimEnd(' ');
        if (DeviceNames.Contains(stem, StringComparer.OrdinalIgnoreCase))
        {
            return $"'{segment}' is a device name on Windows";
        }

        if (segment.EndsWith(PartialFile.Suffix, StringComparison.OrdinalIgnoreCase))
        {
            return $"names ending in '{PartialFile.Suffix}' are kept for transfers in progress";
        }

        return null;
    }
}
