using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests.Faults;

/// <summary>What a <see cref="FaultProxy"/> does to one direction of one connection at a byte offset.</summary>
internal enum FaultKind
{
    /// <summary>Nothing more is forwarded this way, and nothing is closed: a path that silently died.</summary>
    Stall,

    /// <summary>Both sockets are closed with a reset (RST): a crashed proxy or a firewall's reset.</summary>
    Reset,

    /// <summary>The receiver sees the end of the stream (FIN) this way; the other way goes on.</summary>
    HalfClose,
}

/// <summary>A fault at <paramref name="AtByte"/>: after exactly that many bytes went through in that direction.</summary>
internal sealed record Fault(FaultKind Kind, long AtByte);

/// <summary>
/// How a <see cref="FaultProxy"/> forwards one direction of one connection: what it reads, after <see cref="Delay"/>,
/// in segments of <see cref="SegmentSize"/> bytes (1: every byte in a TCP segment of its own), until the <see cref="Fault"/>.
/// </summary>
internal sealed record FaultPlan
{
    public static readonly FaultPlan Clean = new();

    public int SegmentSize { get; init; } = 64 * 1024;

    public TimeSpan Delay { get; init; }

    public Fault? Fault { get; init; }

    /// <summary>
    /// A plan drawn from <paramref name="random"/>: segments of 1 to 64 KiB bytes (often 1), sometimes a delay, and with
    /// <paramref name="faultChance"/> a fault of any kind at a byte within the first <paramref name="withinBytes"/>.
    /// </summary>
    public static FaultPlan Draw(Random random, double faultChance, long withinBytes) => new()
    {
        SegmentSize = random.Next(4) switch { 0 => 1, 1 => random.Next(2, 8), 2 => random.Next(8, 512), _ => 64 * 1024 },
        Delay = random.Next(8) == 0 ? TimeSpan.FromMilliseconds(random.Next(1, 4)) : TimeSpan.Zero,
        Fault = random.NextDouble() < faultChance ? new Fault((FaultKind)random.Next(3), random.NextInt64(withinBytes)) : null,
    };

    public override string ToString() =>
        $"segments of {SegmentSize} B{(Delay > TimeSpan.Zero ? $", each read {Delay.TotalMilliseconds} ms late" : "")}{(Fault is { } f ? $", {f.Kind} at byte {f.AtByte}" : "")}";
}

/// <summary>
/// A TCP relay on loopback between clients and a target port that injects faults (since no netem or toxiproxy is
/// available): each accepted connection gets a <see cref="FaultPlan"/> per direction, from the function it was made
/// with, and the relay splits, delays, stalls, resets or half-closes as the plan says. It records each fault it
/// injected. <see cref="Stall"/> stalls every connection at once, at a moment rather than a byte.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _target;
    private readonly Func<int, (FaultPlan ToServer, FaultPlan ToClient)> _plans;
    private readonly CancellationTokenSource _disposed = new();
    private readonly CancellationTokenSource _stalled = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _pumps = [];
    private readonly List<string> _injected = [];
    private readonly Task _accepting;
    private int _connections;

    /// <summary>A relay that forwards everything as it comes, until <see cref="Stall"/>.</summary>
    /// <param name="targetPort">The loopback port it forwards to.</param>
    public FaultProxy(int targetPort)
        : this(targetPort, _ => (FaultPlan.Clean, FaultPlan.Clean))
    {
    }

    /// <param name="targetPort">The loopback port it forwards to.</param>
    /// <param name="plans">The plans of the n-th accepted connection (from 0): towards the target, and back.</param>
    public FaultProxy(int targetPort, Func<int, (FaultPlan ToServer, FaultPlan ToClient)> plans)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _plans = plans;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>The port clients connect to.</summary>
    public int Port { get; }

    /// <summary>How many connections it accepted.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The faults injected so far, each as "connection N: KIND toward the server/client at byte B".</summary>
    public string[] Injected
    {
        get
        {
            lock (_injected)
            {
                return [.. _injected];
            }
        }
    }

    /// <summary>
    /// From now on nothing is forwarded on any connection, and every socket stays open, as a proxy or a network path
    /// that silently died: neither end sees a FIN or a reset, and the relay's sockets still answer TCP (and keepalive
    /// probes), so only the protocol's own timers can tell.
    /// </summary>
    public void Stall() => _stalled.Cancel();

    public async ValueTask DisposeAsync()
    {
        await _stalled.CancelAsync();
        await _disposed.CancelAsync();
        _listener.Dispose();
        lock (_sockets)
        {
            foreach (Socket socket in _sockets)
            {
                socket.Dispose();
            }
        }

        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] pumps;
        lock (_sockets)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _disposed.Dispose();
        _stalled.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_disposed.Token);
            }
            catch (Exception)
            {
                return;
            }

            int index = Interlocked.Increment(ref _connections) - 1;
            (FaultPlan toServer, FaultPlan toClient) = _plans(index);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            lock (_sockets)
            {
                _sockets.Add(client);
                _sockets.Add(server);
            }

            try
            {
                await server.ConnectAsync(_target, _disposed.Token);
            }
            catch (Exception)
            {
                client.Dispose();
                continue;
            }

            var pair = new Pair(client, server);
            lock (_sockets)
            {
                _pumps.Add(PumpAsync(pair, index, "toward the server", client, server, toServer));
                _pumps.Add(PumpAsync(pair, index, "toward the client", server, client, toClient));
            }
        }
    }

    private async Task PumpAsync(Pair pair, int index, string direction, Socket from, Socket to, FaultPlan plan)
    {
        CancellationToken stalled = _stalled.Token;
        byte[] buffer = new byte[64 * 1024];
        long forwarded = 0;
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, stalled);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                if (plan.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(plan.Delay, stalled);
                }

                for (int offset = 0; offset < read;)
                {
                    int length = Math.Min(plan.SegmentSize, read - offset);
                    if (plan.Fault is { } fault && forwarded + length > fault.AtByte)
                    {
                        // Exactly up to the fault's byte, then the fault.
                        int before = (int)(fault.AtByte - forwarded);
                        if (before > 0)
                        {
                            await to.SendAsync(buffer.AsMemory(offset, before), SocketFlags.None, stalled);
                        }

                        Inject(pair, index, direction, to, fault);
                        return;
                    }

                    await to.SendAsync(buffer.AsMemory(offset, length), SocketFlags.None, stalled);
                    offset += length;
                    forwarded += length;
                }
            }
        }
        catch (Exception) when (stalled.IsCancellationRequested && !_disposed.IsCancellationRequested)
        {
            // Stalled: forward nothing more, close nothing.
        }
        catch (Exception)
        {
            // The other direction reset the pair, or the proxy is disposed: this direction ends with it.
            pair.Reset();
        }
    }

    private void Inject(Pair pair, int index, string direction, Socket to, Fault fault)
    {
        lock (_injected)
        {
            _injected.Add($"connection {index}: {fault.Kind} {direction} at byte {fault.AtByte}");
        }

        switch (fault.Kind)
        {
            case FaultKind.Stall:
                // Forward nothing more this way; keep every socket open.
                break;
            case FaultKind.Reset:
                pair.Reset();
                break;
            case FaultKind.HalfClose:
                to.Shutdown(SocketShutdown.Send);
                break;
        }
    }

    /// <summary>The two sockets of one relayed connection.</summary>
    private sealed class Pair(Socket client, Socket server)
    {
        private int _reset;

        /// <summary>Closes both with a reset (linger 0): each end reads ECONNRESET. Once.</summary>
        public void Reset()
        {
            if (Interlocked.Exchange(ref _reset, 1) != 0)
            {
                return;
            }

            foreach (Socket socket in new[] { client, server })
            {
                try
                {
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                }
                catch (Exception)
                {
                    // Gone already.
                }
            }
        }
    }
}
