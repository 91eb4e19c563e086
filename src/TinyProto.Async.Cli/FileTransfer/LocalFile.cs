namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>A file <c>send-file</c> sends: where it is here, and the name it gets on the receiver ('/' between folders).</summary>
internal sealed record LocalFile(string Path, string Name, long Size)
{
    /// <summary>
    /// The files the arguments name: each file under its own name (or <paramref name="rename"/>), each folder's files
    /// under the folder's name and their path inside it, in a stable order.
    /// </summary>
    public static IReadOnlyList<LocalFile> From(IReadOnlyList<string> arguments, string? rename)
    {
        if (rename is not null && arguments.Count != 1)
        {
            throw new CommandLineException("--as names one file or folder: give exactly one FILE with it");
        }

        var files = new List<LocalFile>();
        foreach (string argument in arguments)
        {
            string full = System.IO.Path.GetFullPath(argument);
            if (File.Exists(full))
            {
                files.Add(Checked(full, rename ?? System.IO.Path.GetFileName(full)));
            }
            else if (Directory.Exists(full))
            {
                string top = rename ?? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(full));
                var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false };
                foreach (string path in Directory.EnumerateFiles(full, "*", options).Order(StringComparer.Ordinal))
                {
                    string relative = System.IO.Path.GetRelativePath(full, path).Replace(System.IO.Path.DirectorySeparatorChar, '/');
                    files.Add(Checked(path, $"{top}/{relative}"));
                }
            }
            else
            {
                throw new CommandLineException($"'{argument}' is not a file or folder that exists");
            }
        }

        return files;
    }

    private static LocalFile Checked(string path, string name)
    {
        long size = new FileInfo(path).Length;
        if (size > TinyProtoConnectionOptions.ProtocolMaxMessageSize)
        {
            throw new CommandLineException(FormattableString.Invariant(
                $"'{path}' has {size} bytes, more than one tinyproto message can carry ({TinyProtoConnectionOptions.ProtocolMaxMessageSize}), the limit for a file"));
        }

        return new LocalFile(path, name, size);
    }
}
