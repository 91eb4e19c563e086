using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Unicode;

namespace TinyProto.Samples.RequestReply;

/// <summary>
/// One request of the store's text protocol, decoded from one message by <see cref="TryParse"/>, a pure function
/// (no store, no connection) shared by the server, which answers a bad request with <c>ERROR</c> and the reason,
/// and by the one-shot commands, which refuse to send one.
/// </summary>
internal sealed record StoreRequest(StoreOperation Operation, string Key = "", string Value = "")
{
    /// <summary>The longest key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 256;

    /// <summary>The longest value, in UTF-8 bytes.</summary>
    public const int MaxValueBytes = 64 * 1024;

    private const string Expected = "expected GET key, SET key value, DEL key or COUNT";

    /// <summary>The request as it goes on the wire.</summary>
    public string Text => Operation switch
    {
        StoreOperation.Get => $"GET {Key}",
        StoreOperation.Set => $"SET {Key} {Value}",
        StoreOperation.Delete => $"DEL {Key}",
        _ => "COUNT",
    };

    /// <summary>
    /// Decodes <paramref name="message"/>: a command in capitals, then its arguments, each after one space. A key is
    /// 1 to <see cref="MaxKeyBytes"/> bytes with no space or control character; a value is everything after the key's
    /// space (spaces and line breaks included, possibly empty), at most <see cref="MaxValueBytes"/> bytes.
    /// </summary>
    /// <returns>True with the request, or false with what is wrong with it, in words fit for an <c>ERROR</c> reply.</returns>
    public static bool TryParse(ReadOnlySpan<byte> message, [NotNullWhen(true)] out StoreRequest? request, [NotNullWhen(false)] out string? error)
    {
        request = null;
        if (message.IsEmpty)
        {
            error = $"empty request ({Expected})";
            return false;
        }

        if (!Utf8.IsValid(message))
        {
            error = "the request is not valid UTF-8";
            return false;
        }

        int space = message.IndexOf((byte)' ');
        ReadOnlySpan<byte> command = space < 0 ? message : message[..space];
        ReadOnlySpan<byte> arguments = space < 0 ? [] : message[(space + 1)..];
        if (command.SequenceEqual("COUNT"u8))
        {
            error = space < 0 ? null : "COUNT takes no arguments";
            request = error is null ? new StoreRequest(StoreOperation.Count) : null;
            return error is null;
        }

        if (command.SequenceEqual("GET"u8) || command.SequenceEqual("DEL"u8))
        {
            string name = command.SequenceEqual("GET"u8) ? "GET" : "DEL";
            error = space < 0 ? $"{name} needs a key ({name} key)"
                : arguments.Contains((byte)' ') ? $"{name} takes one key, and a key has no spaces"
                : CheckKey(arguments);
            request = error is null ? new StoreRequest(name == "GET" ? StoreOperation.Get : StoreOperation.Delete, Decode(arguments)) : null;
            return error is null;
        }

        if (command.SequenceEqual("SET"u8))
        {
            int keyEnd = arguments.IndexOf((byte)' ');
            error = space < 0 || keyEnd < 0 ? "SET needs a key and a value (SET key value)"
                : CheckKey(arguments[..keyEnd]) ?? CheckValue(arguments[(keyEnd + 1)..]);
            request = error is null ? new StoreRequest(StoreOperation.Set, Decode(arguments[..keyEnd]), Decode(arguments[(keyEnd + 1)..])) : null;
            return error is null;
        }

        error = $"unknown command '{Shorten(command)}' ({Expected})";
        return false;
    }

    private static string? CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty)
        {
            return "the key is empty";
        }

        if (key.Length > MaxKeyBytes)
        {
            return $"the key is {key.Length} bytes; the limit is {MaxKeyBytes}";
        }

        return key.IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0 || key.Contains((byte)0x7F)
            ? "a key has no control characters"
            : null;
    }

    private static string? CheckValue(ReadOnlySpan<byte> value) =>
        value.Length > MaxValueBytes ? $"the value is {value.Length} bytes; the limit is {MaxValueBytes}" : null;

    private static string Decode(ReadOnlySpan<byte> text) => Encoding.UTF8.GetString(text);

    /// <summary>An unknown command, as quoted back: at most 32 characters, control characters shown as '?'.</summary>
    private static string Shorten(ReadOnlySpan<byte> command)
    {
        string text = Decode(command);
        text = text.Length > 32 ? text[..32] + "..." : text;
        return string.Create(text.Length, text, static (chars, source) =>
        {
            for (int i = 0; i < chars.Length; i++)
            {
                chars[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }
}
