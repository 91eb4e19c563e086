using System.Net;
using System.Net.Sockets;
using TinyProto.Async.Tests.Buffers;

namespace TinyProto.Async.Tests;

/// <summary>
/// Memory for an incoming message follows the bytes that arrived, never the size its header announced: four bytes
/// from anyone must not reserve a megabyte. Checked on the in-memory path and on the direct-read path over sockets.
/// </summary>
public sealed class IncomingMemoryTests : ConnectionTestBase
{
    /// <summary>What a body may hold before any of its bytes arrive (PooledBuffer.FirstSegmentSize, with room for rounding).</summary>
    private const long SmallAllowance = 32 * 1024;

    [Fact]
    public async Task AHeaderWithoutPayload_ReservesOnlyASmallBuffer_AndTheBufferGrowsWithWhatArrives()
    {
        var pool = new TestArrayPool();
        var server = new TinyProtoConnection();
        server.Options.BufferPool = pool;
        RawPeer raw = await StartWithRawClientAsync(server);
        const int size = 1024 * 1024;

        await Bounded(raw.WriteAsync(RawPeer.Header(size)));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Task.Delay(50, TimeoutToken);
        Assert.True(pool.RentedBytes <= SmallAllowance, $"a header alone made the connection hold {pool.RentedBytes} bytes");

        byte[] message = RandomBytes(size, seed: 11);
        await Bounded(raw.WriteAsync(message[..300_000]));
        await WaitUntilAsync(() => server.PayloadBytesMoved >= 300_000);
        Assert.True(pool.RentedBytes <= 2 * 300_000 + SmallAllowance, $"300,000 bytes that arrived made the connection hold {pool.RentedBytes} bytes");

        await Bounded(raw.WriteAsync(message[300_000..]));
        Assert.Equal(message, await Bounded(server.ReceiveAsync(TimeoutToken).AsTask()));

        await Bounded(server.CloseAsync(TimeoutToken).AsTask());
        pool.AssertClean();
    }

    [Fact]
    public async Task ByDefault_AMessageAbove64MiB_IsRefusedWith0xFCAndTheConnectionCloses()
    {
        var server = new TinyProtoConnection();
        Assert.Equal(64L * 1024 * 1024, server.Options.MaxMessageSize);
        RawPeer raw = await StartWithRawClientAsync(server);

        await Bounded(raw.WriteAsync(RawPeer.Header(64 * 1024 * 1024 + 1)));

        Assert.Equal(0xFC, await Bounded(raw.ReadByteAsync()));
        await AssertFaultsAsync(server.Completion, TinyProtoError.MessageTooLarge);
    }

    [Theory]
    [InlineData(TinyProtoThreading.ThreadPool)]
    [InlineData(TinyProtoThreading.DedicatedThread)]
    public async Task ManyPeersAnnouncingAMegabyteAndSendingNothing_MakeTheServerHoldOnlySmallBuffers(TinyProtoThreading threading)
    {
        const int peers = 40;
        var pool = new TestArrayPool();
        await using var server = new TinyProtoServer();
        server.ConnectionOptions.BufferPool = pool;
        server.ConnectionOptions.Threading = threading;
        int port = await StartLoopbackAsync(server);

        var raws = new List<RawPeer>();
        try
        {
            for (int i = 0; i < peers; i++)
            {
                RawPeer raw = await ConnectRawAsync(port);
                raws.Add(raw);
                await Bounded(raw.OpenAsClientAsync());
                await Bounded(raw.WriteAsync(RawPeer.Header(1024 * 1024)));
                Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
            }

            await Task.Delay(100, TimeoutToken);
            Assert.True(pool.RentedBytes <= peers * SmallAllowance, $"{peers} headers alone made the server hold {pool.RentedBytes} bytes");
        }
        finally
        {
            foreach (RawPeer raw in raws)
            {
                await raw.DisposeAsync();
            }
        }
    }
}
