namespace TinyProto.Async.Tests;

/// <summary><c>TinyProtoServer.State</c>: what a health check reports, listening only once the server accepts on every address.</summary>
public sealed class ServerStateTests : ConnectionTestBase
{
    [Fact]
    public async Task State_GoesFromNotStarted_ThroughStartingUntilPreLoopEnds_ToListening_StoppingAndStopped()
    {
        var server = new SlowStart();
        Assert.Equal(TinyProtoServerState.NotStarted, server.State);
        server.AddAddress("127.0.0.1", 0);
        Task starting = server.StartAsync(TimeoutToken);
        await Bounded(server.InPreLoop.Task);
        Assert.NotEmpty(server.BoundEndPoints);
        Assert.Equal(TinyProtoServerState.Starting, server.State);

        server.Go.SetResult();
        await Bounded(starting);
        Assert.Equal(TinyProtoServerState.Listening, server.State);
        await Bounded(server.StopAsync(TimeoutToken));
        Assert.Equal(TinyProtoServerState.Stopped, server.State);
        await server.DisposeAsync();
    }

    private sealed class SlowStart : TinyProtoServer
    {
        public TaskCompletionSource InPreLoop { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Go { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken)
        {
            InPreLoop.TrySetResult();
            await Go.Task.WaitAsync(cancellationToken);
        }
    }
}
