using System.Buffers;
using System.Text;
using TinyProto.Async.Tests.Interop;

namespace TinyProto.Async.Tests;

/// <summary>
/// <c>RequestAsync</c>: the peer's next message is the reply; many callers at once each get their own reply, in lock-step
/// and pipelined mode; a reply that will never be matched is never handed to a later request (the connection closes).
/// </summary>
public sealed class RequestTests : ConnectionTestBase
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ManyCallersAtOnce_EachGetsTheReplyToItsOwnRequest(bool pipelined)
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { ConnectionOptions = new() { RequestPipelining = pipelined } };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Assert.Equal(pipelined, connection.IsPipelined);

        int mismatched = 0;
        await Bounded(Task.WhenAll(Enumerable.Range(0, 64).Select(caller => Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                byte[] request = Encoding.ASCII.GetBytes($"caller {caller} request {i} " + new string('x', (caller * 7 + i) % 300));
                byte[] reply = await connection.RequestAsync(request, TimeoutToken);
                if (!reply.AsSpan().SequenceEqual(request))
                {
                    Interlocked.Increment(ref mismatched);
                }
            }
        }))));

        Assert.Equal(0, mismatched);
    }

    [Fact]
    public async Task NoReplyInTime_ThrowsTimeoutClosesTheConnection_AndTheLateReplyReachesNoLaterRequest()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new EchoConnection(slowFirst: TimeSpan.FromMilliseconds(800)));
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => connection.RequestAsync("slow request A"u8.ToArray(), TimeSpan.FromMilliseconds(200), TimeoutToken).AsTask());
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
        Assert.Contains("no correlation ids", ex.Message, StringComparison.Ordinal);

        var next = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.RequestAsync("request B"u8.ToArray(), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, next.Error);
        await AssertFaultsAsync(connection.Completion, TinyProtoError.Timeout);
    }

    [Fact]
    public async Task CancelledAfterItWasSent_ClosesTheConnection()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new EchoConnection(slowFirst: TimeSpan.FromSeconds(2)));
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        using var cancel = new CancellationTokenSource();

        Task request = connection.RequestAsync("A"u8.ToArray(), cancel.Token).AsTask();
        await Task.Delay(200, TimeoutToken);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request.WaitAsync(TimeSpan.FromSeconds(10)));
        var ex = await AssertFaultsAsync(connection.Completion, TinyProtoError.ConnectionClosed);
        Assert.Contains("cancelled after it was sent", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancelledBeforeItCouldBeSent_LeavesTheConnectionOpen()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.RequestAsync("never"u8.ToArray(), new CancellationToken(canceled: true)).AsTask());

        Assert.Equal("still open"u8.ToArray(), await Bounded(connection.RequestAsync("still open"u8.ToArray(), TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task IntoABufferOrAStream_TheReplyLandsThere_AndOneTooLargeForTheBufferClosesTheConnection()
    {
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        byte[] buffer = new byte[16];

        int length = await Bounded(connection.RequestAsync("into a buffer"u8.ToArray(), buffer, TimeSpan.FromSeconds(5), TimeoutToken).AsTask());
        Assert.Equal("into a buffer"u8.ToArray(), buffer[..length]);

        using var destination = new MemoryStream();
        byte[] large = RandomBytes(300_000, seed: 9);
        Assert.Equal(large.Length, await Bounded(connection.RequestAsync(large, destination, TimeSpan.FromSeconds(5), TimeoutToken).AsTask()));
        Assert.Equal(large, destination.ToArray());

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.RequestAsync(new byte[100], buffer, TimeSpan.FromSeconds(5), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.MessageTooLarge, ex.Error);
        await AssertFaultsAsync(connection.Completion, TinyProtoError.ConnectionClosed);
    }

    [Fact]
    public async Task OnAConnectionWhoseHookTakesItsMessages_IsRefused()
    {
        var client = new EchoConnection();
        var server = new EchoConnection();
        await StartPairAsync(client, server);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => client.RequestAsync("x"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Contains("TransmissionReceivedAsync", ex.Message, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task AgainstThePythonOriginalsEchoServer_ManyCallersEachGetTheirOwnReply()
    {
        await using PythonPeer python = await PythonPeer.StartEchoServerAsync(TimeoutToken);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", python.Port, TimeoutToken));

        await Bounded(Task.WhenAll(Enumerable.Range(0, 16).Select(caller => Task.Run(async () =>
        {
            for (int i = 0; i < 20; i++)
            {
                byte[] request = Encoding.ASCII.GetBytes($"caller {caller} request {i}");
                Assert.Equal(request, await connection.RequestAsync(request, TimeoutToken));
            }
        }))));
    }

    private sealed class EchoConnection(TimeSpan? slowFirst = null) : TinyProtoConnection
    {
        private int _seen;

        public EchoConnection()
            : this(null)
        {
        }

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (slowFirst is { } delay && Interlocked.Increment(ref _seen) == 1)
            {
                await Task.Delay(delay, cancellationToken);
            }

            await TransmitAsync(message, cancellationToken);
        }
    }
}
