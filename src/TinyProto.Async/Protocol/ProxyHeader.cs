using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;

namespace TinyProto.Async.Protocol;

/// <summary>
/// A PROXY protocol header (HAProxy's <c>proxy-protocol.txt</c>, versions 1 and 2), the few bytes a TCP load balancer
/// sends before the client's own bytes to say whom it forwards: the client's address and port, and the address it
/// connected to. <see cref="Source"/> and <see cref="Destination"/> are null when the header carries none
/// (<c>UNKNOWN</c>, <c>LOCAL</c> such as a balancer's health check, or an address family other than IPv4 and IPv6):
/// the connection's own addresses stand.
/// </summary>
internal sealed record ProxyHeader(int Version, IPEndPoint? Source, IPEndPoint? Destination, IReadOnlyList<ProxyTlv> Tlvs)
{
    /// <summary>A v2 <c>LOCAL</c> header: the proxy made the connection itself (its health check), forwarding no client.</summary>
    public bool IsLocal { get; init; }

    /// <summary>A version 1 header is one line of at most this many bytes, <c>\r\n</c> included.</summary>
    public const int MaxV1Length = 107;

    /// <summary>A version 2 header is this 12-byte signature, version and command, family and protocol, and a 16-bit length.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>The fixed part of a version 2 header: the signature and 4 bytes.</summary>
    public const int V2FixedLength = 16;
}

/// <summary>A type-length-value entry of a version 2 header (such as 0x01 ALPN, 0x02 the authority, 0x20 SSL).</summary>
internal sealed record ProxyTlv(byte Type, byte[] Value);

/// <summary>What <see cref="ProxyHeaderReader.TryRead"/> made of the bytes so far.</summary>
internal enum ProxyReadStatus
{
    /// <summary>A whole, valid header: it is in <c>header</c>, and <c>consumed</c> bytes are its.</summary>
    Complete,

    /// <summary>What is there is a valid beginning: read more bytes and ask again.</summary>
    NeedMoreData,

    /// <summary>Not a valid header, whatever follows; <c>error</c> says why. The connection must be closed.</summary>
    Invalid,
}

/// <summary>
/// Reads a PROXY protocol header (v1 or v2) from the first bytes of a connection, I/O-free: the caller feeds what has
/// arrived, and reads on while <see cref="ProxyReadStatus.NeedMoreData"/>. A connection on a listener that expects the
/// header must start with one: anything else is <see cref="ProxyReadStatus.Invalid"/>, never guessed.
/// </summary>
internal static class ProxyHeaderReader
{
    /// <summary>A version 2 header's address block and TLVs may be this long by default (the field allows 65535).</summary>
    public const int DefaultMaxV2Length = 4096;

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>
    /// The fewest bytes a header that begins with <paramref name="input"/> can have, when <see cref="TryRead"/> said
    /// <see cref="ProxyReadStatus.NeedMoreData"/> (1 for no bytes): a reader that reads exactly up to it before asking
    /// again never takes a byte of the client's, which follow the header.
    /// </summary>
    /// <param name="input">The connection's first bytes, a valid beginning of a header.</param>
    public static long MinimumLength(ReadOnlySequence<byte> input)
    {
        if (input.IsEmpty)
        {
            return 1;
        }

        if (input.FirstSpan[0] == (byte)'P')
        {
            // The shortest line is "PROXY UNKNOWN\r\n"; past it, the line ends at the next "\r\n".
            const int shortestLine = 15;
            return input.Length < shortestLine ? shortestLine : Math.Min(ProxyHeader.MaxV1Length, input.Length + (input.Slice(input.Length - 1).FirstSpan[0] == (byte)'\r' ? 1 : 2));
        }

        if (input.Length < ProxyHeader.V2FixedLength)
        {
            return ProxyHeader.V2FixedLength;
        }

        Span<byte> length = stackalloc byte[2];
        input.Slice(ProxyHeader.V2FixedLength - 2, 2).CopyTo(length);
        return ProxyHeader.V2FixedLength + BinaryPrimitives.ReadUInt16BigEndian(length);
    }

    /// <summary>Reads the header at the start of <paramref name="input"/>.</summary>
    /// <param name="input">The connection's first bytes, as many as have arrived.</param>
    /// <param name="maxV2Length">The largest version 2 length field accepted (address block and TLVs).</param>
    /// <param name="header">The header, when <see cref="ProxyReadStatus.Complete"/>.</param>
    /// <param name="consumed">The header's length in bytes, when complete; the client's bytes follow it.</param>
    /// <param name="error">Why the bytes are not a header, when <see cref="ProxyReadStatus.Invalid"/>.</param>
    public static ProxyReadStatus TryRead(ReadOnlySequence<byte> input, int maxV2Length, out ProxyHeader? header, out long consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        Span<byte> start = stackalloc byte[ProxyHeader.V2FixedLength];
        int have = (int)Math.Min(input.Length, start.Length);
        input.Slice(0, have).CopyTo(start);
        start = start[..have];

        if (start.Length > 0 && start[0] == (byte)'P')
        {
            return TryReadV1(input, out header, out consumed, out error);
        }

        ReadOnlySpan<byte> signature = ProxyHeader.V2Signature;
        int compared = Math.Min(start.Length, signature.Length);
        if (!start[..compared].SequenceEqual(signature[..compared]))
        {
            error = NotAHeader(start);
            return ProxyReadStatus.Invalid;
        }

        return start.Length < ProxyHeader.V2FixedLength
            ? ProxyReadStatus.NeedMoreData
            : TryReadV2(input, start, maxV2Length, out header, out consumed, out error);
    }

    private static ProxyReadStatus TryReadV1(ReadOnlySequence<byte> input, out ProxyHeader? header, out long consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        Span<byte> line = stackalloc byte[ProxyHeader.MaxV1Length];
        int have = (int)Math.Min(input.Length, line.Length);
        input.Slice(0, have).CopyTo(line);
        line = line[..have];

        int prefix = Math.Min(line.Length, V1Prefix.Length);
        if (!line[..prefix].SequenceEqual(V1Prefix[..prefix]))
        {
            error = NotAHeader(line);
            return ProxyReadStatus.Invalid;
        }

        int end = line.IndexOf("\r\n"u8);
        if (end < 0)
        {
            if (line.Length == ProxyHeader.MaxV1Length || line.IndexOf((byte)'\n') >= 0)
            {
                error = line.IndexOf((byte)'\n') >= 0
                    ? "the PROXY v1 line ends with a bare \\n, not \\r\\n"
                    : $"the PROXY v1 line has no \\r\\n within {ProxyHeader.MaxV1Length} bytes";
                return ProxyReadStatus.Invalid;
            }

            foreach (byte b in line)
            {
                if (b is < 0x20 and not (byte)'\r' or > 0x7E)
                {
                    error = $"the PROXY v1 line holds the byte 0x{b:X2}, which is not printable ASCII";
                    return ProxyReadStatus.Invalid;
                }
            }

            return ProxyReadStatus.NeedMoreData;
        }

        string text = Encoding.ASCII.GetString(line[V1Prefix.Length..end]);
        foreach (char c in text)
        {
            if (c is < ' ' or > '~')
            {
                error = $"the PROXY v1 line holds the byte 0x{(int)c:X2}, which is not printable ASCII";
                return ProxyReadStatus.Invalid;
            }
        }

        consumed = end + 2;
        if (text == "UNKNOWN" || text.StartsWith("UNKNOWN ", StringComparison.Ordinal))
        {
            header = new ProxyHeader(1, null, null, []);
            return ProxyReadStatus.Complete;
        }

        string[] parts = text.Split(' ');
        if (parts.Length != 5 || parts[0] is not ("TCP4" or "TCP6"))
        {
            error = parts[0] is "TCP4" or "TCP6"
                ? $"the PROXY v1 line '{Printable(text)}' does not have the 4 fields after {parts[0]} (source and destination address, source and destination port), one space apart"
                : $"the PROXY v1 line names the protocol '{Printable(parts[0])}', not TCP4, TCP6 or UNKNOWN";
            consumed = 0;
            return ProxyReadStatus.Invalid;
        }

        bool v4 = parts[0] == "TCP4";
        if (!TryAddress(parts[1], v4, out IPAddress? source, out error) || !TryAddress(parts[2], v4, out IPAddress? destination, out error)
            || !TryPort(parts[3], out int sourcePort, out error) || !TryPort(parts[4], out int destinationPort, out error))
        {
            consumed = 0;
            return ProxyReadStatus.Invalid;
        }

        header = new ProxyHeader(1, new IPEndPoint(source!, sourcePort), new IPEndPoint(destination!, destinationPort), []);
        return ProxyReadStatus.Complete;
    }

    private static ProxyReadStatus TryReadV2(ReadOnlySequence<byte> input, ReadOnlySpan<byte> start, int maxV2Length, out ProxyHeader? header, out long consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        int version = start[12] >> 4;
        int command = start[12] & 0x0F;
        int family = start[13] >> 4;
        int transport = start[13] & 0x0F;
        int length = BinaryPrimitives.ReadUInt16BigEndian(start[14..]);
        if (version != 2)
        {
            error = $"the PROXY v2 header has version {version} in its 13th byte (0x{start[12]:X2}), not 2";
            return ProxyReadStatus.Invalid;
        }

        if (command > 1)
        {
            error = $"the PROXY v2 header has command {command}, neither LOCAL (0) nor PROXY (1)";
            return ProxyReadStatus.Invalid;
        }

        if (family > 3 || transport > 2)
        {
            error = $"the PROXY v2 header has the family and protocol byte 0x{start[13]:X2}, which the specification does not define";
            return ProxyReadStatus.Invalid;
        }

        if (length > maxV2Length)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"the PROXY v2 header says {length} bytes follow, more than this listener's limit of {maxV2Length}");
            return ProxyReadStatus.Invalid;
        }

        int addressLength = family switch { 1 => 12, 2 => 36, 3 => 216, _ => 0 };
        if (command == 1 && length < addressLength)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"the PROXY v2 header's length {length} is too short for its {FamilyName(family)} addresses ({addressLength} bytes)");
            return ProxyReadStatus.Invalid;
        }

        if (input.Length < ProxyHeader.V2FixedLength + length)
        {
            return ProxyReadStatus.NeedMoreData;
        }

        byte[] body = input.Slice(ProxyHeader.V2FixedLength, length).ToArray();
        IPEndPoint? source = null;
        IPEndPoint? destination = null;
        int tlvStart = 0;
        if (command == 1 && family is 1 or 2)
        {
            int size = family == 1 ? 4 : 16;
            source = new IPEndPoint(new IPAddress(body.AsSpan(0, size)), BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(2 * size)));
            destination = new IPEndPoint(new IPAddress(body.AsSpan(size, size)), BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan((2 * size) + 2)));
        }

        if (command == 1)
        {
            tlvStart = addressLength;
        }

        var tlvs = new List<ProxyTlv>();
        if (command == 1)
        {
            for (int at = tlvStart; at < body.Length;)
            {
                if (body.Length - at < 3)
                {
                    error = string.Create(CultureInfo.InvariantCulture, $"the PROXY v2 header ends inside a TLV's type and length ({body.Length - at} of 3 bytes)");
                    return ProxyReadStatus.Invalid;
                }

                int valueLength = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(at + 1));
                if (body.Length - at - 3 < valueLength)
                {
                    error = string.Create(CultureInfo.InvariantCulture, $"the PROXY v2 header's TLV of type 0x{body[at]:X2} says {valueLength} bytes, but only {body.Length - at - 3} are left in the header");
                    return ProxyReadStatus.Invalid;
                }

                tlvs.Add(new ProxyTlv(body[at], body.AsSpan(at + 3, valueLength).ToArray()));
                at += 3 + valueLength;
            }
        }

        consumed = ProxyHeader.V2FixedLength + length;
        header = new ProxyHeader(2, source, destination, tlvs) { IsLocal = command == 0 };
        return ProxyReadStatus.Complete;
    }

    private static bool TryAddress(string text, bool v4, out IPAddress? address, out string? error)
    {
        error = null;
        if (IPAddress.TryParse(text, out address)
            && address.AddressFamily == (v4 ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6)
            && (!v4 || text.Count(c => c == '.') == 3) && !text.Contains('%', StringComparison.Ordinal))
        {
            return true;
        }

        error = $"the PROXY v1 line's address '{Printable(text)}' is not an {(v4 ? "IPv4" : "IPv6")} address";
        address = null;
        return false;
    }

    private static bool TryPort(string text, out int port, out string? error)
    {
        error = null;
        port = 0;
        if (text.Length is >= 1 and <= 5 && text.All(char.IsAsciiDigit) && (text.Length == 1 || text[0] != '0')
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= 65535)
        {
            return true;
        }

        error = $"the PROXY v1 line's port '{Printable(text)}' is not a number from 0 to 65535";
        return false;
    }

    private static string NotAHeader(ReadOnlySpan<byte> start) =>
        $"the connection did not start with a PROXY protocol header (it began with {Hex(start[..Math.Min(start.Length, 8)])}); this listener expects one from its proxy";

    private static string FamilyName(int family) => family switch { 1 => "IPv4", 2 => "IPv6", 3 => "UNIX", _ => "unspecified" };

    private static string Printable(string text) => text.Length > 40 ? text[..40] + "..." : text;

    private static string Hex(ReadOnlySpan<byte> bytes) => bytes.IsEmpty ? "nothing" : Convert.ToHexString(bytes);
}
