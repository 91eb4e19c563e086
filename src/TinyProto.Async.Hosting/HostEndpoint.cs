using System.Globalization;
using System.Net;

namespace TinyProto.Async.Hosting;

/// <summary>A <c>HOST:PORT</c> endpoint from configuration: an IP address (<c>[::1]</c> for IPv6) or a host name, and a port 0..65535.</summary>
internal readonly record struct HostEndpoint(string Host, int Port)
{
    /// <summary>Reads <paramref name="text"/>; on failure, <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(string? text, out HostEndpoint endpoint, out string? error)
    {
        endpoint = default;
        int colon = text?.LastIndexOf(':') ?? -1;
        if (string.IsNullOrWhiteSpace(text) || colon <= 0 || colon == text.Length - 1)
        {
            error = "expected HOST:PORT, such as 127.0.0.1:5000 or [::1]:5000";
            return false;
        }

        string host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
            if (!IPAddress.TryParse(host, out _))
            {
                error = $"'{host}' in brackets is not an IPv6 address";
                return false;
            }
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            error = "an IPv6 address goes in brackets: [::1]:5000";
            return false;
        }

        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > IPEndPoint.MaxPort)
        {
            error = $"the port '{text[(colon + 1)..]}' is not a number from 0 to 65535";
            return false;
        }

        endpoint = new HostEndpoint(host, port);
        error = null;
        return true;
    }
}
