using System.Buffers;
using System.Net.Sockets;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Tests.Transport;

/// <summary>
/// Connections over sockets the library opened, with each <see cref="TinyProtoThreading"/>: the dedicated reader thread
/// runs what an arrival completes, a continuation that keeps it hands the reading to a new thread, and everything a
/// connection does works the same in every mode.
/// </summary>
public sealed class DedicatedThreadTests : ConnectionTestBase
{
    public static TheoryData<TinyProtoThreading, bool, int> EchoCases()
    {
        var cases = new TheoryData<TinyProtoThreading, bool, int>();
        foreach (TinyProtoThreading threading in new[] { TinyProtoThreading.DedicatedThread, TinyProtoThreading.ThreadPool })
        {
            foreach (bool pipelined in new[] { false, true })
            {
                // Empty, small, past the direct-write threshold (64 KiB) and past what a socket buffer takes at once.
                foreach (int size in new[] { 0, 64, 100_000, 3 * 1024 * 1024 })
                {
                    cases.Add(threading, pipelined, size);
                }
            }
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(EchoCases))]
    public async Task EchoOverLoopback_EveryThreadingModeSizeAndMode_ReturnsEveryMessageIntact(TinyProtoThreading threading, bool pipelined, int size)
    {
        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { Threading = threading } };
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { ConnectionOptions = new TinyProtoConnectionOptions { Threading = threading, RequestPipelining = pipelined } };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Assert.Equal(pipelined, connection.IsPipelined);
        Assert.Equal(threading == TinyProtoThreading.DedicatedThread && NonBlockingSend.IsSupported, connection.DedicatedReader is not null);

        int rounds = size > 1_000_000 ? 3 : 20;
        for (int i = 0; i < rounds; i++)
        {
            byte[] message = RandomBytes(size, seed: i);
            await Bounded(connection.TransmitAsync(message, TimeoutToken).AsTask());
            byte[] echo = await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask());
            Assert.True(message.AsSpan().SequenceEqual(echo), $"Round {i}: the echo of {size} bytes differs.");
        }

        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        await Bounded(connection.Completion);
    }

    [DedicatedThreadFact]
    public async Task TransmitAsync_DedicatedThread_ContinuesOnTheReaderThreadWithoutThreadPoolHops()
    {
        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread } };
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread } };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        byte[] payload = RandomBytes(64, seed: 3);
        byte[] echo = new byte[64];

        // The status that completes a transmission arrives on the reader thread, and the caller continues there (unless
        // it came before the caller awaited); once there, every round trip stays on it.
        await MoveOntoTheReaderThreadAsync(connection);
        for (int i = 0; i < 50; i++)
        {
            await connection.TransmitAsync(payload, TimeoutToken);
            Assert.Equal("TinyProto reader", Thread.CurrentThread.Name);
            Assert.Equal(64, await connection.ReceiveAsync(echo, TimeoutToken));
            Assert.Equal("TinyProto reader", Thread.CurrentThread.Name);
        }

        await connection.CloseAsync(TimeoutToken);
        await Bounded(connection.Completion);
        Assert.NotNull(connection.DedicatedReader);
        Assert.False(connection.DedicatedReader!.IsDemoted);
    }

    [DedicatedThreadFact]
    public async Task HookThatBlocksItsThread_DedicatedThread_ReadingMovesToANewThreadAndTheNextHeaderIsAnswered()
    {
        using var release = new ManualResetEventSlim();
        var hookThread = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread } };
        server.SetConnectionHandler(() => new BlockingHookConnection(release, hookThread));
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        TinyProtoConnection serverSide = await SingleServerConnectionAsync(server);

        try
        {
            // The first message's hook blocks the server's reader thread (no await: Wait). Rule 5: the server still
            // reads and answers the next header, on the thread that took over the reading.
            await Bounded(connection.TransmitAsync(new byte[] { 1 }, TimeoutToken).AsTask());
            string? blockedThread = await Bounded(hookThread.Task);
            await Bounded(connection.TransmitAsync(new byte[] { 2 }, TimeoutToken).AsTask());
            Assert.False(release.IsSet);

            // The hook runs on the reader thread when the hook loop waited for the message; if it started late, it
            // found the message itself, on the thread pool, and no reading had to move.
            if (blockedThread == "TinyProto reader")
            {
                Assert.True(serverSide.DedicatedReader!.IsDemoted);
            }
        }
        finally
        {
            release.Set();
        }

        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        await Bounded(serverSide.Completion);
    }

    [DedicatedThreadFact]
    public async Task WaitingSynchronouslyOnTheReaderThread_DedicatedThread_DoesNotDeadlock()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread } };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        // On a loaded machine a continuation now and then resumes elsewhere; the test needs one on the reader thread.
        for (int attempt = 0; ; attempt++)
        {
            await MoveOntoTheReaderThreadAsync(connection);
            await connection.TransmitAsync(new byte[] { 42 }, TimeoutToken);
            if (Thread.CurrentThread.Name == "TinyProto reader" || attempt == 50)
            {
                break;
            }

            Assert.Equal(new byte[] { 42 }, await connection.ReceiveAsync(TimeoutToken));
        }

        Assert.Equal("TinyProto reader", Thread.CurrentThread.Name);

        // Sync over async on the very thread that reads: only a new reader thread can bring the echo.
        Task<byte[]> receive = connection.ReceiveAsync(TimeoutToken).AsTask();
        Assert.True(receive.Wait(TimeSpan.FromSeconds(20)), "The synchronous wait on the reader thread never ended.");
        Assert.Equal(new byte[] { 42 }, receive.Result);
        Assert.True(connection.DedicatedReader!.IsDemoted);

        await connection.CloseAsync(TimeoutToken);
        await Bounded(connection.Completion);
    }

    [DedicatedThreadFact]
    public async Task ConnectAsync_ListenerBacklogFull_DedicatedThread_EndsWithTimeout()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(0);
        int port = ((System.Net.IPEndPoint)listener.LocalEndPoint!).Port;

        // Fill the backlog, so that a further connect hangs in the kernel (or, where it does not, the handshake does).
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                _ = filler.ConnectAsync(listener.LocalEndPoint!, TimeoutToken).AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            }

            await using var client = new TinyProtoClient
            {
                Timeout = TimeSpan.FromMilliseconds(500),
                ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread },
            };
            var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken)));
            Assert.Equal(TinyProtoError.Timeout, ex.Error);
        }
        finally
        {
            fillers.ForEach(static s => s.Dispose());
        }
    }

    [DedicatedThreadFact]
    public async Task ReaderThreads_DedicatedThread_EndWithTheirConnections()
    {
        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread } };
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread } };
        var connections = new List<TinyProtoConnection>();
        for (int i = 0; i < 3; i++)
        {
            connections.Add(await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        }

        foreach (TinyProtoConnection connection in connections)
        {
            await Bounded(connection.TransmitAsync(new byte[] { 7 }, TimeoutToken).AsTask());
            await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        }

        // Each reader thread leaves once its socket is closed, on both ends.
        var readers = connections.Select(static c => c.DedicatedReader!).ToList();
        Assert.All(readers, static r => Assert.NotNull(r));
        await WaitUntilAsync(() => readers.All(static r => !r.IsRunning));
        await WaitUntilAsync(() => server.ActiveConnections.IsEmpty());
    }

    [DedicatedThreadFact]
    public async Task CloseAsync_PeerStopsReadingDuringALargePayload_DedicatedThread_CutsTheBlockedSendWithinTheTimeout()
    {
        using Socket listener = ListenOnLoopback(out int port);
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task rawServer = AcceptThenStopReadingAsync(listener, stalled.Task);

        await using var client = new TinyProtoClient
        {
            ConnectionOptions = new TinyProtoConnectionOptions { Threading = TinyProtoThreading.DedicatedThread, Timeout = TimeSpan.FromSeconds(2) },
        };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Task transmit = connection.TransmitAsync(new byte[64 * 1024 * 1024], TimeoutToken).AsTask();

        // The payload flows until both socket buffers are full (a stalled write may even end the connection first).
        await Task.WhenAny(transmit, Task.Delay(300, TimeoutToken));

        // The close waits for the payload in flight, sees no progress for a Timeout and closes the socket under the send.
        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => Bounded(transmit));
        Assert.True(ex is TinyProtoException { Error: TinyProtoError.ConnectionClosed } or OperationCanceledException, $"The transmission failed with {ex}");
        await Bounded(connection.Completion.ContinueWith(static _ => { }, TaskScheduler.Default));
        stalled.SetResult();
        await Bounded(rawServer);
    }

    [Fact]
    public void Threading_ValueOutsideTheEnum_ThrowsAndNamesTheChoices()
    {
        var options = new TinyProtoConnectionOptions();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => options.Threading = (TinyProtoThreading)7);
        Assert.Contains("Automatic, DedicatedThread or ThreadPool", ex.Message, StringComparison.Ordinal);
        options.Threading = TinyProtoThreading.ThreadPool;
        Assert.Equal(TinyProtoThreading.ThreadPool, options.Clone().Threading);
        Assert.Equal(TinyProtoThreading.Automatic, new TinyProtoConnectionOptions().Threading);
    }

    /// <summary>Round trips until the caller continues on the connection's reader thread (the first may complete before it awaits).</summary>
    private async Task MoveOntoTheReaderThreadAsync(TinyProtoConnection connection)
    {
        for (int i = 0; i < 1000 && Thread.CurrentThread.Name != "TinyProto reader"; i++)
        {
            await connection.TransmitAsync(new byte[] { 1 }, TimeoutToken);
            await connection.ReceiveAsync(TimeoutToken);
        }

        Assert.Equal("TinyProto reader", Thread.CurrentThread.Name);
    }

    private sealed class BlockingHookConnection(ManualResetEventSlim release, TaskCompletionSource<string?> hookThread) : TinyProtoConnection
    {
        private int _messages;

        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _messages) == 1)
            {
                hookThread.TrySetResult(Thread.CurrentThread.Name);

                // Blocks whatever thread runs the hook, the reader thread included; bounded so a failure cannot hang the run.
                release.Wait(TimeSpan.FromSeconds(30), cancellationToken);
            }

            return default;
        }
    }
}
