using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests;

/// <summary>
/// The PROXY protocol on a server address, over loopback: a trusted proxy's header names the client, nobody else may
/// send one, and a missing, malformed, late or oversize header closes that one connection with a log line saying why.
/// The header's own parsing is pinned down by <see cref="Protocol.ProxyHeaderTests"/>.
/// </summary>
public sealed class ProxyProtocolServerTests : ConnectionTestBase
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("203.0.113.7"), 40001);
    private static readonly IPEndPoint Frontend = new(IPAddress.Parse("198.51.100.1"), 7000);

    [Fact]
    public async Task V2FromATrustedProxy_RemoteEndPointIsTheClient_AndTheProxysIsKept()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.0/8"), out _);
        await Bounded(server.StartAsync(TimeoutToken));
        await using RawPeer proxy = await ConnectRawAsync(PortOf(server), out EndPoint proxyEnd);

        // The header and the client's opening byte in one segment, as HAProxy sends them: not a byte of the client's is lost.
        await Bounded(proxy.WriteAsync([.. V2(Client, Frontend), 0xFF]));
        Assert.Equal(0xFF, await Bounded(proxy.ReadByteAsync()));
        await AssertEchoesAsync(proxy, "through the proxy");

        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        Assert.Equal(Client, connection.RemoteEndPoint);
        Assert.Equal(proxyEnd, connection.ProxyEndPoint);
    }

    [Fact]
    public async Task V1SentAByteAtATime_ReadWhole_ThenTheHandshake()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"), out _);
        await Bounded(server.StartAsync(TimeoutToken));
        await using RawPeer proxy = await ConnectRawAsync(PortOf(server), out _);

        await Bounded(proxy.WriteOneByteAtATimeAsync(Encoding.ASCII.GetBytes($"PROXY TCP6 2001:db8::5 2001:db8::1 50000 7000\r\n")));
        Assert.Equal(0xFF, await Bounded(proxy.OpenAsClientAsync()));
        await AssertEchoesAsync(proxy, "v1");

        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::5"), 50000), (await SingleServerConnectionAsync(server)).RemoteEndPoint);
    }

    [Fact]
    public async Task V2Local_SuchAsAHealthCheck_LeavesTheProxysAddress()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"), out _);
        await Bounded(server.StartAsync(TimeoutToken));
        await using RawPeer proxy = await ConnectRawAsync(PortOf(server), out EndPoint proxyEnd);

        await Bounded(proxy.WriteAsync([.. ProxyHeader.V2Signature, 0x20, 0x00, 0x00, 0x00, 0xFF]));
        Assert.Equal(0xFF, await Bounded(proxy.ReadByteAsync()));

        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        Assert.Equal(proxyEnd, connection.RemoteEndPoint);
        Assert.Equal(proxyEnd, connection.ProxyEndPoint);
    }

    [Fact]
    public async Task AnUntrustedSource_ClosedAtOnceWithALogLine_WhileAnAddressWithoutTheProtocolServesIt()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("10.0.0.0/8"), out RecordingLoggerFactory logs);
        server.AddAddress("127.0.0.1", 0);
        await Bounded(server.StartAsync(TimeoutToken));
        int proxied = ((IPEndPoint)server.BoundEndPoints[0]).Port;
        int plain = ((IPEndPoint)server.BoundEndPoints[1]).Port;

        await using (RawPeer intruder = await ConnectRawAsync(proxied, out _))
        {
            // A forged header is never read: the source is not a trusted proxy.
            await WriteIgnoringResetAsync(intruder, [.. V2(Client, Frontend), 0xFF]);
            AssertNothingOrRefusal(await ReadToEndIgnoringResetAsync(intruder));
        }

        RecordingLoggerFactory.Entry refusal = Assert.Single(logs.Entries, e => e.EventId.Id == 104);
        Assert.Contains("is not one of its trusted proxies", refusal.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{proxied}", refusal.Message, StringComparison.Ordinal);

        await using RawPeer direct = await ConnectRawAsync(plain, out EndPoint directEnd);
        Assert.Equal(0xFF, await Bounded(direct.OpenAsClientAsync()));
        await AssertEchoesAsync(direct, "no proxy here");
        Assert.Equal(directEnd, (await SingleServerConnectionAsync(server)).RemoteEndPoint);
    }

    [Fact]
    public async Task AClientWithoutAHeader_ClosedSayingWhatItSent_AndAProxiedConnectionGoesOn()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"), out RecordingLoggerFactory logs);
        await Bounded(server.StartAsync(TimeoutToken));
        await using RawPeer proxied = await ConnectRawAsync(PortOf(server), out _);
        await Bounded(proxied.WriteAsync([.. V2(Client, Frontend), 0xFF]));
        Assert.Equal(0xFF, await Bounded(proxied.ReadByteAsync()));

        await using (RawPeer direct = await ConnectRawAsync(PortOf(server), out _))
        {
            await Bounded(direct.WriteAsync(0xFF));
            Assert.Empty(await Bounded(direct.ReadToEndAsync()));
        }

        RecordingLoggerFactory.Entry refusal = Assert.Single(logs.Entries, e => e.EventId.Id == 105);
        Assert.Contains("did not start with a PROXY protocol header (it began with FF)", refusal.Message, StringComparison.Ordinal);
        await AssertEchoesAsync(proxied, "undisturbed");
    }

    [Fact]
    public async Task AHeaderThatNeverEnds_ClosedAtTheTimeout()
    {
        var time = new FakeTimeProvider();
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"), out RecordingLoggerFactory logs);
        server.ConnectionOptions = new TinyProtoConnectionOptions { Timeout = TimeSpan.FromSeconds(3), TimeProvider = time };
        await Bounded(server.StartAsync(TimeoutToken));
        await using RawPeer proxy = await ConnectRawAsync(PortOf(server), out _);

        await Bounded(proxy.WriteAsync("PROXY TCP4 203.0.113.7"u8.ToArray()));
        await WaitUntilAsync(() => server.PendingHandshakes == 1);
        time.Advance(TimeSpan.FromSeconds(2.9));
        await Task.Delay(50, TimeoutToken);
        Assert.Equal(1, server.PendingHandshakes);
        time.Advance(TimeSpan.FromSeconds(0.1));

        Assert.Empty(await Bounded(proxy.ReadToEndAsync()));
        await WaitUntilAsync(() => server.PendingHandshakes == 0);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 105 && e.Message.Contains("no complete PROXY protocol header arrived within 3 s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AProxyThatClosesInsideTheHeader_LoggedWithHowFarItGot()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"), out RecordingLoggerFactory logs);
        await Bounded(server.StartAsync(TimeoutToken));
        await using (RawPeer proxy = await ConnectRawAsync(PortOf(server), out _))
        {
            await Bounded(proxy.WriteAsync(ProxyHeader.V2Signature[..10].ToArray()));
            await Bounded(proxy.CompleteOutputAsync());
            Assert.Empty(await Bounded(proxy.ReadToEndAsync()));
        }

        await WaitUntilAsync(() => logs.Entries.Any(e => e.EventId.Id == 105));
        Assert.Contains("closed the connection after 10 bytes, inside its PROXY protocol header", Assert.Single(logs.Entries, e => e.EventId.Id == 105).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AV2HeaderOverTheLimit_ClosedBeforeItsBodyIsRead()
    {
        var options = new TinyProtoProxyProtocolOptions { MaxV2HeaderLength = 216 }.Trust("127.0.0.1");
        await using TinyProtoServer server = Server(options, out RecordingLoggerFactory logs);
        await Bounded(server.StartAsync(TimeoutToken));
        await using RawPeer proxy = await ConnectRawAsync(PortOf(server), out _);

        // Says 300 bytes follow, and sends none of them: the refusal cannot have waited for the body.
        await Bounded(proxy.WriteAsync([.. ProxyHeader.V2Signature, 0x21, 0x11, 0x01, 0x2C]));
        Assert.Empty(await Bounded(proxy.ReadToEndAsync()));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 105 && e.Message.Contains("300 bytes follow, more than this listener's limit of 216", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MaxConnectionsPerRemoteAddress_CountsTheClientsNotTheProxy()
    {
        await using TinyProtoServer server = Server(new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"), out _);
        server.MaxConnectionsPerRemoteAddress = 1;
        await Bounded(server.StartAsync(TimeoutToken));
        var other = new IPEndPoint(IPAddress.Parse("203.0.113.8"), 40002);

        await using RawPeer first = await ConnectRawAsync(PortOf(server), out _);
        await Bounded(first.WriteAsync([.. V2(Client, Frontend), 0xFF]));
        Assert.Equal(0xFF, await Bounded(first.ReadByteAsync()));
        await using RawPeer second = await ConnectRawAsync(PortOf(server), out _);
        await Bounded(second.WriteAsync([.. V2(other, Frontend), 0xFF]));
        Assert.Equal(0xFF, await Bounded(second.ReadByteAsync()));

        await using RawPeer again = await ConnectRawAsync(PortOf(server), out _);
        await Bounded(again.WriteAsync([.. V2(new IPEndPoint(Client.Address, 40003), Frontend), 0xFF]));
        Assert.Equal(0xFE, await Bounded(again.ReadByteAsync()));
    }

    [Fact]
    public void AddAddress_ProxyOptionsThatTrustNoOne_RefusedSayingWhy()
    {
        var server = new TinyProtoServer();

        var ex = Assert.Throws<ArgumentException>(() => server.AddAddress("127.0.0.1", 0, new TinyProtoProxyProtocolOptions()));
        Assert.Contains("trust no proxy", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("proxy.example")]
    [InlineData("10.0.0.1/8")]
    [InlineData("10.0.0.0/33")]
    public void Trust_NeitherAnAddressNorANetwork_RefusedNamingIt(string text)
    {
        var ex = Assert.Throws<ArgumentException>(() => new TinyProtoProxyProtocolOptions().Trust(text));
        Assert.Contains($"'{text}' is neither an IP address nor a network", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3", true)]
    [InlineData("10.1.2.3", "10.1.2.4", false)]
    [InlineData("10.0.0.0/8", "10.200.0.1", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("127.0.0.0/8", "::ffff:127.0.0.1", true)]
    [InlineData("fd00::/8", "fd12::1", true)]
    [InlineData("fd00::/8", "fe80::1", false)]
    public void Trust_MatchesTheNetworksAddresses(string trusted, string source, bool expected)
    {
        var trust = new ProxyTrust(new TinyProtoProxyProtocolOptions().Trust(trusted));

        Assert.Equal(expected, trust.Trusts(IPAddress.Parse(source)));
    }

    /// <summary>A v2 PROXY header for a TCP over IPv4 client, as HAProxy's <c>send-proxy-v2</c> sends it.</summary>
    private static byte[] V2(IPEndPoint source, IPEndPoint destination) =>
    [
        .. ProxyHeader.V2Signature, 0x21, 0x11, 0x00, 12,
        .. source.Address.GetAddressBytes(), .. destination.Address.GetAddressBytes(),
        (byte)(source.Port >> 8), (byte)source.Port, (byte)(destination.Port >> 8), (byte)destination.Port,
    ];

    private static TinyProtoServer Server(TinyProtoProxyProtocolOptions proxy, out RecordingLoggerFactory logs)
    {
        logs = new RecordingLoggerFactory();
        var server = new TinyProtoServer(logs);
        server.SetConnectionHandler(() => new EchoConnection());
        server.AddAddress("127.0.0.1", 0, proxy);
        return server;
    }

    /// <summary>A raw peer on loopback, and the endpoint it connects from (bound first, so it is known before the connect).</summary>
    private Task<RawPeer> ConnectRawAsync(int port, out EndPoint local)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        local = socket.LocalEndPoint!;
        return ConnectAsync(socket, port);
    }

    private async Task<RawPeer> ConnectAsync(Socket socket, int port)
    {
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        return new RawPeer(socket, TimeoutToken);
    }

    private async Task AssertEchoesAsync(RawPeer peer, string text)
    {
        byte[] message = Encoding.UTF8.GetBytes(text);
        Assert.Equal(0xFF, await Bounded(peer.SendMessageAsync(message)));
        Assert.Equal(message, await Bounded(peer.ReceiveMessageAsync()));
    }

    private async Task WriteIgnoringResetAsync(RawPeer peer, byte[] bytes)
    {
        try
        {
            await Bounded(peer.WriteAsync(bytes));
        }
        catch (IOException)
        {
            // The server may have closed before the bytes arrived.
        }
    }

    private async Task<byte[]> ReadToEndIgnoringResetAsync(RawPeer peer)
    {
        try
        {
            return await Bounded(peer.ReadToEndAsync());
        }
        catch (IOException)
        {
            return [];
        }
    }
}
