using System.Buffers;
using System.Net;
using System.Text;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// <see cref="ProxyHeaderReader"/>: PROXY protocol v1 and v2 headers (HAProxy's proxy-protocol.txt) read whole at every
/// split point and across segments, and malformed, oversize or absent headers refused with the reason.
/// </summary>
public sealed class ProxyHeaderTests
{
    private static readonly byte[] ClientBytes = [0xFF, 0x00, 0x00, 0x00, 0x05];

    public static TheoryData<string, string> ValidHeaders => new()
    {
        { "v1 TCP4", Hex("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"u8) },
        { "v1 TCP6", Hex("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"u8) },
        { "v1 UNKNOWN", Hex("PROXY UNKNOWN\r\n"u8) },
        { "v1 UNKNOWN with addresses", Hex("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"u8) },
        { "v2 PROXY IPv4 with a TLV", Hex(V2(0x21, 0x11, [192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB, 0x02, 0x00, 0x03, (byte)'a', (byte)'p', (byte)'i'])) },
        { "v2 PROXY IPv6", Hex(V2(0x21, 0x21, [.. IPAddress.Parse("2001:db8::1").GetAddressBytes(), .. IPAddress.Parse("2001:db8::2").GetAddressBytes(), 0x30, 0x39, 0x01, 0xBB])) },
        { "v2 LOCAL", Hex(V2(0x20, 0x00, [])) },
        { "v2 PROXY UNSPEC", Hex(V2(0x21, 0x00, [])) },
    };

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void TryRead_AValidHeaderGivenAByteAtATime_NeedsMoreUntilItsLastByteThenLeavesTheClientsBytes(string name, string hex)
    {
        byte[] header = Convert.FromHexString(hex);
        byte[] input = [.. header, .. ClientBytes];
        for (int split = 0; split < header.Length; split++)
        {
            ProxyReadStatus status = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input, 0, split), ProxyHeaderReader.DefaultMaxV2Length, out _, out _, out string? error);
            Assert.True(status == ProxyReadStatus.NeedMoreData, $"{name}, {split} bytes: {status} {error}");
        }

        for (int split = header.Length; split <= input.Length; split++)
        {
            ProxyReadStatus status = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input, 0, split), ProxyHeaderReader.DefaultMaxV2Length, out ProxyHeader? read, out long consumed, out string? error);
            Assert.True(status == ProxyReadStatus.Complete, $"{name}, {split} bytes: {status} {error}");
            Assert.Equal(header.Length, consumed);
            Assert.NotNull(read);
        }
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void MinimumLength_EveryIncompletePrefix_AsksForMoreButNeverPastTheHeader(string name, string hex)
    {
        byte[] header = Convert.FromHexString(hex);
        for (int have = 0; have < header.Length; have++)
        {
            long minimum = ProxyHeaderReader.MinimumLength(new ReadOnlySequence<byte>(header, 0, have));
            Assert.True(minimum > have && minimum <= header.Length, $"{name}, {have} bytes: asked for {minimum} of {header.Length}");
        }
    }

    [Fact]
    public void MinimumLength_ReadingExactlyWhatItAsks_EndsAtTheHeadersLastByte()
    {
        // As a socket reader does: read up to the minimum, ask again, until complete.
        byte[] header = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"u8.ToArray();
        int have = 0;
        int reads = 0;
        while (ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(header, 0, have), 4096, out _, out _, out _) == ProxyReadStatus.NeedMoreData)
        {
            have = (int)ProxyHeaderReader.MinimumLength(new ReadOnlySequence<byte>(header, 0, have));
            reads++;
        }

        Assert.Equal(header.Length, have);
        Assert.True(reads < header.Length, $"{reads} reads for {header.Length} bytes");
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void TryRead_AValidHeaderInOneByteSegments_ReadsTheSameAsInOne(string name, string hex)
    {
        byte[] input = [.. Convert.FromHexString(hex), .. ClientBytes];
        var first = new TestSegment(input.AsMemory(0, 1), 0);
        TestSegment last = first;
        for (int i = 1; i < input.Length; i++)
        {
            last = last.Append(input.AsMemory(i, 1));
        }

        ProxyReadStatus split = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(first, 0, last, 1), ProxyHeaderReader.DefaultMaxV2Length, out ProxyHeader? fromSegments, out long consumedFromSegments, out _);
        ProxyReadStatus whole = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input), ProxyHeaderReader.DefaultMaxV2Length, out ProxyHeader? fromOne, out long consumedFromOne, out _);

        Assert.True(split == ProxyReadStatus.Complete, $"{name}: {split}");
        Assert.Equal(whole, split);
        Assert.Equal(consumedFromOne, consumedFromSegments);
        Assert.Equal(fromOne!.Source, fromSegments!.Source);
        Assert.Equal(fromOne.Destination, fromSegments.Destination);
    }

    [Fact]
    public void TryRead_V1Tcp4_GivesTheClientAndTheAddressItConnectedTo()
    {
        ProxyHeader header = Read("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"u8);

        Assert.Equal(1, header.Version);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 56324), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 443), header.Destination);
    }

    [Fact]
    public void TryRead_V1Unknown_CarriesNoAddresses()
    {
        ProxyHeader header = Read("PROXY UNKNOWN\r\n"u8);

        Assert.Null(header.Source);
        Assert.Null(header.Destination);
    }

    [Fact]
    public void TryRead_V2ProxyIPv4WithATlv_GivesTheAddressesAndTheTlv()
    {
        ProxyHeader header = Read(V2(0x21, 0x11, [192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB, 0x02, 0x00, 0x03, (byte)'a', (byte)'p', (byte)'i']));

        Assert.Equal(2, header.Version);
        Assert.False(header.IsLocal);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 56324), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 443), header.Destination);
        ProxyTlv tlv = Assert.Single(header.Tlvs);
        Assert.Equal(0x02, tlv.Type);
        Assert.Equal("api"u8.ToArray(), tlv.Value);
    }

    [Fact]
    public void TryRead_V2ProxyIPv6_GivesTheIPv6Addresses()
    {
        ProxyHeader header = Read(V2(0x21, 0x21, [.. IPAddress.Parse("2001:db8::1").GetAddressBytes(), .. IPAddress.Parse("2001:db8::2").GetAddressBytes(), 0x30, 0x39, 0x01, 0xBB]));

        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 12345), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::2"), 443), header.Destination);
    }

    [Fact]
    public void TryRead_V2Local_SuchAsAHealthCheck_CarriesNoAddressesAndSkipsItsBody()
    {
        // LOCAL may still carry an address block, which the receiver must skip.
        byte[] header = V2(0x20, 0x11, [127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2]);

        Assert.Equal(ProxyReadStatus.Complete, ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(header), ProxyHeaderReader.DefaultMaxV2Length, out ProxyHeader? read, out long consumed, out _));
        Assert.Null(read!.Source);
        Assert.True(read.IsLocal);
        Assert.Equal(header.Length, consumed);
    }

    public static TheoryData<string, string> InvalidHeaders => new()
    {
        { Hex("GET / HTTP/1.1\r\n"u8), "did not start with a PROXY protocol header" },
        { "FF", "did not start with a PROXY protocol header (it began with FF)" },
        { Hex("PROXZ"u8), "did not start with a PROXY protocol header" },
        { "0D0A0D0A000D0A5155495420", "did not start with a PROXY protocol header" },
        { Hex(Encoding.ASCII.GetBytes("PROXY TCP4 " + new string('1', 100))), "no \\r\\n within 107 bytes" },
        { Hex("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n"u8), "bare \\n" },
        { Hex("PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n"u8), "names the protocol 'TCP5'" },
        { Hex("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n"u8), "does not have the 4 fields after TCP4" },
        { Hex("PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n"u8), "does not have the 4 fields after TCP4" },
        { Hex("PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n"u8), "address '2001:db8::1' is not an IPv4 address" },
        { Hex("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n"u8), "address '192.0.2.1' is not an IPv6 address" },
        { Hex("PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n"u8), "address '192.0.2' is not an IPv4 address" },
        { Hex("PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n"u8), "port '65536' is not a number from 0 to 65535" },
        { Hex("PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n"u8), "port '01' is not a number" },
        { Hex("PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n"u8), "port '-1' is not a number" },
        { Hex("PROXY TCP4 192.0.2.1\u0001"u8), "0x01, which is not printable ASCII" },
        { Hex(V2(0x11, 0x11, new byte[12])), "version 1 in its 13th byte" },
        { Hex(V2(0x22, 0x11, new byte[12])), "command 2, neither LOCAL (0) nor PROXY (1)" },
        { Hex(V2(0x21, 0x41, new byte[12])), "family and protocol byte 0x41" },
        { Hex(V2(0x21, 0x13, new byte[12])), "family and protocol byte 0x13" },
        { Hex(V2(0x21, 0x11, new byte[11])), "length 11 is too short for its IPv4 addresses (12 bytes)" },
        { Hex(V2(0x21, 0x21, new byte[12])), "length 12 is too short for its IPv6 addresses (36 bytes)" },
        { Hex(V2(0x21, 0x11, [.. new byte[12], 0x01, 0x00])), "ends inside a TLV's type and length (2 of 3 bytes)" },
        { Hex(V2(0x21, 0x11, [.. new byte[12], 0x01, 0x00, 0x05, 0x41])), "TLV of type 0x01 says 5 bytes, but only 1 are left" },
    };

    [Theory]
    [MemberData(nameof(InvalidHeaders))]
    public void TryRead_AMalformedOrAbsentHeader_IsInvalidWithTheReason(string hex, string reason)
    {
        byte[] input = Convert.FromHexString(hex);

        ProxyReadStatus status = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input), ProxyHeaderReader.DefaultMaxV2Length, out ProxyHeader? header, out long consumed, out string? error);

        Assert.Equal(ProxyReadStatus.Invalid, status);
        Assert.Null(header);
        Assert.Equal(0, consumed);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_AV2LengthOverTheLimit_IsInvalidBeforeTheBodyArrives()
    {
        byte[] fixedPart = V2(0x21, 0x11, new byte[5000])[..ProxyHeader.V2FixedLength];

        ProxyReadStatus status = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(fixedPart), 4096, out _, out _, out string? error);

        Assert.Equal(ProxyReadStatus.Invalid, status);
        Assert.Equal("the PROXY v2 header says 5000 bytes follow, more than this listener's limit of 4096", error);
    }

    [Fact]
    public void TryRead_ABadByteInTheSignature_IsInvalidAsSoonAsItArrives()
    {
        byte[] input = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0E];

        Assert.Equal(ProxyReadStatus.NeedMoreData, ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input, 0, 5), 4096, out _, out _, out _));
        Assert.Equal(ProxyReadStatus.Invalid, ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input), 4096, out _, out _, out _));
    }

    private static ProxyHeader Read(ReadOnlySpan<byte> header)
    {
        byte[] input = [.. header, .. ClientBytes];
        ProxyReadStatus status = ProxyHeaderReader.TryRead(new ReadOnlySequence<byte>(input), ProxyHeaderReader.DefaultMaxV2Length, out ProxyHeader? read, out long consumed, out string? error);
        Assert.True(status == ProxyReadStatus.Complete, error);
        Assert.Equal(header.Length, consumed);
        return read!;
    }

    /// <summary>A v2 header: the signature, version and command, family and protocol, the body's length, the body.</summary>
    private static byte[] V2(byte versionAndCommand, byte familyAndProtocol, byte[] body) =>
        [.. ProxyHeader.V2Signature, versionAndCommand, familyAndProtocol, (byte)(body.Length >> 8), (byte)body.Length, .. body];

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
}
