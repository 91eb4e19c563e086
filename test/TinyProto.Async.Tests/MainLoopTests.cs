using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests;

/// <summary>
/// The server's and client's main loop (the original's pre_loop / loop_pass / post_loop) when a stop comes while
/// PreLoopAsync still runs: the stop waits for it, PostLoopAsync runs exactly once after it, and nothing is accepted
/// or connected after the stop.
/// </summary>
public sealed class MainLoopTests : ConnectionTestBase
{
    [Fact]
    public async Task ServerStopAsync_DuringPreLoop_WaitsForItThenRunsPostLoopOnceAndAcceptsNoOne()
    {
        var log = new EventLog();
        await using var server = new GatedServer(log);
        server.AddAddress("127.0.0.1", 0);
        Task start = server.StartAsync(TimeoutToken);
        await Bounded(server.PreLoopEntered.Task);
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;

        Task stop = server.StopAsync(TimeoutToken);
        await Task.Delay(50, TimeoutToken);
        Assert.False(stop.IsCompleted, "the stop returned while PreLoopAsync was still running");
        server.ReleasePreLoop.SetResult();

        await Bounded(start);
        await Bounded(stop);
        Assert.Equal(["pre", "post"], log.Snapshot());
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ServerStopAsync_BeforeStart_RunsNeitherHookAndStartAcceptsNoOne()
    {
        var log = new EventLog();
        await using var server = new GatedServer(log);
        server.ReleasePreLoop.SetResult();
        server.AddAddress("127.0.0.1", 0);
        await Bounded(server.StopAsync(TimeoutToken));

        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(TimeoutToken));
        Assert.Empty(log.Snapshot());
    }

    [Fact]
    public async Task ClientStopAsync_DuringPreLoop_WaitsForItThenRunsPostLoopOnce()
    {
        var log = new EventLog();
        var client = new GatedClient(log);
        Task run = client.RunAsync(TimeoutToken);
        await Bounded(client.PreLoopEntered.Task);

        Task stop = client.StopAsync(TimeoutToken);
        await Task.Delay(50, TimeoutToken);
        Assert.False(stop.IsCompleted, "the stop returned while PreLoopAsync was still running");
        client.ReleasePreLoop.SetResult();

        await Bounded(stop);
        await Bounded(run);
        Assert.Equal(["pre", "post"], log.Snapshot());
    }

    /// <summary>A PreLoopAsync that waits to be released, and hooks that log "pre" and "post".</summary>
    private sealed class PreLoopGate(EventLog log)
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask PreLoopAsync()
        {
            Entered.TrySetResult();
            await Release.Task;
            log.Add("pre");
        }

        public ValueTask PostLoopAsync()
        {
            log.Add("post");
            return default;
        }
    }

    private sealed class GatedServer(EventLog log) : TinyProtoServer
    {
        private readonly PreLoopGate _gate = new(log);

        public TaskCompletionSource PreLoopEntered => _gate.Entered;

        public TaskCompletionSource ReleasePreLoop => _gate.Release;

        protected override ValueTask PreLoopAsync(CancellationToken cancellationToken) => _gate.PreLoopAsync();

        protected override ValueTask PostLoopAsync(CancellationToken cancellationToken) => _gate.PostLoopAsync();
    }

    private sealed class GatedClient(EventLog log) : TinyProtoClient
    {
        private readonly PreLoopGate _gate = new(log);

        public TaskCompletionSource PreLoopEntered => _gate.Entered;

        public TaskCompletionSource ReleasePreLoop => _gate.Release;

        protected override ValueTask PreLoopAsync(CancellationToken cancellationToken) => _gate.PreLoopAsync();

        protected override ValueTask PostLoopAsync(CancellationToken cancellationToken) => _gate.PostLoopAsync();
    }
}
