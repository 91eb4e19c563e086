namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// The folder <c>receive-files</c> writes to: turns a name that passed <see cref="SafeFileName"/> into a path inside it
/// (refusing symbolic links and folders in the way), and lets one connection at a time receive each name.
/// Shared by every connection; <see cref="Claim"/> and its release are thread-safe.
/// </summary>
internal sealed class ReceiveDirectory
{
    private readonly HashSet<string> _claimed = new(StringComparer.Ordinal);

    public ReceiveDirectory(string root, bool overwrite, long maxSize)
    {
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        Overwrite = overwrite;
        MaxSize = maxSize;
    }

    public string Root { get; }

    /// <summary>Whether a file that exists with other content may be replaced (<c>--overwrite</c>).</summary>
    public bool Overwrite { get; }

    /// <summary>The largest file taken (<c>--max-size</c>).</summary>
    public long MaxSize { get; }

    /// <summary>The path for <paramref name="name"/>, or null with <paramref name="reason"/> saying why it is refused.</summary>
    public string? Resolve(string name, out string? reason)
    {
        string[]? segments = SafeFileName.Check(name, out reason);
        if (segments is null)
        {
            return null;
        }

        string path = Path.GetFullPath(Path.Join([Root, .. segments]));
        if (!path.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            reason = "the name leads outside the receiving folder";
            return null;
        }

        // Every folder on the way that exists must be a real folder: a link could point anywhere.
        string current = Root;
        for (int i = 0; i < segments.Length; i++)
        {
            current = Path.Join(current, segments[i]);
            var entry = new FileInfo(current);
            bool last = i == segments.Length - 1;
            if (entry.LinkTarget is not null)
            {
                reason = $"'{string.Join('/', segments[..(i + 1)])}' is a symbolic link in the receiving folder";
                return null;
            }

            if (last && Directory.Exists(current))
            {
                reason = $"'{name}' is a folder in the receiving folder";
                return null;
            }

            if (!last && File.Exists(current))
            {
                reason = $"'{string.Join('/', segments[..(i + 1)])}' is a file, not a folder, in the receiving folder";
                return null;
            }
        }

        reason = null;
        return path;
    }

    /// <summary>Marks <paramref name="path"/> as being received; false when another connection has it.</summary>
    public bool Claim(string path)
    {
        lock (_claimed)
        {
            return _claimed.Add(path);
        }
    }

    public void Release(string path)
    {
        lock (_claimed)
        {
            _claimed.Remove(path);
        }
    }
}
