using System.Net.Sockets;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// Opens the client's connections with bounded concurrency, so thousands of connects don't overflow the server's
/// accept backlog (a dropped SYN costs a 1 s retransmit), and stops at the first failure.
/// </summary>
internal sealed class ConnectionOpener(TinyProtoClient client, ClientSettings settings, FileDescriptorReserve reserve)
{
    private readonly TinyProtoConnection?[] _connections = new TinyProtoConnection?[settings.Connections];
    private int _next = -1;
    private int _opened;
    private string? _error;

    public int Opened => Volatile.Read(ref _opened);

    /// <summary>What stopped the opening, or null if all connections opened.</summary>
    public string? Error => _error;

    public bool HitFileLimit { get; private set; }

    /// <summary>The connections opened, in index order, without gaps (indexes after a failure are not used).</summary>
    public IReadOnlyList<TinyProtoConnection> Connections =>
        _connections.TakeWhile(connection => connection is not null).Select(connection => connection!).ToArray();

    /// <summary>Every connection that did open, including ones after a gap, so all can be closed.</summary>
    public IEnumerable<TinyProtoConnection> All => _connections.OfType<TinyProtoConnection>();

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        int loops = Math.Min(settings.ConnectConcurrency, settings.Connections);
        var tasks = new Task[loops];
        for (int i = 0; i < loops; i++)
        {
            tasks[i] = ConnectLoopAsync(cancellationToken);
        }

        await Task.WhenAll(tasks);
    }

    private async Task ConnectLoopAsync(CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref _error) is null)
        {
            int index = Interlocked.Increment(ref _next);
            if (index >= _connections.Length)
            {
                return;
            }

            try
            {
                TinyProtoConnection connection = await client.ConnectAsync(settings.Host, settings.Port, cancellationToken);
                _connections[index] = connection;
                Interlocked.Increment(ref _opened);
                if (settings.Pipelined && !connection.IsPipelined)
                {
                    Fail("the server declined pipelined mode (it answered 0xFF to 0xFB); drop --pipelined for this server");
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Fail("cancelled");
            }
            catch (Exception ex) when (FileDescriptorLimit.IsLimitError(ex))
            {
                reserve.Release();
                HitFileLimit = true;
                Fail($"connection {index + 1}: the open-file limit is reached ({FileDescriptorLimit.Describe()}): " +
                     "raise it with 'ulimit -n 65536' (or higher) in the shell that starts this client, and the server's too");
            }
            catch (TinyProtoException ex) when (ex.Error == TinyProtoError.HandshakeFailed && settings.Pipelined)
            {
                Fail($"connection {index + 1}: {ex.Message} (a rawpeer or Python server does not understand the pipelined opening 0xFB; drop --pipelined)");
            }
            catch (Exception ex) when (ex is SocketException or TinyProtoException or IOException)
            {
                Fail($"connection {index + 1} to {settings.Host}:{settings.Port}: {ex.Message}");
            }
        }
    }

    private void Fail(string message) => Interlocked.CompareExchange(ref _error, message, null);
}
