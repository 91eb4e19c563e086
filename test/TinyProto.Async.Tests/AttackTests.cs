using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests;

/// <summary>
/// A bounded attack on one server: a few hundred hostile connections (silent, oversize announcers, tricklers, peers
/// that never read) while a good client's lock-step echo keeps succeeding, every hostile connection is closed by a
/// timeout, and the process's managed memory stays under a stated bound. It measures the whole process, so it runs
/// alone (<see cref="AllocationGuardTestGroup"/>).
/// </summary>
[Collection(nameof(AllocationGuardTestGroup))]
public sealed class AttackTests : ConnectionTestBase
{
    /// <summary>The managed memory the attack may add, at most (announced sizes alone would be 200 MiB).</summary>
    private const long MemoryBound = 64L * 1024 * 1024;

    public AttackTests()
        : base(TimeSpan.FromSeconds(60))
    {
    }

    [Fact]
    public async Task HundredsOfHostilePeers_AGoodClientKeepsEchoing_EveryoneHostileIsClosed_MemoryStaysBounded()
    {
        await using var server = new TinyProtoServer();
        server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(1);
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection good = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = baseline;
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
                await Task.Delay(20, CancellationToken.None);
            }
        });

        byte[] oneMiB = new byte[1024 * 1024];
        var attackers = new List<Task<bool>>();
        for (int i = 0; i < 50; i++)
        {
            attackers.Add(Hostile(port, static _ => Task.CompletedTask));
            attackers.Add(Hostile(port, async raw =>
            {
                await raw.OpenAsClientAsync();
                await raw.WriteAsync(RawPeer.Header(1024 * 1024));
            }));
            attackers.Add(Hostile(port, async raw =>
            {
                await raw.OpenAsClientAsync();
                await raw.WriteAsync(RawPeer.Header(100_000));
                for (int b = 0; b < 40; b++)
                {
                    await raw.WriteAsync(0x41);
                    await Task.Delay(250, TimeoutToken);
                }
            }));
        }

        for (int i = 0; i < 200; i++)
        {
            attackers.Add(Hostile(port, async raw =>
            {
                await raw.OpenAsClientAsync();
                await raw.WriteAsync(RawPeer.Header(1024 * 1024));
            }));
        }

        for (int i = 0; i < 10; i++)
        {
            attackers.Add(Hostile(port, async raw =>
            {
                // Sends a whole message, then never reads: the echo's header waits for a status that never comes.
                await raw.OpenAsClientAsync();
                await raw.WriteAsync(RawPeer.Header((uint)oneMiB.Length));
                await raw.ReadByteAsync();
                await raw.WriteAsync(oneMiB);
            }));
        }

        int echoes = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        byte[] message = "the good client"u8.ToArray();
        while (clock.Elapsed < TimeSpan.FromSeconds(4))
        {
            await Bounded(good.TransmitAsync(message, TimeoutToken).AsTask());
            Assert.Equal(message, await Bounded(good.ReceiveAsync(TimeoutToken).AsTask()));
            echoes++;
        }

        bool[] closedByServer = await Bounded(Task.WhenAll(attackers));
        await sampling.CancelAsync();
        await sampler;

        Assert.True(echoes > 100, $"the good client echoed only {echoes} times in 4 s");
        Assert.All(closedByServer, Assert.True);
        Assert.True(peak - baseline < MemoryBound, $"the attack added {(peak - baseline) / 1024 / 1024} MiB of managed memory (bound {MemoryBound / 1024 / 1024} MiB)");
        await WaitUntilAsync(() => server.ActiveConnections.Count == 1);
    }

    /// <summary>Connects, runs <paramref name="act"/>, then waits for the server to close the connection; true when it did.</summary>
    private async Task<bool> Hostile(int port, Func<RawPeer, Task> act)
    {
        await Task.Yield();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        await using var raw = new RawPeer(socket, TimeoutToken);
        try
        {
            await act(raw);
            await raw.ReadToEndAsync();
            return true;
        }
        catch (Exception ex) when (ex is IOException or SocketException or EndOfStreamException)
        {
            // Reset or closed by the server while the attacker still wrote or read: closed all the same.
            return true;
        }
    }
}
