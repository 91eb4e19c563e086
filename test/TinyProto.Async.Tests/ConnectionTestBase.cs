using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;

namespace TinyProto.Async.Tests;

/// <summary>Helpers shared by connection tests: started pipe pairs, raw peers, loopback servers.</summary>
public abstract class ConnectionTestBase : TestBase
{
    protected ConnectionTestBase(TimeSpan? timeout = null)
        : base(timeout ?? TimeSpan.FromSeconds(20))
    {
    }

    /// <summary>Gives <paramref name="connection"/> a fake clock and <paramref name="timeout"/>; time passes only when the test advances it.</summary>
    protected static FakeTimeProvider UseFakeTime(TinyProtoConnection connection, TimeSpan timeout)
    {
        var time = new FakeTimeProvider();
        connection.Options.TimeProvider = time;
        connection.Options.Timeout = timeout;
        return time;
    }

    /// <summary>
    /// Advances <paramref name="time"/> by <paramref name="step"/> until <paramref name="task"/> completes, giving the
    /// connection's loops a moment between steps; returns how much fake time passed. Bounded by the test's timeout.
    /// </summary>
    protected async Task<TimeSpan> AdvanceUntilAsync(FakeTimeProvider time, Task task, TimeSpan step)
    {
        TimeSpan passed = TimeSpan.Zero;
        while (!task.IsCompleted)
        {
            TimeoutToken.ThrowIfCancellationRequested();
            time.Advance(step);
            passed += step;
            await Task.WhenAny(task, Task.Delay(5, TimeoutToken));
        }

        return passed;
    }

    /// <summary>Polls until <paramref name="condition"/> holds, bounded by the test's timeout: for a state the test cannot await.</summary>
    protected async Task WaitUntilAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(1, TimeoutToken);
        }
    }

    /// <summary>Starts both connections over an in-memory pipe pair; each handshake waits for the other, so both start at once.</summary>
    protected async Task StartPairAsync(TinyProtoConnection client, TinyProtoConnection server, long pauseThreshold = 1024 * 1024, MemoryPool<byte>? pool = null)
    {
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair(pauseThreshold, pool);
        await Bounded(Task.WhenAll(
            client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken),
            server.StartAsync(serverPipe, TinyProtoRole.Server, TimeoutToken)));
    }

    /// <summary>Starts <paramref name="server"/> in the server role with a raw peer playing the client.</summary>
    internal async Task<RawPeer> StartWithRawClientAsync(TinyProtoConnection server, byte opening = 0xFF, long pauseThreshold = 1024 * 1024, MemoryPool<byte>? pool = null)
    {
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair(pauseThreshold, pool);
        var raw = new RawPeer(clientPipe, TimeoutToken);
        Task start = server.StartAsync(serverPipe, TinyProtoRole.Server, TimeoutToken);
        byte answer = await Bounded(raw.OpenAsClientAsync(opening));
        await Bounded(start);
        Assert.Equal(opening == 0xFB && server.Options.AcceptPipelining ? (byte)0xFB : (byte)0xFF, answer);
        return raw;
    }

    /// <summary>Starts <paramref name="client"/> in the client role with a raw peer playing the server.</summary>
    internal async Task<RawPeer> StartWithRawServerAsync(TinyProtoConnection client, long pauseThreshold = 1024 * 1024)
    {
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair(pauseThreshold);
        var raw = new RawPeer(serverPipe, TimeoutToken);
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        byte opening = await Bounded(raw.ReadByteAsync());
        await Bounded(raw.WriteAsync(opening == 0xFB ? (byte)0xFB : (byte)0xFF));
        await Bounded(start);
        return raw;
    }

    /// <summary>
    /// The server's one connection, once the server lists it: a client can see the end of the handshake a moment
    /// before the server has registered the connection.
    /// </summary>
    protected async Task<TinyProtoConnection> SingleServerConnectionAsync(TinyProtoServer server)
    {
        while (server.ActiveConnections.IsEmpty())
        {
            await Task.Delay(2, TimeoutToken);
        }

        return Assert.Single(server.ActiveConnections.Values);
    }

    /// <summary>The port <paramref name="server"/> listens on (its first address).</summary>
    protected static int PortOf(TinyProtoServer server) => ((IPEndPoint)server.BoundEndPoints[0]).Port;

    /// <summary>
    /// A raw client sends the 300,000-byte <paramref name="message"/> (its header already answered OK) in two parts, and
    /// the server's stop begins between them: the stop waits, the message arrives whole, its echo reaches the peer, and
    /// the connection then closes at the boundary. Returns the server's connection, ended.
    /// </summary>
    internal async Task<TinyProtoConnection> StopWhileAnAcceptedMessageArrivesAsync(TinyProtoServer server, RawPeer raw, byte[] message)
    {
        await Bounded(raw.WriteAsync(message[..100_000]));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        await WaitUntilAsync(() => connection.PayloadBytesMoved >= 100_000);

        Task stop = server.StopAsync(TimeoutToken);
        await Task.Delay(100, TimeoutToken);
        Assert.False(stop.IsCompleted, "the stop did not wait for a message it had accepted");
        await Bounded(raw.WriteAsync(message[100_000..]));

        Assert.Equal(RawPeer.Header(300_000), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteAsync(0xFF));
        Assert.Equal(message, await Bounded(raw.ReadExactlyAsync(300_000)));
        Assert.Empty(await Bounded(raw.ReadToEndAsync()));
        await Bounded(stop);
        await Bounded(connection.Completion);
        return connection;
    }

    /// <summary>Binds <paramref name="server"/> to 127.0.0.1 port 0, starts it and returns the chosen port.</summary>
    protected async Task<int> StartLoopbackAsync(TinyProtoServer server)
    {
        server.AddAddress("127.0.0.1", 0);
        await Bounded(server.StartAsync(TimeoutToken));
        return PortOf(server);
    }

    /// <summary>A raw listening socket on 127.0.0.1 and a free port, for tests that play the server by hand.</summary>
    protected static Socket ListenOnLoopback(out int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return listener;
    }

    /// <summary>
    /// A raw server on <paramref name="listener"/> for one client: it opens, answers the client's first header with
    /// OK, and then reads nothing more until <paramref name="release"/> completes, so the payload fills the socket
    /// buffers and the client's write waits.
    /// </summary>
    protected Task AcceptThenStopReadingAsync(Socket listener, Task release) => Task.Run(async () =>
    {
        using Socket accepted = await listener.AcceptAsync(TimeoutToken);
        await using var raw = new RawPeer(accepted, TimeoutToken);
        await raw.OpenAsServerAsync();
        await raw.ReadExactlyAsync(4);
        await raw.WriteAsync(0xFF);
        await release.WaitAsync(TimeoutToken);
    });

    /// <summary>A loopback port nobody listens on (just freed): connecting to it is refused.</summary>
    protected internal static int FreeLoopbackPort()
    {
        using Socket listener = ListenOnLoopback(out int port);
        return port;
    }

    /// <summary>Connects a raw socket to the loopback port.</summary>
    internal async Task<RawPeer> ConnectRawAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TimeoutToken);
        return new RawPeer(socket, TimeoutToken);
    }

    /// <summary>Awaits a connection's Completion and returns the TinyProtoException it faulted with.</summary>
    protected async Task<TinyProtoException> AssertFaultsAsync(Task completion, TinyProtoError error)
    {
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(completion));
        Assert.Equal(error, ex.Error);
        return ex;
    }

    /// <summary>
    /// What a connection may write after bad bytes before it closes: nothing, or the refusal 0xFC
    /// (a byte 0xF1..0xFF at a boundary may be the start of an oversize header from a Python sender).
    /// </summary>
    protected static void AssertNothingOrRefusal(byte[] rest) =>
        Assert.True(rest.Length == 0 || rest is [0xFC], $"expected nothing or 0xFC before the close, got {Convert.ToHexString(rest)}");

    protected static byte[] RandomBytes(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
