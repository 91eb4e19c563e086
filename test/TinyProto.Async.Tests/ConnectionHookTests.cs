using System.Buffers;
using System.Text;

namespace TinyProto.Async.Tests;

public sealed class ConnectionHookTests : ConnectionTestBase
{
    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [Fact]
    public async Task Hooks_PeerSendsMessagesThenCloses_PreLoopMessagesInOrderThenPostLoopOnce()
    {
        var server = new RecordingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);

        foreach (string text in new[] { "a", "b", "c" })
        {
            await Bounded(client.TransmitAsync(Ascii(text), TimeoutToken).AsTask());
        }

        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
        await Bounded(server.Completion);

        Assert.Equal(["pre", "msg:a", "msg:b", "msg:c", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task LoopPassAsync_Overridden_RunsWhileIdleAndAfterEachMessage()
    {
        var server = new PassRecordingConnection();
        server.Options.LoopPassInterval = TimeSpan.FromMilliseconds(5);
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);

        // Idle: passes come from the timer alone.
        await Bounded(server.Log.WaitForAsync(e => e.Count(x => x == "pass") >= 3, TimeoutToken));
        foreach (string text in new[] { "one", "two", "three" })
        {
            await Bounded(client.TransmitAsync(Ascii(text), TimeoutToken).AsTask());
        }

        await Bounded(server.Log.WaitForAsync(e => Array.IndexOf(e, "msg:three") is int i && i >= 0 && i + 1 < e.Length, TimeoutToken));
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
        await Bounded(server.Completion);

        string[] log = server.Log.Snapshot();
        Assert.Equal("pre", log[0]);
        Assert.Equal("post", log[^1]);
        Assert.Equal(1, log.Count(e => e == "pre"));
        Assert.Equal(1, log.Count(e => e == "post"));
        Assert.Equal(["msg:one", "msg:two", "msg:three"], log.Where(e => e.StartsWith("msg:", StringComparison.Ordinal)));
        Assert.True(Array.IndexOf(log, "msg:one") >= 4, $"expected idle passes before the first message: {server.Log}");
        for (int i = 0; i < log.Length; i++)
        {
            if (log[i].StartsWith("msg:", StringComparison.Ordinal))
            {
                Assert.Equal("pass", log[i + 1]);
            }
        }
    }

    [Fact]
    public async Task LoopPassAsync_NotOverridden_HooksSeeNoPasses()
    {
        // A class that does not override LoopPassAsync runs no timer; the hook loop still delivers messages.
        var server = new RecordingConnection();
        server.Options.LoopPassInterval = TimeSpan.FromMilliseconds(1);
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);
        await Bounded(client.TransmitAsync(Ascii("x"), TimeoutToken).AsTask());
        await Bounded(server.Log.WaitForAsync("msg:x", TimeoutToken));
        await Bounded(server.CloseAsync(TimeoutToken).AsTask());
        Assert.Equal(["pre", "msg:x", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task PostLoopAsync_PeerSendsBadBytes_RunsOnceAndCompletionFaults()
    {
        var server = new RecordingConnection();
        RawPeer raw = await StartWithRawClientAsync(server);
        await Bounded(raw.WriteAsync(0xF7));

        await AssertFaultsAsync(server.Completion, TinyProtoError.ProtocolViolation);
        Assert.Equal(["pre", "post"], server.Log.Snapshot());
        AssertNothingOrRefusal(await Bounded(raw.ReadToEndAsync()));
    }

    [Fact]
    public async Task PostLoopAsync_LocalCloseAsync_RunsOnceAndCompletionSucceeds()
    {
        var server = new PassRecordingConnection();
        var client = new RecordingConnection();
        await StartPairAsync(client, server);
        await Bounded(client.TransmitAsync(Ascii("hi"), TimeoutToken).AsTask());
        await Bounded(server.Log.WaitForAsync("msg:hi", TimeoutToken));

        await Bounded(server.CloseAsync(TimeoutToken).AsTask());
        Assert.True(server.Completion.IsCompletedSuccessfully);
        await Bounded(server.CloseAsync(TimeoutToken).AsTask());
        await Bounded(server.DisposeAsync().AsTask());

        // The peer sees the end of the stream at a message boundary: a clean end for it too.
        await Bounded(client.Completion);
        Assert.Equal(1, server.Log.Count("post"));
        Assert.Equal("post", server.Log.Snapshot()[^1]);
        Assert.Equal(["pre", "post"], client.Log.Snapshot());
    }

    [Fact]
    public async Task CloseAsync_FromInsideHook_ReturnsAndPostLoopRunsOnce()
    {
        var server = new ClosingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);
        await Bounded(client.TransmitAsync(Ascii("close"), TimeoutToken).AsTask());

        await Bounded(server.Completion);
        await Bounded(client.Completion);
        Assert.Equal(["pre", "msg:close", "closed", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task TransmissionReceivedAsync_Throws_CompletionFaultsWithHookErrorAndPostLoopRunsOnce()
    {
        var server = new ThrowingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);
        await Bounded(client.TransmitAsync(Ascii("boom"), TimeoutToken).AsTask());

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(server.Completion));
        Assert.Equal("boom", ex.Message);
        Assert.Equal(["pre", "msg:boom", "post"], server.Log.Snapshot());
        await Bounded(client.Completion);
    }

    [Fact]
    public async Task PreLoopAsync_Transmits_PeerReceivesBeforeAnythingElse()
    {
        var server = new GreetingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);

        Assert.Equal(Ascii("welcome"), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
        await Bounded(server.Completion);
    }

    [Fact]
    public async Task TransmittingInConnectionInitAsync_FailsAtOnce_SayingWhereToSendInstead()
    {
        await using var server = new InitTransmittingServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        Exception ex = await Bounded(server.Failure.Task);
        Assert.IsType<InvalidOperationException>(ex);
        Assert.Contains("ConnectionInitAsync runs between the handshake and them", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PreLoopAsync", ex.Message, StringComparison.Ordinal);
    }

    private sealed class InitTransmittingServer : TinyProtoServer
    {
        public TaskCompletionSource<Exception> Failure { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            try
            {
                await connection.TransmitAsync("too early"u8.ToArray(), cancellationToken);
                Failure.TrySetResult(new InvalidOperationException("no error"));
            }
            catch (Exception ex)
            {
                Failure.TrySetResult(ex);
            }
        }
    }

    private sealed class ClosingConnection : RecordingConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            await base.TransmissionReceivedAsync(message, cancellationToken);
            await CloseAsync(cancellationToken);
            Log.Add("closed");
        }
    }

    private sealed class ThrowingConnection : RecordingConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            await base.TransmissionReceivedAsync(message, cancellationToken);
            throw new InvalidOperationException("boom");
        }
    }

    private sealed class GreetingConnection : TinyProtoConnection
    {
        protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken) =>
            await TransmitAsync(Ascii("welcome"), cancellationToken);
    }
}
