using System.Globalization;
using System.Text;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>
/// <c>receive-files</c>' lines: one per event (opened, receiving, resuming, received, refused, failed, interrupted,
/// closed), with the time, the connection's number and its address. Names come from the network, so control
/// characters in them are shown escaped. Thread-safe: connections write whole lines.
/// </summary>
internal sealed class ReceiverLog(TextWriter output)
{
    public void Write(int connection, string remote, string text)
    {
        string line = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.Now:HH:mm:ss.fff} #{connection} {remote} {text}");
        lock (output)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }

    /// <summary><paramref name="name"/> in quotes, control characters and quotes escaped.</summary>
    public static string Quote(string name)
    {
        var builder = new StringBuilder(name.Length + 2).Append('\'');
        foreach (char c in name)
        {
            _ = char.IsControl(c) || c is '\'' or '\\'
                ? builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}")
                : builder.Append(c);
        }

        return builder.Append('\'').ToString();
    }

    public static string Bytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");
}
