using System.Net;

namespace TinyProto.Async;

/// <summary>
/// The PROXY protocol (versions 1 and 2, as HAProxy's <c>send-proxy</c> and <c>send-proxy-v2</c> and nginx's
/// <c>proxy_protocol on</c> send it) on one of a server's addresses: pass it to
/// <see cref="TinyProtoServer.AddAddress(string, int, TinyProtoProxyProtocolOptions)"/>. Every connection to that address
/// must come from one of <see cref="TrustedProxies"/> and begin with a PROXY header, read before the tinyproto opening
/// handshake; the connection's <see cref="TinyProtoConnection.RemoteEndPoint"/> is then the client's address the header
/// names, and <see cref="TinyProtoConnection.ProxyEndPoint"/> the proxy's.
/// </summary>
/// <remarks>
/// Nothing is guessed: a connection from an address that is not trusted is closed at once, and one whose header is
/// missing, malformed, longer than <see cref="MaxV2HeaderLength"/> or not complete within the server's
/// <see cref="TinyProtoConnectionOptions.Timeout"/> is closed; each with a log line that says why. A header with no
/// client address (v1 <c>UNKNOWN</c>, v2 <c>LOCAL</c> as in a proxy's own health check, or a family other than IPv4 and
/// IPv6) leaves the proxy's address as the remote one. The header counts towards
/// <see cref="TinyProtoServer.MaxPendingHandshakes"/>, and <see cref="TinyProtoServer.MaxConnectionsPerRemoteAddress"/>
/// counts the client's address, not the proxy's. The server copies these options when the address is added.
/// </remarks>
public sealed class TinyProtoProxyProtocolOptions
{
    private int _maxV2HeaderLength = 4096;

    /// <summary>
    /// The addresses and networks of the proxies allowed to connect (an address is a network of one: <c>/32</c>, or
    /// <c>/128</c>). An IPv4 address mapped to IPv6 matches as the IPv4 address. At least one is needed.
    /// </summary>
    public IList<IPNetwork> TrustedProxies { get; } = new List<IPNetwork>();

    /// <summary>
    /// The longest version 2 address block and TLVs accepted, in bytes (the header's own limit is 65535). Default: 4096,
    /// ample for the addresses and the TLVs HAProxy sends.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 216 (a UNIX address block) or above 65535.</exception>
    public int MaxV2HeaderLength
    {
        get => _maxV2HeaderLength;
        set => _maxV2HeaderLength = value is >= 216 and <= ushort.MaxValue
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxV2HeaderLength must be from 216 (room for a UNIX address block) to 65535 (the header's length field).");
    }

    /// <summary>Adds a trusted proxy by its address (<c>10.0.0.5</c>, <c>::1</c>) or network (<c>10.0.0.0/8</c>, <c>fd00::/8</c>).</summary>
    /// <param name="addressOrNetwork">An IP address, or a network in CIDR notation.</param>
    /// <returns>These options, for chaining.</returns>
    /// <exception cref="ArgumentException"><paramref name="addressOrNetwork"/> is neither an IP address nor a network in CIDR notation.</exception>
    public TinyProtoProxyProtocolOptions Trust(string addressOrNetwork)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(addressOrNetwork);
        if (IPAddress.TryParse(addressOrNetwork, out IPAddress? address) && !addressOrNetwork.Contains('/', StringComparison.Ordinal))
        {
            TrustedProxies.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
        }
        else if (IPNetwork.TryParse(addressOrNetwork, out IPNetwork network))
        {
            // Some runtimes mask the bits past the prefix away: "10.0.0.1/8" is a typo, not 10.0.0.0/8.
            if (!network.BaseAddress.Equals(IPAddress.Parse(addressOrNetwork.AsSpan(0, addressOrNetwork.IndexOf('/', StringComparison.Ordinal)))))
            {
                throw new ArgumentException($"'{addressOrNetwork}' is neither an IP address nor a network in CIDR notation: it has bits set past its prefix (the network is {network}).", nameof(addressOrNetwork));
            }

            TrustedProxies.Add(network);
        }
        else
        {
            throw new ArgumentException($"'{addressOrNetwork}' is neither an IP address nor a network in CIDR notation (such as 10.0.0.0/8 or fd00::/8, with no bits set past the prefix).", nameof(addressOrNetwork));
        }

        return this;
    }
}

/// <summary>A listener's PROXY protocol settings, copied from <see cref="TinyProtoProxyProtocolOptions"/> when its address was added: read-only.</summary>
internal sealed class ProxyTrust
{
    private readonly IPNetwork[] _proxies;

    public ProxyTrust(TinyProtoProxyProtocolOptions options)
    {
        _proxies = [.. options.TrustedProxies];
        MaxV2HeaderLength = options.MaxV2HeaderLength;
    }

    public int MaxV2HeaderLength { get; }

    /// <summary>Whether <paramref name="address"/> (null when unknown: never) is one of the trusted proxies.</summary>
    public bool Trusts(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        IPAddress plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (IPNetwork network in _proxies)
        {
            if (network.Contains(plain) || network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
