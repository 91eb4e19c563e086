using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Tests.Transport;

/// <summary>
/// The dedicated-thread writer over a real loopback socket: a flush the socket takes at once completes synchronously;
/// one it cannot take goes to the helper thread, and everything flushed after it follows in order; a cancelled flush
/// stops the wait but not the bytes; completing sends what is buffered before the socket closes.
/// </summary>
public sealed class BlockingSocketWriterTests : TestBase
{
    [DedicatedThreadFact]
    public async Task FlushAsync_SmallWrite_CompletesSynchronously()
    {
        (Socket local, Socket remote) = await ConnectedPairAsync();
        using Socket peer = remote;
        var writer = new BlockingSocketWriter(new NetworkStream(local, ownsSocket: true));

        writer.Write("hello"u8);
        ValueTask<FlushResult> flush = writer.FlushAsync();
        Assert.True(flush.IsCompletedSuccessfully);

        byte[] received = new byte[5];
        await peer.ReceiveAsync(received.AsMemory(), SocketFlags.None, TimeoutToken);
        Assert.Equal("hello"u8.ToArray(), received);
        await writer.CompleteAsync();
    }

    [DedicatedThreadFact]
    public async Task FlushAsync_MoreThanTheSocketTakes_HelperSendsItAndLaterFlushesFollowInOrder()
    {
        (Socket local, Socket remote) = await ConnectedPairAsync();
        using Socket peer = remote;
        var writer = new BlockingSocketWriter(new NetworkStream(local, ownsSocket: true));
        byte[] big = PatternBytes(64 * 1024 * 1024, seed: 1);
        byte[] small = PatternBytes(1000, seed: 2);
        byte[] direct = PatternBytes(200_000, seed: 3);

        // Nobody reads yet: 64 MiB cannot fit in the socket buffers, so the flush stays pending on the helper thread.
        writer.Write(big);
        ValueTask<FlushResult> first = writer.FlushAsync();
        Assert.False(first.IsCompleted);
        Task<byte[]> reading = ReadAllAsync(peer, big.Length + small.Length + direct.Length);
        Assert.False((await Bounded(first.AsTask())).IsCanceled);

        writer.Write(small);
        await Bounded(writer.FlushAsync().AsTask());
        await Bounded(writer.WriteDirectAsync(direct).AsTask());
        byte[] all = await Bounded(reading);

        Assert.True(all.AsSpan(0, big.Length).SequenceEqual(big), "The large flush arrived changed.");
        Assert.True(all.AsSpan(big.Length, small.Length).SequenceEqual(small), "The flush after it arrived out of order.");
        Assert.True(all.AsSpan(big.Length + small.Length).SequenceEqual(direct), "The direct write arrived out of order.");
        await writer.CompleteAsync();
    }

    [DedicatedThreadFact]
    public async Task CancelPendingFlush_WhileTheHelperSends_EndsTheWaitAndTheBytesStillGoOut()
    {
        (Socket local, Socket remote) = await ConnectedPairAsync();
        using Socket peer = remote;
        var writer = new BlockingSocketWriter(new NetworkStream(local, ownsSocket: true));
        byte[] big = PatternBytes(64 * 1024 * 1024, seed: 4);

        writer.Write(big);
        ValueTask<FlushResult> flush = writer.FlushAsync();
        Assert.False(flush.IsCompleted);
        writer.CancelPendingFlush();
        Assert.True((await Bounded(flush.AsTask())).IsCanceled);

        // CompleteAsync waits for the helper to send what it holds, then closes: the peer reads all of it, then the end.
        Task complete = writer.CompleteAsync().AsTask();
        byte[] all = await Bounded(ReadAllAsync(peer, big.Length));
        Assert.True(all.AsSpan().SequenceEqual(big));
        await Bounded(complete);
        Assert.Equal(0, await peer.ReceiveAsync(new byte[1].AsMemory(), SocketFlags.None, TimeoutToken));
    }

    [DedicatedThreadFact]
    public async Task FlushAsync_PeerReset_ThrowsIOException()
    {
        (Socket local, Socket remote) = await ConnectedPairAsync();
        var writer = new BlockingSocketWriter(new NetworkStream(local, ownsSocket: true));
        writer.Write(PatternBytes(64 * 1024 * 1024, seed: 5));
        ValueTask<FlushResult> flush = writer.FlushAsync();

        remote.LingerState = new LingerOption(true, 0);
        remote.Close();
        await Assert.ThrowsAsync<IOException>(() => Bounded(flush.AsTask()));
        writer.Complete();
    }

    private static byte[] PatternBytes(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<(Socket Local, Socket Remote)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var local = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

        // A blocking connect: the writer's socket must never do an asynchronous operation.
        Task connect = Task.Factory.StartNew(() => local.Connect(listener.LocalEndPoint!), TimeoutToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Socket remote = await listener.AcceptAsync(TimeoutToken);
        await Bounded(connect);
        return (local, remote);
    }

    private async Task<byte[]> ReadAllAsync(Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        int done = 0;
        while (done < count)
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None, TimeoutToken);
            Assert.NotEqual(0, read);
            done += read;
        }

        return buffer;
    }
}
