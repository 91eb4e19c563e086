using System.Globalization;

namespace TinyProto.Async.Cli;

/// <summary>Where a peer listens, from <c>HOST:PORT</c>, <c>[IPV6]:PORT</c> or a bare <c>PORT</c> (on 127.0.0.1).</summary>
internal sealed record PeerAddress(string Host, int Port)
{
    public const string Syntax = "HOST:PORT, [IPv6]:PORT, or PORT alone for 127.0.0.1";

    public static PeerAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string host;
        string port;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                throw new CommandLineException($"'{text}' is not an address: an IPv6 address is written [ADDRESS]:PORT, such as [::1]:5000");
            }

            host = text[1..close];
            port = text[(close + 2)..];
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon < 0)
            {
                (host, port) = ("127.0.0.1", text);
            }
            else if (text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                throw new CommandLineException($"'{text}' is not an address: put an IPv6 address in brackets, such as [::1]:5000");
            }
            else
            {
                (host, port) = (text[..colon], text[(colon + 1)..]);
            }
        }

        if (host.Length == 0)
        {
            throw new CommandLineException($"'{text}' has no host before the port ({Syntax})");
        }

        return new PeerAddress(host, ParsePort(port, text));
    }

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    private static int ParsePort(string port, string text)
    {
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value is < 1 or > 65535)
        {
            throw new CommandLineException($"'{text}' has no valid port: '{port}' is not a number from 1 to 65535 ({Syntax})");
        }

        return value;
    }
}
