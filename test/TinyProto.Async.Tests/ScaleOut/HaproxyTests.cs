using System.Buffers;
using System.Net;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>
/// Behind a real HAProxy in <c>mode tcp</c>: with <c>send-proxy-v2</c> (and v1's <c>send-proxy</c>) the server sees each
/// client's own address, and messages pass both ways as without the proxy.
/// </summary>
public sealed class HaproxyTests : ConnectionTestBase
{
    [HaproxyFact]
    public Task SendProxyV2_TheServerSeesTheClientsAddressAndPort() => ClientAddressThroughHaproxyAsync("send-proxy-v2");

    [HaproxyFact]
    public Task SendProxyV1_TheServerSeesTheClientsAddressAndPort() => ClientAddressThroughHaproxyAsync("send-proxy");

    [HaproxyFact]
    public async Task WithoutSendProxy_TheConnectionIsRefusedSayingTheHeaderIsMissing()
    {
        var logs = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(logs);
        server.AddAddress("127.0.0.1", 0, new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"));
        await Bounded(server.StartAsync(TimeoutToken));
        await using HaproxyProcess haproxy = await HaproxyProcess.StartAsync([PortOf(server)], "", TimeoutToken);

        await using var client = new TinyProtoClient();
        await Assert.ThrowsAnyAsync<Exception>(() => Bounded(client.ConnectAsync("127.0.0.1", haproxy.Port, TimeoutToken)));
        await WaitUntilAsync(() => logs.Entries.Any(e => e.EventId.Id == 105 && e.Message.Contains("did not start with a PROXY protocol header (it began with FF)", StringComparison.Ordinal)));
    }

    [HaproxyFact]
    public async Task HealthChecks_ALocalHeaderThenAClose_LoggedAtDebugNotAsFailedHandshakes()
    {
        var logs = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(logs);
        server.SetConnectionHandler(() => new EchoConnection());
        server.AddAddress("127.0.0.1", 0, new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"));
        await Bounded(server.StartAsync(TimeoutToken));
        await using HaproxyProcess haproxy = await HaproxyProcess.StartAsync([PortOf(server)], "send-proxy-v2 check inter 100", TimeoutToken);

        for (int i = 0; i < 100 && logs.Entries.Count(e => e.EventId.Id == 106) < 3; i++)
        {
            await Task.Delay(50, TimeoutToken);
        }

        Assert.True(logs.Entries.Count(e => e.EventId.Id == 106) >= 3, string.Join("\n", logs.Entries.Select(e => $"{e.EventId.Id} {e.Level} {e.Message} {e.Exception?.Message}")));
        Assert.All(logs.Entries.Where(e => e.EventId.Id == 106), e => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, e.Level));
        Assert.DoesNotContain(logs.Entries, e => e.EventId.Id == 5);
    }

    private async Task ClientAddressThroughHaproxyAsync(string sendProxy)
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new EchoConnection());
        server.AddAddress("127.0.0.1", 0, new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"));
        await Bounded(server.StartAsync(TimeoutToken));
        await using HaproxyProcess haproxy = await HaproxyProcess.StartAsync([PortOf(server)], sendProxy, TimeoutToken);

        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", haproxy.Port, TimeoutToken));
        await Bounded(connection.TransmitAsync("hello through haproxy"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("hello through haproxy"u8.ToArray(), await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));

        TinyProtoConnection served = await SingleServerConnectionAsync(server);
        Assert.Equal(connection.LocalEndPoint, served.RemoteEndPoint);
        var proxy = Assert.IsType<IPEndPoint>(served.ProxyEndPoint);
        Assert.NotEqual(((IPEndPoint)connection.LocalEndPoint!).Port, proxy.Port);
    }

    private sealed class EchoConnection : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(message, cancellationToken);
    }
}
