namespace TinyProto.Async.Tests;

public sealed class ReceiveTests : ConnectionTestBase
{
    [Fact]
    public async Task ReceiveAsync_HookNotOverridden_GetsEveryMessageInOrder()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task send = Task.Run(async () =>
        {
            for (int i = 0; i < 200; i++)
            {
                await client.TransmitAsync(new[] { (byte)i }, TimeoutToken);
            }
        });

        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(new[] { (byte)i }, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        }

        await Bounded(send);
    }

    [Fact]
    public async Task ReceiveAsync_MessageArrivedBeforeCall_IsQueuedForIt()
    {
        var server = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(server);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("early"u8.ToArray())));

        // Back-pressure: the next header is answered once the queued message has been taken.
        await Bounded(raw.WriteAsync(RawPeer.Header(4)));
        Assert.Equal("early"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteAsync("late"u8.ToArray()));
        Assert.Equal("late"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task ReceiveAsync_PendingWhileHookOverridden_TakesMessageBeforeHook()
    {
        var server = new RecordingConnection();
        var client = new TinyProtoConnection();
        await StartPairAsync(client, server);

        Task<byte[]> pending = server.ReceiveAsync(TimeoutToken).AsTask();
        await Bounded(client.TransmitAsync("to receive"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("to receive"u8.ToArray(), await Bounded(pending));

        await Bounded(client.TransmitAsync("to hook"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(server.Log.WaitForAsync("msg:to hook", TimeoutToken));
        Assert.Equal(["pre", "msg:to hook"], server.Log.Snapshot());
    }

    [Fact]
    public async Task ReceiveAsync_SeveralPending_EachGetsOneMessageInCallOrder()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task<byte[]>[] pending = [.. Enumerable.Range(0, 5).Select(_ => server.ReceiveAsync(TimeoutToken).AsTask())];
        for (int i = 0; i < 5; i++)
        {
            await Bounded(client.TransmitAsync(new[] { (byte)i }, TimeoutToken).AsTask());
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(new[] { (byte)i }, await Bounded(pending[i]));
        }
    }

    [Fact]
    public async Task ReceiveAsync_ConnectionClosedLocally_ThrowsConnectionClosed()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Task<byte[]> pending = server.ReceiveAsync(TimeoutToken).AsTask();
        await Bounded(server.CloseAsync(TimeoutToken).AsTask());

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(pending));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        await Bounded(client.Completion);
        var clientEx = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, clientEx.Error);
    }

    [Fact]
    public async Task ReceiveAsync_NotStarted_ThrowsInvalidOperation()
    {
        var connection = new TinyProtoConnection();
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.ReceiveAsync(TimeoutToken).AsTask());
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.TransmitAsync("x"u8.ToArray(), TimeoutToken).AsTask());
    }
}
