using System.Text;

namespace TinyProto.Async.Tests;

public sealed class PipelinedTests : ConnectionTestBase
{
    [Fact]
    public async Task StartAsync_ClientRequestsServerAccepts_BothPipelined()
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Assert.True(client.IsPipelined);
        Assert.True(server.IsPipelined);
        await ExchangeAsync(client, server);
    }

    [Fact]
    public async Task StartAsync_ServerDeclines_BothLockStepAndMessagesFlow()
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;
        var server = new TinyProtoConnection();
        server.Options.AcceptPipelining = false;
        await StartPairAsync(client, server);
        Assert.False(client.IsPipelined);
        Assert.False(server.IsPipelined);
        await ExchangeAsync(client, server);
    }

    [Fact]
    public async Task StartAsync_ClientDoesNotRequest_BothLockStep()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Assert.False(client.IsPipelined);
        Assert.False(server.IsPipelined);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task ConnectToAsync_Loopback_NegotiatesAsServerAllows(bool accept, bool expected)
    {
        await using var server = new TinyProtoServer();
        server.ConnectionOptions.AcceptPipelining = accept;
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        client.ConnectionOptions.RequestPipelining = true;
        TinyProtoConnection connection = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];

        Assert.Equal(expected, connection.IsPipelined);
        Assert.Equal(expected, (await SingleServerConnectionAsync(server)).IsPipelined);
        for (int i = 0; i < 50; i++)
        {
            byte[] payload = RandomBytes(i * 101, i);
            await Bounded(connection.TransmitAsync(payload, TimeoutToken).AsTask());
            Assert.Equal(payload, await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        }
    }

    [Fact]
    public async Task StartAsync_RawServerDeclinesWithFf_ClientLockStep()
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;
        (System.IO.Pipelines.IDuplexPipe clientPipe, System.IO.Pipelines.IDuplexPipe serverPipe) = CreatePipePair();
        var raw = new RawPeer(serverPipe, TimeoutToken);
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        Assert.Equal(0xFB, await Bounded(raw.OpenAsServerAsync(0xFF)));
        await Bounded(start);
        Assert.False(client.IsPipelined);

        // Lock-step: the payload waits for the status.
        Task transmit = client.TransmitAsync("abc"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal("abc"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(3)));
        await Bounded(transmit);
    }

    [Fact]
    public async Task TransmitAsync_Pipelined_WritesHeaderAndPayloadBeforeStatusAndMatchesStatusesInOrder()
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;
        RawPeer raw = await StartWithRawServerAsync(client);
        Assert.True(client.IsPipelined);

        Task first = client.TransmitAsync("one"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(Frame("one"), await Bounded(raw.ReadExactlyAsync(7)));
        Task second = client.TransmitAsync("two!"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(Frame("two!"), await Bounded(raw.ReadExactlyAsync(8)));
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(first);
        Assert.False(second.IsCompleted);
        await Bounded(raw.WriteAsync(0xFC));
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(second));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
    }

    [Fact]
    public async Task ReceiveLoop_PipelinedPeerInterleavesStatusesAndHeaders_BothHandled()
    {
        var server = new TinyProtoConnection();
        RawPeer raw = await StartWithRawClientAsync(server, opening: 0xFB);
        Assert.True(server.IsPipelined);

        // Our transmission goes out whole; the raw client sends a message before answering it.
        Task transmit = server.TransmitAsync("down"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(Frame("down"), await Bounded(raw.ReadExactlyAsync(8)));
        await Bounded(raw.WriteAsync([.. Frame("up"), 0xFF]));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(transmit);
        Assert.Equal("up"u8.ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task TransmitManyAsync_Pipelined_WritesWholeBatchBeforeAnyStatusAndCompletesOnLastOk()
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;
        RawPeer raw = await StartWithRawServerAsync(client);

        ReadOnlyMemory<byte>[] batch = ["one"u8.ToArray(), ReadOnlyMemory<byte>.Empty, "three"u8.ToArray()];
        Task transmit = client.TransmitManyAsync(batch, TimeoutToken).AsTask();
        byte[] expected = [.. Frame("one"), .. Frame(""), .. Frame("three")];
        Assert.Equal(expected, await Bounded(raw.ReadExactlyAsync(7 + 4 + 9)));
        await Bounded(raw.WriteAsync(0xFF, 0xFF));
        Assert.False(transmit.IsCompleted);
        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(transmit);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TransmitManyAsync_PipelinedPeerRefusesOne_ThrowsNamingItAndEarlierOnesCountAsAccepted(bool peerClosesAfterRefusing)
    {
        // A peer that refuses a pipelined message may also close instead of reading past its payload: the caller must
        // still learn which message was refused and that the ones before it were accepted.
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = true;
        RawPeer raw = await StartWithRawServerAsync(client);

        ReadOnlyMemory<byte>[] batch = ["a"u8.ToArray(), "b"u8.ToArray(), "c"u8.ToArray()];
        Task transmit = client.TransmitManyAsync(batch, TimeoutToken).AsTask();
        await Bounded(raw.ReadExactlyAsync(3 * 5));
        if (peerClosesAfterRefusing)
        {
            await Bounded(raw.WriteAsync(0xFF, 0xFC));
            await Bounded(raw.CompleteOutputAsync());
        }
        else
        {
            await Bounded(raw.WriteAsync(0xFF, 0xFC, 0xFF));
        }

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.MessageRefused, ex.Error);
        Assert.Contains("message 1 of a batch of 3", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TransmitManyAsync_EitherMode_PeerReceivesEveryMessageInOrder(bool pipelined)
    {
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = pipelined;
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        Assert.Equal(pipelined, client.IsPipelined);

        // Larger than one flush, so statuses and flushes interleave with the batch.
        ReadOnlyMemory<byte>[] batch = [.. Enumerable.Range(0, 300).Select(i => (ReadOnlyMemory<byte>)RandomBytes(i * 37, i))];
        Task transmit = client.TransmitManyAsync(batch, TimeoutToken).AsTask();
        for (int i = 0; i < batch.Length; i++)
        {
            Assert.Equal(batch[i].ToArray(), await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));
        }

        await Bounded(transmit);
    }

    private static byte[] Frame(string text) => [.. RawPeer.Header((uint)text.Length), .. Encoding.ASCII.GetBytes(text)];

    private async Task ExchangeAsync(TinyProtoConnection client, TinyProtoConnection server)
    {
        for (int i = 0; i < 20; i++)
        {
            byte[] up = RandomBytes(i * 13, i);
            byte[] down = RandomBytes(i * 7, -i);
            Task<byte[]> atServer = server.ReceiveAsync(TimeoutToken).AsTask();
            Task<byte[]> atClient = client.ReceiveAsync(TimeoutToken).AsTask();
            await Bounded(Task.WhenAll(client.TransmitAsync(up, TimeoutToken).AsTask(), server.TransmitAsync(down, TimeoutToken).AsTask()));
            Assert.Equal(up, await Bounded(atServer));
            Assert.Equal(down, await Bounded(atClient));
        }
    }
}
