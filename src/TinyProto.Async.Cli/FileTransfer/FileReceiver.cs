using System.Buffers;
using System.Diagnostics;
using System.Globalization;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>The <c>receive-files</c> server: numbers its connections from 1 and logs when each opens and closes.</summary>
internal sealed class FileReceiverServer : TinyProtoServer
{
    private int _connections;

    public FileReceiverServer(ReceiveDirectory directory, ReceiverLog log)
    {
        ConnectionOptions.MaxMessageSize = TinyProtoConnectionOptions.ProtocolMaxMessageSize;

        // File data past 64 KiB is streamed to disk as it arrives, so an interrupted transfer keeps all but the last
        // few bytes, and a connection holds little memory whatever the file's size.
        ConnectionOptions.MaxBufferedMessageSize = FileHeader.MaxJsonBytes;
        SetConnectionHandler(() => new FileReceiverConnection(Interlocked.Increment(ref _connections), directory, log));
    }

    protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        ((FileReceiverConnection)connection).Log("opened");
        return default;
    }

    protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        string reason = connection.CloseError is { } error ? CommandRunner.Describe(error)
            : connection.CloseReason == TinyProtoCloseReason.PeerClosed ? "by the peer" : "by this side";
        ((FileReceiverConnection)connection).Log($"closed ({reason})");
        return default;
    }
}

/// <summary>
/// One connection of <c>receive-files</c>: takes files one after another, each as a header, the sender's start and
/// the data (docs/cli-file-transfer.md). The hooks run one at a time, so the fields are theirs alone.
/// </summary>
internal sealed class FileReceiverConnection(int number, ReceiveDirectory directory, ReceiverLog log) : TinyProtoConnection
{
    private const int CopyBuffer = 1 << 16;

    private Stage _stage = Stage.Header;
    private Incoming? _incoming;

    private enum Stage
    {
        /// <summary>Waiting for a file header.</summary>
        Header,

        /// <summary>Said ready; waiting for the sender's start.</summary>
        Start,

        /// <summary>Waiting for the data message.</summary>
        Data,
    }

    public void Log(string text) => log.Write(number, RemoteEndPoint?.ToString() ?? "?", text);

    protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        switch (_stage)
        {
            case Stage.Header:
                await HeaderAsync(message.ToArray(), cancellationToken);
                break;
            case Stage.Start:
                Start(message.ToArray());
                break;
            default:
                await DataAsync(message.Length, async (partial, token) =>
                {
                    foreach (ReadOnlyMemory<byte> segment in message)
                    {
                        await partial.AppendAsync(segment, token);
                    }
                }, cancellationToken);
                break;
        }
    }

    /// <summary>Data larger than the buffered size arrives as a stream and goes to disk as it comes, in bounded memory.</summary>
    protected override async ValueTask TransmissionStreamReceivedAsync(Stream message, CancellationToken cancellationToken)
    {
        if (_stage != Stage.Data)
        {
            // What it holds is skipped once this returns.
            await RefuseAsync(null, string.Create(CultureInfo.InvariantCulture, $"expected a file header (a small JSON message), got {message.Length} bytes"), cancellationToken);
            _stage = Stage.Header;
            return;
        }

        await DataAsync(message.Length, async (partial, token) =>
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
            try
            {
                int read;
                while ((read = await message.ReadAsync(buffer, token)) > 0)
                {
                    await partial.AppendAsync(buffer.AsMemory(0, read), token);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }, cancellationToken);
    }

    /// <summary>The connection ended between a header and its data: the partial copy stays for a resume.</summary>
    protected override async ValueTask PostLoopAsync(CancellationToken cancellationToken)
    {
        if (_incoming is { } incoming)
        {
            Log($"interrupted {ReceiverLog.Quote(incoming.Header.Name)} at {incoming.Partial.Length} of {ReceiverLog.Bytes(incoming.Header.Size)}; the partial copy is kept for a resume");
            await ReleaseAsync(incoming, keep: true);
        }
    }

    private async Task HeaderAsync(byte[] message, CancellationToken cancellationToken)
    {
        FileHeader header;
        try
        {
            header = FileHeader.Parse(message, directory.MaxSize);
        }
        catch (FormatException ex)
        {
            await RefuseAsync(null, ex.Message, cancellationToken);
            return;
        }

        if (directory.Resolve(header.Name, out string? unsafeName) is not { } target)
        {
            await RefuseAsync(header.Name, unsafeName!, cancellationToken);
            return;
        }

        if (!directory.Claim(target))
        {
            await RefuseAsync(header.Name, "it is being received on another connection", cancellationToken);
            return;
        }

        try
        {
            if (File.Exists(target))
            {
                if (await SameContentAsync(target, header, cancellationToken))
                {
                    directory.Release(target);
                    Log($"already have {ReceiverLog.Quote(header.Name)} ({ReceiverLog.Bytes(header.Size)}, same SHA-256)");
                    await TransmitAsync(new ReceiverReply(ReplyKind.Complete).ToJson(), cancellationToken);
                    return;
                }

                if (!directory.Overwrite)
                {
                    directory.Release(target);
                    await RefuseAsync(header.Name, "a file of that name with other content is there (receive-files --overwrite replaces it)", cancellationToken);
                    return;
                }
            }

            PartialFile partial = await PartialFile.OpenAsync(target, header.Size, header.Sha256, cancellationToken);
            var incoming = new Incoming(header, target, partial);
            long free = new DriveInfo(directory.Root).AvailableFreeSpace;
            if (free < header.Size - partial.Length)
            {
                await ReleaseAsync(incoming, keep: partial.Length > 0);
                await RefuseAsync(header.Name, string.Create(CultureInfo.InvariantCulture, $"not enough room: {header.Size - partial.Length} bytes to write, {free} free"), cancellationToken);
                return;
            }

            _incoming = incoming;
            _stage = Stage.Start;
            await TransmitAsync(ReceiverReply.Ready(partial.Length, partial.PrefixSha256()).ToJson(), cancellationToken);
        }
        catch
        {
            if (_incoming is null)
            {
                directory.Release(target);
            }

            throw;
        }
    }

    private void Start(byte[] message)
    {
        Incoming incoming = _incoming!;
        SenderStart start;
        try
        {
            start = SenderStart.Parse(message);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"the sender broke the file exchange: {ex.Message}", ex);
        }

        if (start.Offset == 0 && incoming.Partial.Length > 0)
        {
            incoming.Partial.Restart();
        }
        else if (start.Offset != incoming.Partial.Length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"the sender broke the file exchange: it starts at {start.Offset}, not at 0 or at the {incoming.Partial.Length} bytes held"));
        }

        incoming.Start = start.Offset;
        incoming.Clock.Restart();
        Log(start.Offset == 0
            ? $"receiving {ReceiverLog.Quote(incoming.Header.Name)} ({ReceiverLog.Bytes(incoming.Header.Size)})"
            : $"resuming {ReceiverLog.Quote(incoming.Header.Name)} at {start.Offset} of {ReceiverLog.Bytes(incoming.Header.Size)}");
        _stage = Stage.Data;
    }

    private async Task DataAsync(long length, Func<PartialFile, CancellationToken, ValueTask> write, CancellationToken cancellationToken)
    {
        Incoming incoming = _incoming!;
        FileHeader header = incoming.Header;
        long expected = header.Size - incoming.Start;
        if (length != expected)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"the sender broke the file exchange: {length} bytes of data for {ReceiverLog.Quote(header.Name)}, where {expected} are missing"));
        }

        // An exception here (the connection lost mid-file) leaves _incoming set: PostLoopAsync keeps the partial copy.
        await write(incoming.Partial, cancellationToken);
        _incoming = null;
        _stage = Stage.Header;
        byte[] sha256 = incoming.Partial.Sha256();
        if (!sha256.AsSpan().SequenceEqual(header.Sha256))
        {
            await ReleaseAsync(incoming, keep: false);
            string reason = $"SHA-256 mismatch: the data hashes to {TransferJson.Hex(sha256)}, the header says {TransferJson.Hex(header.Sha256)}; discarded";
            Log($"failed {ReceiverLog.Quote(header.Name)}: {reason}");
            await TransmitAsync(ReceiverReply.Failed(reason).ToJson(), cancellationToken);
            return;
        }

        await incoming.Partial.CompleteAsync(directory.Overwrite);
        directory.Release(incoming.Target);
        double seconds = incoming.Clock.Elapsed.TotalSeconds;
        Log(string.Create(CultureInfo.InvariantCulture,
            $"received {ReceiverLog.Quote(header.Name)}: {ReceiverLog.Bytes(header.Size)}{(incoming.Start > 0 ? $" ({length} this time)" : string.Empty)}, SHA-256 verified, {seconds:0.0} s, {length / 1e6 / Math.Max(seconds, 1e-3):0.0} MB/s"));
        await TransmitAsync(new ReceiverReply(ReplyKind.Done).ToJson(), cancellationToken);
    }

    private async Task RefuseAsync(string? name, string reason, CancellationToken cancellationToken)
    {
        Log(name is null ? $"refused a transfer: {reason}" : $"refused {ReceiverLog.Quote(name)}: {reason}");
        await TransmitAsync(ReceiverReply.Refused(reason).ToJson(), cancellationToken);
    }

    private async Task ReleaseAsync(Incoming incoming, bool keep)
    {
        if (keep)
        {
            await incoming.Partial.DisposeAsync();
        }
        else
        {
            await incoming.Partial.DiscardAsync();
        }

        directory.Release(incoming.Target);
        if (ReferenceEquals(_incoming, incoming))
        {
            _incoming = null;
        }
    }

    private static async Task<bool> SameContentAsync(string path, FileHeader header, CancellationToken cancellationToken)
    {
        if (new FileInfo(path).Length != header.Size)
        {
            return false;
        }

        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBuffer, useAsync: true);
        byte[] sha256 = await System.Security.Cryptography.SHA256.HashDataAsync(file, cancellationToken);
        return sha256.AsSpan().SequenceEqual(header.Sha256);
    }

    /// <summary>The file this connection is receiving.</summary>
    private sealed class Incoming(FileHeader header, string target, PartialFile partial)
    {
        public FileHeader Header { get; } = header;

        public string Target { get; } = target;

        public PartialFile Partial { get; } = partial;

        /// <summary>Where the data message starts in the file.</summary>
        public long Start { get; set; }

        public Stopwatch Clock { get; } = Stopwatch.StartNew();
    }
}
