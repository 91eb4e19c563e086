namespace TinyProto.Async.Tests;

/// <summary>
/// A connection says why it ended (<see cref="TinyProtoConnection.CloseReason"/>, <see cref="TinyProtoConnection.CloseError"/>),
/// before its Completion completes and before the server's ConnectionShutdownAsync runs, so the hook can log it.
/// </summary>
public sealed class CloseReasonTests : ConnectionTestBase
{
    [Fact]
    public async Task PeerClosesAtABoundary_ReasonIsPeerClosedWithNoError()
    {
        var server = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(server);
        Assert.Equal(TinyProtoCloseReason.None, server.CloseReason);

        await Bounded(raw.CompleteOutputAsync());
        await Bounded(server.Completion);

        Assert.Equal(TinyProtoCloseReason.PeerClosed, server.CloseReason);
        Assert.Null(server.CloseError);
    }

    [Fact]
    public async Task CloseAsync_ReasonIsClosedLocally()
    {
        var server = new TinyProtoConnection();
        await StartWithRawClientAsync(server);

        await Bounded(server.CloseAsync(TimeoutToken).AsTask());

        Assert.Equal(TinyProtoCloseReason.ClosedLocally, server.CloseReason);
        Assert.Null(server.CloseError);
    }

    [Fact]
    public async Task BadBytes_ReasonIsFailedAndTheErrorIsWhatCompletionFaultsWith()
    {
        var server = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(server);

        await Bounded(raw.WriteAsync(0xF7));

        var ex = await AssertFaultsAsync(server.Completion, TinyProtoError.ProtocolViolation);
        Assert.Equal(TinyProtoCloseReason.Failed, server.CloseReason);
        Assert.Same(ex, server.CloseError);
    }

    [Fact]
    public async Task ServerStops_ConnectionShutdownAsyncSeesServerStopped()
    {
        await using var server = new ReasonRecordingServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await SingleServerConnectionAsync(server);

        await Bounded(server.StopAsync(TimeoutToken));

        Assert.Equal(TinyProtoCloseReason.ServerStopped, await Bounded(server.Seen.Task));
    }

    [Fact]
    public async Task ClientGoesAway_ConnectionShutdownAsyncSeesPeerClosed()
    {
        await using var server = new ReasonRecordingServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await SingleServerConnectionAsync(server);

        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());

        Assert.Equal(TinyProtoCloseReason.PeerClosed, await Bounded(server.Seen.Task));
    }

    private sealed class ReasonRecordingServer : TinyProtoServer
    {
        public TaskCompletionSource<TinyProtoCloseReason> Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Seen.TrySetResult(connection.CloseReason);
            return default;
        }
    }
}
