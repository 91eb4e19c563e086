using System.Security.Cryptography;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// A file being received: <c>.NAME.SHA16.partial</c> beside where it goes (so the rename at the end stays on one
/// file system), with the SHA-256 of what it holds kept up to date. A partial copy left by an interrupted transfer is
/// picked up by the next transfer of the same name and content (its SHA-256 is in the partial's name), which sends
/// only the rest. Owned by one connection at a time (<see cref="ReceiveDirectory.Claim"/>).
/// </summary>
internal sealed class PartialFile : IAsyncDisposable
{
    public const string Suffix = ".partial";

    private readonly FileStream _file;
    private IncrementalHash _hash;

    private PartialFile(string path, string target, FileStream file, IncrementalHash hash)
    {
        Path = path;
        Target = target;
        _file = file;
        _hash = hash;
    }

    public string Path { get; }

    /// <summary>Where the file goes once complete and verified.</summary>
    public string Target { get; }

    /// <summary>Bytes held so far.</summary>
    public long Length => _file.Length;

    /// <summary>The name of the partial copy of <paramref name="target"/> with content <paramref name="sha256"/>.</summary>
    public static string PathFor(string target, byte[] sha256) =>
        System.IO.Path.Join(System.IO.Path.GetDirectoryName(target), $".{System.IO.Path.GetFileName(target)}.{TransferJson.Hex(sha256)[..16]}{Suffix}");

    /// <summary>
    /// Opens the partial copy for <paramref name="target"/> (creating it and the folders on the way), hashing what it
    /// holds; a partial longer than <paramref name="size"/> cannot be a prefix and starts over.
    /// </summary>
    public static async Task<PartialFile> OpenAsync(string target, long size, byte[] sha256, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
        string path = PathFor(target, sha256);
        var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16, useAsync: true);
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            if (file.Length > size)
            {
                file.SetLength(0);
            }

            byte[] buffer = new byte[1 << 16];
            int read;
            while ((read = await file.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }

            return new PartialFile(path, target, file, hash);
        }
        catch
        {
            hash.Dispose();
            await file.DisposeAsync();
            throw;
        }
    }

    /// <summary>The SHA-256 of the bytes held so far.</summary>
    public byte[] PrefixSha256() => _hash.GetCurrentHash();

    /// <summary>Drops what it holds: the sender starts from 0.</summary>
    public void Restart()
    {
        _file.SetLength(0);
        _hash.Dispose();
        _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    public async ValueTask AppendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        _hash.AppendData(bytes.Span);
        await _file.WriteAsync(bytes, cancellationToken);
    }

    /// <summary>The SHA-256 of the whole, once every byte is in.</summary>
    public byte[] Sha256() => _hash.GetCurrentHash();

    /// <summary>Writes it out and moves it to <see cref="Target"/>.</summary>
    public async Task CompleteAsync(bool overwrite)
    {
        await _file.FlushAsync();
        _file.Flush(flushToDisk: true);
        await DisposeAsync();
        File.Move(Path, Target, overwrite);
    }

    /// <summary>Closes it and deletes it: what it held is not the file.</summary>
    public async Task DiscardAsync()
    {
        await DisposeAsync();
        File.Delete(Path);
    }

    /// <summary>Closes it, keeping what it holds for a resume.</summary>
    public async ValueTask DisposeAsync()
    {
        _hash.Dispose();
        await _file.DisposeAsync();
    }
}
