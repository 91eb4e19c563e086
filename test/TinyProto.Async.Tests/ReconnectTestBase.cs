using System.Buffers;
using System.Text;

namespace TinyProto.Async.Tests;

/// <summary>Servers and connection classes the reconnecting-connection tests share.</summary>
public abstract class ReconnectTestBase : ConnectionTestBase
{
    protected static readonly TinyProtoReconnectOptions Fast = new()
    {
        InitialDelay = TimeSpan.FromMilliseconds(20),
        MaxDelay = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>
    /// A reconnecting connection to an echo server on a free port, which then stops (after <paramref name="whileUp"/>):
    /// returns once the connection it had ended, with the port a new server may take.
    /// </summary>
    protected async Task<(TinyProtoReconnectingConnection Link, int Port)> ConnectThenStopTheServerAsync(TinyProtoClient client, Func<TinyProtoReconnectingConnection, Task>? whileUp = null)
    {
        await using TinyProtoServer server = await StartEchoAsync(0);
        int port = PortOf(server);
        TinyProtoReconnectingConnection link = await Bounded(client.ConnectReconnectingAsync("127.0.0.1", port, TimeoutToken));
        if (whileUp is not null)
        {
            await whileUp(link);
        }

        TinyProtoConnection before = link.Current!;
        await server.StopAsync(TimeoutToken);
        await Bounded(before.Completion.ContinueWith(_ => { }, TaskScheduler.Default));
        return (link, port);
    }

    protected Task<TinyProtoServer> StartEchoAsync(int port) => StartOnAsync(port, () =>
    {
        var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new SlowFirstEcho(slow: false));
        return server;
    });

    protected Task<TinyProtoServer> StartGreeterAsync(int port, string greeting) =>
        StartOnAsync(port, () => new GreetingServer(Encoding.ASCII.GetBytes(greeting)));

    /// <summary>
    /// Starts a server from <paramref name="create"/> on <paramref name="port"/> (0: a free one). A port given back a
    /// moment ago may be some other socket's for a while: the ephemeral port of a connection made meanwhile, by another
    /// test or by the reconnecting client itself. Binding is tried again for up to 5 seconds.
    /// </summary>
    private async Task<TinyProtoServer> StartOnAsync(int port, Func<TinyProtoServer> create)
    {
        long start = Environment.TickCount64;
        while (true)
        {
            TinyProtoServer server = create();
            server.AddAddress("127.0.0.1", port);
            try
            {
                await Bounded(server.StartAsync(TimeoutToken));
                return server;
            }
            catch (System.Net.Sockets.SocketException ex) when (port != 0 && ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse && Environment.TickCount64 - start < 5000)
            {
                await server.DisposeAsync();
                await Task.Delay(50, TimeoutToken);
            }
        }
    }

    /// <summary>Echoes; when <paramref name="slow"/>, the first reply comes only after a second.</summary>
    protected sealed class SlowFirstEcho(bool slow) : TinyProtoConnection
    {
        private int _seen;

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            if (slow && Interlocked.Increment(ref _seen) == 1)
            {
                await Task.Delay(1000, cancellationToken);
            }

            await TransmitAsync(message, cancellationToken);
        }
    }

    /// <summary>Runs an action on the first message it receives, from its hook.</summary>
    protected sealed class OnMessage(Func<Task> action) : TinyProtoConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            await action();
    }

    /// <summary>Closes each connection right after its handshake (its init hook throws).</summary>
    protected sealed class ClosingAtOnceServer : TinyProtoServer
    {
        private int _accepted;

        public int Accepted => Volatile.Read(ref _accepted);

        protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _accepted);
            throw new InvalidOperationException("closes at once");
        }
    }

    /// <summary>Sends each new connection a greeting, from the connection's first hook.</summary>
    protected sealed class GreetingServer : TinyProtoServer
    {
        public GreetingServer(byte[] greeting) => SetConnectionHandler(() => new Greeter(greeting));
    }

    protected sealed class Greeter(byte[] greeting) : TinyProtoConnection
    {
        protected override async ValueTask PreLoopAsync(CancellationToken cancellationToken) =>
            await TransmitAsync(greeting, cancellationToken);
    }
}
