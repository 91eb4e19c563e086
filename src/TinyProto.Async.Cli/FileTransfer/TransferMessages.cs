using System.Globalization;
using System.Text.Json;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// The first message of each file, sender to receiver: what the file is called (relative, '/' between folders), how
/// large it is, and its SHA-256, so the receiver can resume a partial copy and verify the whole. See docs/cli-file-transfer.md.
/// </summary>
internal sealed record FileHeader(string Name, long Size, byte[] Sha256)
{
    /// <summary>The value of <c>"type"</c> that marks a header.</summary>
    public const string Type = "tinyproto-file";

    /// <summary>The version of this exchange; a receiver refuses others.</summary>
    public const int Version = 1;

    /// <summary>
    /// The largest control message (header, reply, start) either side reads as JSON: a header holds a name of at most
    /// <see cref="SafeFileName.MaxLength"/> characters, so it stays far below. Larger messages are file data.
    /// </summary>
    public const int MaxJsonBytes = 64 * 1024;

    public byte[] ToJson() => TransferJson.Write(writer =>
    {
        writer.WriteString("type", Type);
        writer.WriteNumber("version", Version);
        writer.WriteString("name", Name);
        writer.WriteNumber("size", Size);
        writer.WriteString("sha256", TransferJson.Hex(Sha256));
    });

    /// <summary>Reads a header; a message that is not one fails with a <see cref="FormatException"/> that says what is wrong.</summary>
    public static FileHeader Parse(ReadOnlySpan<byte> json, long maxSize)
    {
        using JsonDocument document = TransferJson.Parse(json, "a file header");
        JsonElement root = document.RootElement;
        if (TransferJson.String(root, "type") != Type)
        {
            throw new FormatException($"not a file header: \"type\" is not \"{Type}\"");
        }

        long version = TransferJson.Number(root, "version");
        if (version != Version)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"file header version {version} is not supported (this receiver speaks version {Version})"));
        }

        long size = TransferJson.Number(root, "size");
        if (size < 0 || size > maxSize)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"the size {size} is not from 0 to this receiver's limit of {maxSize} bytes"));
        }

        return new FileHeader(TransferJson.String(root, "name"), size, TransferJson.Sha256(root, "sha256"));
    }
}

/// <summary>The receiver's answers: to a header (<see cref="Ready"/>, <see cref="Complete"/>, <see cref="Refused"/>) and to the data (<see cref="Done"/>, <see cref="Failed"/>).</summary>
internal enum ReplyKind
{
    /// <summary>Send from an offset: the receiver holds that many bytes already, whose SHA-256 it gives.</summary>
    Ready,

    /// <summary>The receiver already has this file, same size and SHA-256: nothing to send.</summary>
    Complete,

    /// <summary>The receiver will not take this file (an unsafe name, too large, no room, in use); the reason says which.</summary>
    Refused,

    /// <summary>The file arrived whole and its SHA-256 matches: it is in place under its name.</summary>
    Done,

    /// <summary>The file arrived but does not match its SHA-256 (or its size); the receiver discarded it.</summary>
    Failed,
}

/// <summary>One answer of the receiver.</summary>
internal sealed record ReceiverReply(ReplyKind Kind, long Offset = 0, byte[]? PrefixSha256 = null, string? Reason = null)
{
    public static ReceiverReply Ready(long offset, byte[] prefixSha256) => new(ReplyKind.Ready, offset, prefixSha256);

    public static ReceiverReply Refused(string reason) => new(ReplyKind.Refused, Reason: reason);

    public static ReceiverReply Failed(string reason) => new(ReplyKind.Failed, Reason: reason);

    public byte[] ToJson() => TransferJson.Write(writer =>
    {
        writer.WriteString("status", Kind.ToString().ToLowerInvariant());
        if (Kind == ReplyKind.Ready)
        {
            writer.WriteNumber("offset", Offset);
            writer.WriteString("prefixSha256", TransferJson.Hex(PrefixSha256!));
        }

        if (Reason is not null)
        {
            writer.WriteString("reason", Reason);
        }
    });

    /// <summary>Reads an answer; anything else fails with a <see cref="FormatException"/>.</summary>
    public static ReceiverReply Parse(ReadOnlySpan<byte> json)
    {
        using JsonDocument document = TransferJson.Parse(json, "the receiver's reply");
        JsonElement root = document.RootElement;
        string status = TransferJson.String(root, "status");
        return status switch
        {
            "ready" => Ready(TransferJson.Number(root, "offset"), TransferJson.Sha256(root, "prefixSha256")),
            "complete" => new ReceiverReply(ReplyKind.Complete),
            "done" => new ReceiverReply(ReplyKind.Done),
            "refused" => Refused(TransferJson.String(root, "reason")),
            "failed" => Failed(TransferJson.String(root, "reason")),
            _ => throw new FormatException($"the receiver's reply has an unknown status \"{status}\""),
        };
    }
}

/// <summary>The sender's answer to <see cref="ReplyKind.Ready"/>: where the data message that follows starts (the receiver's offset, or 0 to start over).</summary>
internal sealed record SenderStart(long Offset)
{
    public byte[] ToJson() => TransferJson.Write(writer => writer.WriteNumber("start", Offset));

    public static SenderStart Parse(ReadOnlySpan<byte> json)
    {
        using JsonDocument document = TransferJson.Parse(json, "the sender's start");
        return new SenderStart(TransferJson.Number(document.RootElement, "start"));
    }
}

/// <summary>The JSON of these messages: one object, UTF-8, members checked by name and kind.</summary>
internal static class TransferJson
{
    /// <summary>Bytes as lower-case hex, as SHA-256 sums are written.</summary>
    public static string Hex(byte[] bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    public static byte[] Write(Action<Utf8JsonWriter> members)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            members(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static JsonDocument Parse(ReadOnlySpan<byte> json, string what)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{what} is not JSON: {ex.Message}", ex);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new FormatException($"{what} is not a JSON object");
        }

        return document;
    }

    public static string String(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new FormatException($"\"{name}\" is missing or not a string");

    public static long Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number)
            ? number
            : throw new FormatException($"\"{name}\" is missing or not a whole number");

    public static byte[] Sha256(JsonElement root, string name)
    {
        string hex = String(root, name);
        if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
        {
            throw new FormatException($"\"{name}\" is not a SHA-256 in hex (64 digits)");
        }

        return Convert.FromHexString(hex);
    }
}
