using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests.Faults;

/// <summary>
/// A TCP relay on loopback between clients and a target port, forwarding both ways until <see cref="Stall"/>: then
/// it forwards nothing more and closes nothing, as a proxy or a network path that silently died. Neither end sees a
/// FIN or a reset; the relay's own sockets still answer TCP (and keepalive probes), so only the protocol's own
/// timers can tell.
/// </summary>
internal sealed class StallingRelay : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stall = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _pumps = [];
    private readonly Task _accepting;

    public StallingRelay(int targetPort)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>The port clients connect to.</summary>
    public int Port { get; }

    /// <summary>Bytes forwarded so far, both ways.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    private long _forwarded;

    /// <summary>From now on nothing is forwarded, and every socket stays open.</summary>
    public void Stall() => _stall.Cancel();

    public async ValueTask DisposeAsync()
    {
        _stall.Cancel();
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
        _stall.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync();
            }
            catch (Exception)
            {
                return;
            }

            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            lock (_sockets)
            {
                _sockets.Add(client);
                _sockets.Add(server);
            }

            try
            {
                await server.ConnectAsync(_target);
            }
            catch (Exception)
            {
                client.Dispose();
                continue;
            }

            lock (_sockets)
            {
                _pumps.Add(PumpAsync(client, server));
                _pumps.Add(PumpAsync(server, client));
            }
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, _stall.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stall.Token);
                Interlocked.Add(ref _forwarded, read);
            }
        }
        catch (Exception)
        {
            // Stalled (or disposed): leave the sockets as they are.
        }
    }
}
