using System.Buffers;
using System.Globalization;
using TinyProto.Async.Cli.Output;

namespace TinyProto.Async.Cli.Commands;

/// <summary>What <c>listen</c> does with each message.</summary>
internal sealed record ListenSettings(MessagePrinter Printer, bool Echo, DirectoryInfo? SaveDirectory);

/// <summary>The <c>listen</c> server: numbers its connections from 1 and prints when each opens and closes.</summary>
internal sealed class ListenServer : TinyProtoServer
{
    private int _connections;

    public ListenServer(ListenSettings settings) =>
        SetConnectionHandler(() => new ListenConnection(Interlocked.Increment(ref _connections), settings));

    protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        var listened = (ListenConnection)connection;
        listened.Settings.Printer.Opened(listened.Number, listened.Remote, DateTimeOffset.Now);
        return default;
    }

    protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        var listened = (ListenConnection)connection;
        string reason = connection.CloseError is { } error
            ? CommandRunner.Describe(error)
            : connection.CloseReason switch
            {
                TinyProtoCloseReason.PeerClosed => "closed by the peer",
                TinyProtoCloseReason.ServerStopped => "server stopped",
                _ => "closed",
            };
        listened.Settings.Printer.Closed(listened.Number, listened.Remote, DateTimeOffset.Now, reason);
        return default;
    }
}

/// <summary>One connection of <c>listen</c>.</summary>
internal sealed class ListenConnection(int number, ListenSettings settings) : TinyProtoConnection
{
    // Touched by the hooks alone, which run one at a time.
    private int _messages;

    public int Number { get; } = number;

    public ListenSettings Settings { get; } = settings;

    public string Remote => RemoteEndPoint?.ToString() ?? "?";

    protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        DateTimeOffset time = DateTimeOffset.Now;
        int sequence = ++_messages;
        string? savedTo = null;
        if (Settings.SaveDirectory is { } directory)
        {
            savedTo = FileName(directory, sequence);
            await using var file = new FileStream(savedTo, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1, useAsync: true);
            foreach (ReadOnlyMemory<byte> segment in message)
            {
                await file.WriteAsync(segment, cancellationToken);
            }
        }

        Settings.Printer.Message(Number, Remote, time, message, savedTo);
        if (Settings.Echo)
        {
            await TransmitAsync(message, cancellationToken);
        }
    }

    /// <summary>
    /// A message too large to buffer: its first bytes are printed, the rest goes to the file (<c>--save</c>) or is
    /// skipped, so memory stays bounded; <c>--echo</c> sends it back streamed from the saved file.
    /// </summary>
    protected override async ValueTask TransmissionStreamReceivedAsync(Stream message, CancellationToken cancellationToken)
    {
        DateTimeOffset time = DateTimeOffset.Now;
        long length = message.Length;
        byte[] head = new byte[(int)Math.Min(length, Math.Max(Settings.Printer.DisplayLimit, 0))];
        await message.ReadExactlyAsync(head, cancellationToken);
        int sequence = ++_messages;
        string? savedTo = null;
        if (Settings.SaveDirectory is { } directory)
        {
            savedTo = FileName(directory, sequence);
            await using var file = new FileStream(savedTo, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
            await file.WriteAsync(head, cancellationToken);
            await message.CopyToAsync(file, cancellationToken);
        }
        else
        {
            await message.CopyToAsync(Stream.Null, cancellationToken);
        }

        // The printer shows the head and says how many bytes there were in all.
        Settings.Printer.Message(Number, Remote, time, new ReadOnlySequence<byte>(head), savedTo, length);
        if (Settings.Echo)
        {
            if (savedTo is null)
            {
                throw new InvalidOperationException("--echo of a message larger than the buffered size needs --save, which keeps it to send back");
            }

            await using var saved = new FileStream(savedTo, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            await TransmitAsync(saved, length, cancellationToken);
        }
    }

    private string FileName(DirectoryInfo directory, int sequence) =>
        Path.Combine(directory.FullName, string.Create(CultureInfo.InvariantCulture, $"{Number}-{sequence}.bin"));
}
