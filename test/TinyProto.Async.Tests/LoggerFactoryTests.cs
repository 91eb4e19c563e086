using System.Buffers;
using Microsoft.Extensions.Logging;

namespace TinyProto.Async.Tests;

/// <summary>
/// A server or client made with an <see cref="ILoggerFactory"/> logs under categorized loggers, for itself and for
/// the connections it makes, so a hook's exception is never lost for want of a logger.
/// </summary>
public sealed class LoggerFactoryTests : ConnectionTestBase
{
    private const string ServerCategory = "TinyProto.Async.TinyProtoServer";
    private const string ClientCategory = "TinyProto.Async.TinyProtoClient";
    private const string ConnectionCategory = "TinyProto.Async.TinyProtoConnection";

    [Fact]
    public async Task ServerLoggerFactory_ConnectionHookThrows_LoggedUnderTheConnectionCategory()
    {
        var loggers = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(loggers);
        server.SetConnectionHandler(() => new ThrowingConnection());
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.TransmitAsync("boom"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(connection.Completion);

        RecordingLoggerFactory.Entry entry = await WaitForEntryAsync(loggers, e => e.Exception is ThrownOnPurposeException);
        Assert.Equal(ConnectionCategory, entry.Category);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains("TransmissionReceivedAsync", entry.Message, StringComparison.Ordinal);
        Assert.Contains(ServerCategory, loggers.Categories);
    }

    [Fact]
    public async Task ServerLoggerFactory_ServerHookThrows_LoggedUnderTheServerCategory()
    {
        var loggers = new RecordingLoggerFactory();
        await using var server = new FailingInitServer(loggers);
        int port = await StartLoopbackAsync(server);
        await using RawPeer raw = await ConnectRawAsync(port);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));

        RecordingLoggerFactory.Entry entry = await WaitForEntryAsync(loggers, e => e.Exception is ThrownOnPurposeException);
        Assert.Equal(ServerCategory, entry.Category);
        Assert.Contains("ConnectionInitAsync", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientLoggerFactory_ConnectionAndClientHooksThrow_EachLoggedUnderItsCategory()
    {
        var loggers = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new FailingLoopPassClient(loggers);
        client.SetConnectionHandler(() => new ThrowingConnection());
        Task run = client.RunAsync(TimeoutToken);

        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.TransmitAsync("boom"u8.ToArray(), TimeoutToken).AsTask());
        TinyProtoConnection serverSide = await SingleServerConnectionAsync(server);
        await Bounded(serverSide.TransmitAsync("boom"u8.ToArray(), TimeoutToken).AsTask());

        RecordingLoggerFactory.Entry hook = await WaitForEntryAsync(loggers, e => e.Exception is ThrownOnPurposeException { Message: "TransmissionReceivedAsync" });
        Assert.Equal(ConnectionCategory, hook.Category);
        RecordingLoggerFactory.Entry pass = await WaitForEntryAsync(loggers, e => e.Exception is ThrownOnPurposeException { Message: "LoopPassAsync" });
        Assert.Equal(ClientCategory, pass.Category);

        await Bounded(client.StopAsync(TimeoutToken));
        await Bounded(run);
    }

    [Fact]
    public async Task ServerLoggerFactory_ConnectionOptionsNameALogger_ThatLoggerWins()
    {
        var loggers = new RecordingLoggerFactory();
        var own = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(loggers)
        {
            ConnectionOptions = new TinyProtoConnectionOptions { Logger = own.CreateLogger("own") },
        };
        server.SetConnectionHandler(() => new ThrowingConnection());
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.TransmitAsync("boom"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(connection.Completion);

        Assert.Equal("own", (await WaitForEntryAsync(own, e => e.Exception is ThrownOnPurposeException)).Category);
        Assert.DoesNotContain(loggers.Entries, e => e.Exception is ThrownOnPurposeException);
    }

    [Fact]
    public async Task ServerLogger_OneLoggerGiven_ConnectionHookExceptionsGoThroughIt()
    {
        var recorded = new RecordingLoggerFactory();
        await using var server = new TinyProtoServer(recorded.CreateLogger("single"));
        server.SetConnectionHandler(() => new ThrowingConnection());
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.TransmitAsync("boom"u8.ToArray(), TimeoutToken).AsTask());

        Assert.Equal("single", (await WaitForEntryAsync(recorded, e => e.Exception is ThrownOnPurposeException)).Category);
    }

    [Fact]
    public void Constructors_NullLoggerFactory_ThrowArgumentNull()
    {
        Assert.Equal("loggerFactory", Assert.Throws<ArgumentNullException>(() => new TinyProtoServer((ILoggerFactory)null!)).ParamName);
        Assert.Equal("loggerFactory", Assert.Throws<ArgumentNullException>(() => new TinyProtoClient((ILoggerFactory)null!)).ParamName);
    }

    private async Task<RecordingLoggerFactory.Entry> WaitForEntryAsync(RecordingLoggerFactory loggers, Func<RecordingLoggerFactory.Entry, bool> match)
    {
        RecordingLoggerFactory.Entry? found = null;
        await WaitUntilAsync(() => (found = loggers.Entries.FirstOrDefault(match)) is not null);
        return found!;
    }

    private sealed class ThrownOnPurposeException(string hook) : Exception(hook);

    private sealed class ThrowingConnection : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            throw new ThrownOnPurposeException(nameof(TransmissionReceivedAsync));
    }

    private sealed class FailingInitServer(ILoggerFactory loggers) : TinyProtoServer(loggers)
    {
        protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken) =>
            throw new ThrownOnPurposeException(nameof(ConnectionInitAsync));
    }

    private sealed class FailingLoopPassClient(ILoggerFactory loggers) : TinyProtoClient(loggers)
    {
        protected override ValueTask LoopPassAsync(CancellationToken cancellationToken) =>
            throw new ThrownOnPurposeException(nameof(LoopPassAsync));
    }
}
