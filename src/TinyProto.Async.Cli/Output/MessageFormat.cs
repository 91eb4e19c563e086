namespace TinyProto.Async.Cli.Output;

/// <summary>How <c>listen</c> and <c>send</c> print a message.</summary>
internal enum MessageFormat
{
    /// <summary>UTF-8 text; bytes that are not, and control characters, as <c>\xNN</c>.</summary>
    Text,

    /// <summary>A hex dump: offset, 16 bytes in hex, the same as ASCII.</summary>
    Hex,

    /// <summary>One JSON object per line, with the payload in base64 (and as text when it is UTF-8).</summary>
    Json,
}
