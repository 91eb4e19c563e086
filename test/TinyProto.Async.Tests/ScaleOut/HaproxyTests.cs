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

    /// <summary>
    /// A rolling restart's drain, with both ends transmitting all along: the client always sees a clean end. (Found
    /// here: HAProxy's added latency makes a client's header cross the stopping server's often, and the server wrote its
    /// 0xFD before its own payload; GracefulStopTests pins the bytes.)
    /// </summary>
    [HaproxyFact]
    public async Task StopWhileBothEndsTransmit_TheClientBehindHaproxySeesACleanEnd_EveryTime()
    {
        for (int round = 0; round < 6; round++)
        {
            await using var server = new TinyProtoServer();
            server.SetConnectionHandler<TickingConnection>();
            server.AddAddress("127.0.0.1", 0, new TinyProtoProxyProtocolOptions().Trust("127.0.0.1"));
            await Bounded(server.StartAsync(TimeoutToken));
            await using HaproxyProcess haproxy = await HaproxyProcess.StartAsync([PortOf(server)], "send-proxy-v2", TimeoutToken);
            await using var client = new TinyProtoClient();
            TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", haproxy.Port, TimeoutToken));
            Task sending = TickAsync(connection, TimeSpan.FromMilliseconds(1 + (round % 3)));
            Task receiving = Task.Run(async () =>
            {
                while (true)
                {
                    await connection.ReceiveAsync(TimeoutToken);
                }
            });

            await Task.Delay(150 + (round * 40), TimeoutToken);
            await Bounded(server.StopAsync(TimeoutToken));

            Exception? ended = await Record.ExceptionAsync(() => Bounded(connection.Completion));
            Assert.True(ended is null, $"round {round}: the connection ended with {ended}");
            await Bounded(sending);
            await Assert.ThrowsAnyAsync<Exception>(() => Bounded(receiving));
        }
    }

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

    /// <summary>Transmits 64-byte messages until one fails: a refusal of a stopping server, or the end.</summary>
    private static Task TickAsync(TinyProtoConnection connection, TimeSpan pause) => Task.Run(async () =>
    {
        try
        {
            while (true)
            {
                await connection.TransmitAsync(new byte[64]);
                await Task.Delay(pause);
            }
        }
        catch (TinyProtoException)
        {
            // MessageRefused (0xFD) or ConnectionClosed: the server stopped.
        }
    });

    /// <summary>Transmits to its client all along, as a fan-out delivering to it does.</summary>
    private sealed class TickingConnection : TinyProtoConnection
    {
        protected override ValueTask PreLoopAsync(CancellationToken cancellationToken)
        {
            _ = TickAsync(this, TimeSpan.FromMilliseconds(1));
            return default;
        }

        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) => default;
    }
}
