using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// The event ids, names and levels of the log lines operators filter and alert on are part of the contract: a change
/// to one of them (src/TinyProto.Async/Log*.cs) must be deliberate, so these tests pin a few down.
/// </summary>
public sealed class LogEventTests : ConnectionTestBase
{
    [Fact]
    public async Task AConnectionThatFails_LogsConnectionFailed_Id3_AsAWarning_WithItsError()
    {
        var collector = new FakeLogCollector();
        var server = new TinyProtoConnection { Options = { Logger = new FakeLogger(collector) } };
        await using RawPeer raw = await StartWithRawClientAsync(server);

        // A status no message of the server's awaits breaks the protocol (rule 4).
        await Bounded(raw.WriteAsync(0xFF));
        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(server.Completion));

        FakeLogRecord failed = Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 3);
        Assert.Equal("ConnectionFailed", failed.Id.Name);
        Assert.Equal(LogLevel.Warning, failed.Level);
        Assert.Equal(server.Id.ToString(), failed.GetStructuredStateValue("ConnectionId"));
        Assert.IsType<TinyProtoException>(failed.Exception);
    }

    [Fact]
    public async Task AFailedOpeningHandshake_LogsHandshakeFailed_Id5_AsAWarning()
    {
        var collector = new FakeLogCollector();
        await using var server = new TinyProtoServer(new FakeLogger(collector));
        int port = await StartLoopbackAsync(server);
        await using (RawPeer raw = await ConnectRawAsync(port))
        {
            await Bounded(raw.WriteAsync(0x42));
            await Bounded(raw.ReadToEndAsync());
        }

        await WaitUntilAsync(() => collector.GetSnapshot().Any(r => r.Id.Id == 5));
        FakeLogRecord failed = Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 5);
        Assert.Equal("HandshakeFailed", failed.Id.Name);
        Assert.Equal(LogLevel.Warning, failed.Level);
        Assert.NotNull(failed.GetStructuredStateValue("RemoteEndPoint"));
    }

    [Fact]
    public async Task ARefusalAtTheConnectionLimit_LogsConnectionLimitReached_Id6_AsInformation_WithTheLimit()
    {
        var collector = new FakeLogCollector();
        await using var server = new TinyProtoServer(new FakeLogger(collector)) { ConnectionLimit = 1 };
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        await WaitUntilAsync(() => collector.GetSnapshot().Any(r => r.Id.Id == 6));

        FakeLogRecord refused = Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 6);
        Assert.Equal("ConnectionLimitReached", refused.Id.Name);
        Assert.Equal(LogLevel.Information, refused.Level);
        Assert.Equal("1", refused.GetStructuredStateValue("Limit"));
    }
}
