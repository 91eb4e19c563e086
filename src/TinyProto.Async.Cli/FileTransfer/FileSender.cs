using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// <c>send-file</c>'s side of the exchange, one file at a time over one connection: the header, the receiver's answer,
/// the start (the receiver's offset when its partial copy matches this file's first bytes, else 0), the data as one
/// streamed message, and the receiver's verdict. See docs/cli-file-transfer.md.
/// </summary>
internal sealed class FileSender(TinyProtoConnection connection, TimeSpan timeout, RateLimit? limit, ITransferView view)
{
    /// <summary>How fast a receiver is assumed to hash a partial copy at least, for how long to wait for its answer.</summary>
    private const double HashBytesPerSecond = 100e6;

    /// <summary>File bytes sent and confirmed so far (not those the receiver had already).</summary>
    public long BytesSent { get; private set; }

    /// <summary>Sends <paramref name="file"/>; false when the receiver refused it or it failed verification (the view was told why).</summary>
    public async Task<bool> SendAsync(LocalFile file, CancellationToken cancellationToken)
    {
        byte[] sha256 = await HashAsync(file.Path, file.Size, cancellationToken);
        var header = new FileHeader(file.Name, file.Size, sha256);

        // The receiver hashes the partial copy it has before it answers.
        TimeSpan answerWait = timeout + TimeSpan.FromSeconds(file.Size / HashBytesPerSecond);
        ReceiverReply answer = Parse(await connection.RequestAsync(header.ToJson(), answerWait, cancellationToken));
        switch (answer.Kind)
        {
            case ReplyKind.Refused:
                view.Rejected(file, $"refused by the receiver: {answer.Reason}");
                return false;
            case ReplyKind.Complete:
                view.Note(file, "the receiver has it already (same SHA-256): nothing to send");
                return true;
            case ReplyKind.Ready:
                break;
            default:
                throw Unexpected(answer, "to a file header");
        }

        long start = await StartAsync(file, answer, cancellationToken);
        await connection.TransmitAsync(new SenderStart(start).ToJson(), cancellationToken);
        var clock = Stopwatch.StartNew();
        view.Started(file, start);
        await using (var source = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true))
        {
            source.Position = start;
            await using var counted = new ProgressStream(source, read => view.Advanced(file, start + read), limit);
            await connection.TransmitAsync(counted, file.Size - start, cancellationToken);
        }

        ReceiverReply verdict = Parse(await VerdictAsync(file, cancellationToken));
        switch (verdict.Kind)
        {
            case ReplyKind.Done:
                BytesSent += file.Size - start;
                view.Finished(file, start, clock.Elapsed);
                return true;
            case ReplyKind.Failed:
                view.Rejected(file, $"failed verification on the receiver: {verdict.Reason}");
                return false;
            default:
                throw Unexpected(verdict, "to the data");
        }
    }

    /// <summary>The receiver's offset if its bytes are this file's first bytes, else 0 (and the view is told why).</summary>
    private async Task<long> StartAsync(LocalFile file, ReceiverReply ready, CancellationToken cancellationToken)
    {
        if (ready.Offset == 0)
        {
            return 0;
        }

        if (ready.Offset < 0 || ready.Offset > file.Size)
        {
            view.Note(file, string.Create(CultureInfo.InvariantCulture, $"the receiver holds {ready.Offset} bytes of a {file.Size}-byte file; sending from the start"));
            return 0;
        }

        byte[] prefix = await HashAsync(file.Path, ready.Offset, cancellationToken);
        if (!prefix.AsSpan().SequenceEqual(ready.PrefixSha256))
        {
            view.Note(file, string.Create(CultureInfo.InvariantCulture, $"the receiver's partial copy ({ready.Offset} bytes) differs from this file; sending from the start"));
            return 0;
        }

        view.Note(file, string.Create(CultureInfo.InvariantCulture, $"resuming at {ready.Offset} of {file.Size} bytes (the receiver's partial copy matches)"));
        return ready.Offset;
    }

    private async Task<byte[]> VerdictAsync(LocalFile file, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            return await connection.ReceiveAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                $"the receiver did not confirm '{file.Name}' within {timeout.TotalSeconds:0.###} s of the last byte"));
        }
    }

    /// <summary>The SHA-256 of the first <paramref name="length"/> bytes of the file.</summary>
    private static async Task<byte[]> HashAsync(string path, long length, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[1 << 16];
        long left = length;
        while (left > 0)
        {
            int read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken);
            if (read == 0)
            {
                throw new IOException($"'{path}' became shorter while it was being read");
            }

            hash.AppendData(buffer, 0, read);
            left -= read;
        }

        return hash.GetHashAndReset();
    }

    private static ReceiverReply Parse(byte[] message)
    {
        try
        {
            return ReceiverReply.Parse(message);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"the peer does not speak the file exchange (is it 'tinyproto receive-files'?): {ex.Message}", ex);
        }
    }

    private static InvalidDataException Unexpected(ReceiverReply reply, string when) =>
        new($"the receiver answered '{reply.Kind.ToString().ToLowerInvariant()}' {when}, which breaks the file exchange");
}
