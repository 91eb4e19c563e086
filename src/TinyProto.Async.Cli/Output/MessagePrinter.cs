using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TinyProto.Async.Cli.Output;

/// <summary>
/// Prints what happens on connections (opened, a message, closed) as text lines, hex dumps or JSON lines, one event at
/// a time whatever the number of connections. JSON lines carry the whole payload (of a message small enough to buffer); text and hex show up to
/// <see cref="DisplayLimit"/> bytes of it and say how many more there were.
/// </summary>
internal sealed class MessagePrinter(TextWriter output, MessageFormat format, int displayLimit)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly object _lock = new();

    public int DisplayLimit { get; } = displayLimit;

    public void Opened(int connection, string remote, DateTimeOffset time) => Event("opened", connection, remote, time, null);

    public void Closed(int connection, string remote, DateTimeOffset time, string? reason) => Event("closed", connection, remote, time, reason);

    /// <summary>
    /// One message; <paramref name="savedTo"/> is where <c>--save</c> wrote it, if it did. A message too large to buffer comes
    /// as its first bytes (<paramref name="payload"/>) and its <paramref name="totalLength"/>.
    /// </summary>
    public void Message(int connection, string remote, DateTimeOffset time, ReadOnlySequence<byte> payload, string? savedTo = null, long? totalLength = null)
    {
        long size = totalLength ?? payload.Length;
        string more = size > payload.Length && payload.Length < DisplayLimit
            ? string.Create(CultureInfo.InvariantCulture, $"… (+{size - payload.Length} bytes)")
            : string.Empty;
        lock (_lock)
        {
            switch (format)
            {
                case MessageFormat.Json:
                    WriteJson("message", connection, remote, time, payload, detail: null, savedTo, size);
                    break;
                case MessageFormat.Hex:
                    output.WriteLine($"{Prefix(connection, remote, time)} {Size(size)}{Saved(savedTo)}");
                    WriteHexDump(payload, size);
                    break;
                default:
                    output.WriteLine($"{Prefix(connection, remote, time)} {Size(size)}{Saved(savedTo)}  {Text(payload, DisplayLimit)}{more}");
                    break;
            }

            output.Flush();
        }
    }

    /// <summary>A message's payload alone: a reply that <c>send</c> prints (text: the text and a new line; hex: a dump; JSON: one line).</summary>
    public void Payload(ReadOnlySequence<byte> payload, int sequence, DateTimeOffset time)
    {
        lock (_lock)
        {
            switch (format)
            {
                case MessageFormat.Json:
                    WriteJson("reply", sequence, remote: null, time, payload, detail: null, savedTo: null, payload.Length);
                    break;
                case MessageFormat.Hex:
                    WriteHexDump(payload, payload.Length);
                    break;
                default:
                    output.WriteLine(Text(payload, int.MaxValue));
                    break;
            }

            output.Flush();
        }
    }

    /// <summary>A payload as text: UTF-8, with control characters and bytes that are not UTF-8 as <c>\xNN</c> (a new line as <c>\n</c>).</summary>
    public static string Text(ReadOnlySequence<byte> payload, int limit)
    {
        long shown = Math.Min(payload.Length, limit);
        byte[] bytes = payload.Slice(0, shown).ToArray();
        var text = new StringBuilder(bytes.Length);
        var decoder = Encoding.UTF8;
        int i = 0;
        while (i < bytes.Length)
        {
            int length = Utf8SequenceLength(bytes, i);
            if (length == 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"\\x{bytes[i]:x2}");
                i++;
                continue;
            }

            string character = decoder.GetString(bytes, i, length);
            i += length;
            switch (character)
            {
                case "\\":
                    text.Append(@"\\");
                    break;
                case "\n":
                    text.Append(@"\n");
                    break;
                case "\r":
                    text.Append(@"\r");
                    break;
                case "\t":
                    text.Append(@"\t");
                    break;
                default:
                    if (character.Length == 1 && char.IsControl(character[0]))
                    {
                        text.Append(CultureInfo.InvariantCulture, $"\\x{(int)character[0]:x2}");
                    }
                    else
                    {
                        text.Append(character);
                    }

                    break;
            }
        }

        if (payload.Length > shown)
        {
            text.Append(CultureInfo.InvariantCulture, $"… (+{payload.Length - shown} bytes)");
        }

        return text.ToString();
    }

    private static string Prefix(int connection, string remote, DateTimeOffset time) =>
        string.Create(CultureInfo.InvariantCulture, $"{time.ToLocalTime():HH:mm:ss.fff} #{connection} {remote}");

    private static string Size(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes} B");

    private static string Saved(string? savedTo) => savedTo is null ? string.Empty : $" -> {savedTo}";

    /// <summary>The length of the valid UTF-8 sequence at <paramref name="index"/>, or 0 when there is none.</summary>
    private static int Utf8SequenceLength(byte[] bytes, int index)
    {
        int length = bytes[index] switch
        {
            < 0x80 => 1,
            >= 0xC2 and < 0xE0 => 2,
            >= 0xE0 and < 0xF0 => 3,
            >= 0xF0 and < 0xF5 => 4,
            _ => 0,
        };
        if (length == 0 || index + length > bytes.Length)
        {
            return 0;
        }

        try
        {
            _ = StrictUtf8.GetCharCount(bytes, index, length);
            return length;
        }
        catch (DecoderFallbackException)
        {
            return 0;
        }
    }

    private void Event(string name, int connection, string remote, DateTimeOffset time, string? detail)
    {
        lock (_lock)
        {
            if (format == MessageFormat.Json)
            {
                WriteJson(name, connection, remote, time, payload: null, detail, savedTo: null, size: 0);
            }
            else
            {
                output.WriteLine($"{Prefix(connection, remote, time)} {name}{(detail is null ? string.Empty : ": " + detail)}");
            }

            output.Flush();
        }
    }

    private void WriteJson(string name, int connection, string? remote, DateTimeOffset time, ReadOnlySequence<byte>? payload, string? detail, string? savedTo, long size)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture));
            json.WriteString("event", name);
            json.WriteNumber(name == "reply" ? "sequence" : "connection", connection);
            if (remote is not null)
            {
                json.WriteString("remote", remote);
            }

            if (detail is not null)
            {
                json.WriteString("reason", detail);
            }

            if (payload is { } bytes)
            {
                json.WriteNumber("size", size);
                if (size > bytes.Length)
                {
                    // Streamed (larger than the buffered size): only its first bytes are here.
                    json.WriteBoolean("truncated", true);
                }

                byte[] array = bytes.ToArray();
                try
                {
                    json.WriteString("text", StrictUtf8.GetString(array));
                }
                catch (DecoderFallbackException)
                {
                    // Not UTF-8: the base64 alone says what it was.
                }

                json.WriteBase64String("base64", array);
                if (savedTo is not null)
                {
                    json.WriteString("saved", savedTo);
                }
            }

            json.WriteEndObject();
        }

        output.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private void WriteHexDump(ReadOnlySequence<byte> payload, long size)
    {
        long shown = Math.Min(payload.Length, DisplayLimit);
        byte[] bytes = payload.Slice(0, shown).ToArray();
        var line = new StringBuilder(80);
        for (int offset = 0; offset < bytes.Length; offset += 16)
        {
            line.Clear();
            line.Append(CultureInfo.InvariantCulture, $"  {offset:x8}  ");
            int count = Math.Min(16, bytes.Length - offset);
            for (int i = 0; i < 16; i++)
            {
                line.Append(i < count ? bytes[offset + i].ToString("x2", CultureInfo.InvariantCulture) + " " : "   ");
                if (i == 7)
                {
                    line.Append(' ');
                }
            }

            line.Append(" |");
            for (int i = 0; i < count; i++)
            {
                byte b = bytes[offset + i];
                line.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
            }

            line.Append('|');
            output.WriteLine(line.ToString());
        }

        if (size > shown)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  … (+{size - shown} bytes)"));
        }
    }
}
