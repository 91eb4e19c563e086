using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>A close asked for while a message is in flight lets that exchange finish: the peer never sees a header without its payload.</summary>
public sealed class GracefulCloseTests() : ConnectionTestBase(TimeSpan.FromSeconds(30))
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CloseAsync_WaitingForOurStatusWhenThePeerCloses_EndsAtOnceAndTheTransmitFails(bool infiniteTimeout)
    {
        // The close waits for our exchange in flight; once the peer is gone no status can come, so that wait is over
        // at once: no Timeout has to pass (the clock is fake and never moves), and with no Timeout it still ends.
        var client = new TinyProtoConnection();
        client.Options.TimeProvider = new FakeTimeProvider();
        client.Options.Timeout = infiniteTimeout ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(5);
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        var raw = new RawPeer(serverPipe, TimeoutToken);
        await raw.OpenAsServerAsync();
        await start.WaitAsync(TimeoutToken);

        Task transmit = client.TransmitAsync("x"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(1), await raw.ReadExactlyAsync(4));
        Task close = client.CloseAsync(TimeoutToken).AsTask();
        await raw.CompleteOutputAsync();

        await close.WaitAsync(TimeSpan.FromSeconds(5), TimeoutToken);
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => transmit.WaitAsync(TimeoutToken));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        await client.Completion.WaitAsync(TimeoutToken);
    }

    [Fact]
    public async Task StopAsync_WhileClientEchoesContinuously_ClientSeesCloseAtMessageBoundary()
    {
        await using var server = new TinyProtoServer();
        server.AddAddress("127.0.0.1", 0);
        server.SetConnectionHandler<EchoConnection>();
        await server.StartAsync(TimeoutToken);
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;

        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await client.ConnectAsync("127.0.0.1", port, TimeoutToken);
        using var stop = new CancellationTokenSource();
        int roundTrips = 0;
        Task echoLoop = Task.Run(async () =>
        {
            byte[] payload = new byte[16];
            while (true)
            {
                await connection.TransmitAsync(payload, TimeoutToken);
                await connection.ReceiveAsync(TimeoutToken);
                Interlocked.Increment(ref roundTrips);
            }
        });

        while (Volatile.Read(ref roundTrips) < 200)
        {
            await Task.Delay(1, TimeoutToken);
        }

        await Bounded(server.StopAsync(TimeoutToken));

        // A header that reached the server after its stop began is declined with 0xFD (rule 8); otherwise the close ends the loop.
        TinyProtoException loopError = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(echoLoop));
        Assert.True(loopError.Error == TinyProtoError.ConnectionClosed || (loopError.Error == TinyProtoError.MessageRefused && loopError.Message.Contains("0xFD", StringComparison.Ordinal)), loopError.ToString());
        Assert.DoesNotContain("inside a payload", loopError.Message, StringComparison.Ordinal);
        await Bounded(connection.Completion);
    }

    [Fact]
    public async Task CloseAsync_WhileOwnTransmissionAwaitsStatus_TransmissionCompletesFirst()
    {
        var (clientPipe, rawPipe) = CreatePipePair();
        var client = new TinyProtoConnection();
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        Assert.Equal(new byte[] { 0xFF }, await ReadExactlyAsync(rawPipe.Input, 1));
        await rawPipe.Output.WriteAsync(new byte[] { 0xFF }, TimeoutToken);
        await Bounded(start);

        Task transmit = client.TransmitAsync(new byte[] { 1, 2, 3 }, TimeoutToken).AsTask();
        Assert.Equal(new byte[] { 0, 0, 0, 3 }, await ReadExactlyAsync(rawPipe.Input, 4));

        // The status is held back until the close has begun.
        Task close = client.CloseAsync(TimeoutToken).AsTask();
        Assert.False(close.IsCompleted);
        await rawPipe.Output.WriteAsync(new byte[] { 0xFF }, TimeoutToken);

        await Bounded(transmit);
        Assert.Equal(new byte[] { 1, 2, 3 }, await ReadExactlyAsync(rawPipe.Input, 3));
        await Bounded(close);
        await Bounded(client.Completion);
    }

    /// <summary>
    /// A second close (a dispose, another caller) while the first waits for our exchange in flight joins that wait: it
    /// does not cut the exchange short. It once failed the transmission and closed with the OK'd header's payload unsent.
    /// </summary>
    [Fact]
    public async Task CloseAsync_CalledAgainWhileTheFirstWaitsForOurExchange_StillLetsItFinish()
    {
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        Task transmit = client.TransmitAsync(new byte[] { 1, 2, 3 }, TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));

        Task first = client.CloseAsync(TimeoutToken).AsTask();
        Task second = client.CloseAsync(TimeoutToken).AsTask();
        Task disposed = client.DisposeAsync().AsTask();
        Assert.False(first.IsCompleted || second.IsCompleted || disposed.IsCompleted, "a close did not wait for our exchange in flight");
        Assert.False(transmit.IsCompleted, "a second close ended the transmission in flight");

        await Bounded(raw.WriteAsync(0xFF));
        await Bounded(transmit);
        Assert.Equal(new byte[] { 1, 2, 3 }, await Bounded(raw.ReadToEndAsync()));
        await Bounded(Task.WhenAll(first, second, disposed));
        await Bounded(client.Completion);
    }

    private async Task<byte[]> ReadExactlyAsync(System.IO.Pipelines.PipeReader reader, int count)
    {
        while (true)
        {
            System.IO.Pipelines.ReadResult result = await reader.ReadAsync(TimeoutToken);
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.Slice(0, count).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }

            Assert.False(result.IsCompleted, $"the stream ended after {result.Buffer.Length} of {count} bytes");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
