using CsCheck;

namespace TinyProto.Async.Tests;

/// <summary>
/// A model-based property test of a connected pair (CsCheck: generated operation lists, shrunk to the shortest failing
/// one, replayable from the seed it prints): random interleavings of transmissions from both ends (lock-step or
/// pipelined, some cancelled before they start), receives, and a close from either end, against a model of two FIFO
/// queues. Every receive gets the oldest message the model has for it, a cancelled transmission sends nothing, and
/// after the close both ends complete cleanly with nothing left over.
/// </summary>
public sealed class ConnectionPairPropertyTests : ConnectionTestBase
{
    private enum Kind
    {
        ClientSends,
        ServerSends,
        ClientReceives,
        ServerReceives,
        ClientSendsCancelled,
        ServerSendsCancelled,
    }

    private readonly record struct Step(Kind Kind, int Size)
    {
        public override string ToString() => Kind is Kind.ClientSends or Kind.ServerSends or Kind.ClientSendsCancelled or Kind.ServerSendsCancelled ? $"{Kind}({Size})" : Kind.ToString();
    }

    private static readonly Gen<(Step[] Steps, bool Pipelined, bool ClientCloses, int PauseThreshold)> Runs =
        Gen.Select(
            Gen.Select(Gen.Enum<Kind>(), Gen.Frequency((6, Gen.Int[0, 300]), (1, Gen.Int[301, 40_000])), (kind, size) => new Step(kind, size)).Array[0, 40],
            Gen.Bool,
            Gen.Bool,
            Gen.OneOfConst(64, 4096, 1024 * 1024));

    public ConnectionPairPropertyTests()
        : base(TimeSpan.FromMinutes(5))
    {
    }

    [Fact]
    public async Task AnyInterleavingOfTransmitsReceivesCancellationsAndACloseFromEitherEnd_MatchesTheModel()
    {
        await Runs.SampleAsync(RunAsync, iter: 80, threads: 1, print: r => $"{(r.Item2 ? "pipelined" : "lock-step")}, {(r.Item3 ? "client" : "server")} closes, pause at {r.Item4}: {string.Join(" ", r.Item1)}");
    }

    private async Task RunAsync(Step[] steps, bool pipelined, bool clientCloses, int pauseThreshold)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        limit.CancelAfter(TimeSpan.FromSeconds(20));
        var client = new TinyProtoConnection();
        client.Options.RequestPipelining = pipelined;
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server, pauseThreshold);
        Assert.Equal(pipelined, client.IsPipelined);
        var toServer = new Queue<byte[]>();
        var toClient = new Queue<byte[]>();

        // Each end's transmissions run one after another, as a caller awaiting each would, but without holding up the
        // other steps: a receive may be what lets a transmission finish.
        Task clientSends = Task.CompletedTask;
        Task serverSends = Task.CompletedTask;
        int sequence = 0;
        foreach (Step step in steps)
        {
            switch (step.Kind)
            {
                case Kind.ClientSends:
                    byte[] up = Payload(step.Size, sequence++);
                    toServer.Enqueue(up);
                    clientSends = After(clientSends, () => client.TransmitAsync(up, limit.Token).AsTask());
                    break;
                case Kind.ServerSends:
                    byte[] down = Payload(step.Size, sequence++);
                    toClient.Enqueue(down);
                    serverSends = After(serverSends, () => server.TransmitAsync(down, limit.Token).AsTask());
                    break;
                case Kind.ClientSendsCancelled or Kind.ServerSendsCancelled:
                    TinyProtoConnection sender = step.Kind == Kind.ClientSendsCancelled ? client : server;
                    await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sender.TransmitAsync(Payload(step.Size, sequence++), new CancellationToken(canceled: true)).AsTask());
                    break;
                case Kind.ClientReceives when toClient.Count > 0:
                    Assert.Equal(toClient.Dequeue(), await client.ReceiveAsync(limit.Token));
                    break;
                case Kind.ServerReceives when toServer.Count > 0:
                    Assert.Equal(toServer.Dequeue(), await server.ReceiveAsync(limit.Token));
                    break;
            }
        }

        // Everything still on its way arrives, in order; then one end closes and both end cleanly.
        while (toClient.Count > 0)
        {
            Assert.Equal(toClient.Dequeue(), await client.ReceiveAsync(limit.Token));
        }

        while (toServer.Count > 0)
        {
            Assert.Equal(toServer.Dequeue(), await server.ReceiveAsync(limit.Token));
        }

        await clientSends.WaitAsync(limit.Token);
        await serverSends.WaitAsync(limit.Token);
        await (clientCloses ? client : server).CloseAsync(limit.Token);
        await client.Completion.WaitAsync(limit.Token);
        await server.Completion.WaitAsync(limit.Token);
        TinyProtoException after = await Assert.ThrowsAsync<TinyProtoException>(() => (clientCloses ? server : client).ReceiveAsync(limit.Token).AsTask());
        Assert.Equal(TinyProtoError.ConnectionClosed, after.Error);
    }

    private static async Task After(Task previous, Func<Task> next)
    {
        await previous;
        await next();
    }

    private static byte[] Payload(int size, int sequence)
    {
        byte[] payload = new byte[size];
        new Random(sequence).NextBytes(payload);
        return payload;
    }
}
