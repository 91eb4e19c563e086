using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using TinyProto.Async;

namespace TinyProto.ScaleOut.ChatCheck;

/// <summary>
/// One chat member through the load balancer, on a reconnecting connection: sends numbered lines in lock-step and
/// records what it sent (and whether it was told so), what it received, and over which of its connections.
/// </summary>
internal sealed class Member : IAsyncDisposable
{
    private readonly ConcurrentQueue<Receipt> _receipts = new();
    private readonly ConcurrentQueue<MemberConnection> _connections = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentQueue<string> _refusals = new();
    private readonly List<Sent> _sent = []; // by the send loop only, read once it ended
    private TinyProtoClient? _client;
    private TinyProtoReconnectingConnection? _connection;
    private int _joins;
    private int _leaves;
    private int _welcomes;

    public Member(int index) => Index = index;

    public int Index { get; }

    public IReadOnlyCollection<Receipt> Receipts => _receipts;

    /// <summary>Its connections that were welcomed, in order.</summary>
    public IReadOnlyCollection<MemberConnection> Connections => _connections;

    /// <summary>What went wrong that should not have: each one fails the check.</summary>
    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Lines whose TransmitAsync threw: the member was told, so they are not losses; reported.</summary>
    public IReadOnlyCollection<string> Refusals => _refusals;

    public IReadOnlyList<Sent> SentLines => _sent;

    public int Joins => Volatile.Read(ref _joins);

    public int Leaves => Volatile.Read(ref _leaves);

    public int Welcomes => Volatile.Read(ref _welcomes);

    /// <summary>Connects through the balancer and waits for the first welcome.</summary>
    public async Task ConnectAsync(string host, int port, bool pipelined, CancellationToken cancellationToken)
    {
        _client = new TinyProtoClient(new StderrLogger($"member {Index}"));
        _client.ConnectionOptions.RequestPipelining = pipelined;
        _client.Reconnect.InitialDelay = TimeSpan.FromMilliseconds(50);
        _client.Reconnect.MaxDelay = TimeSpan.FromSeconds(1);
        _client.SetConnectionHandler(() => new MemberConnection(this));
        _connection = await _client.ConnectReconnectingAsync(host, port, cancellationToken);
        while (Welcomes == 0)
        {
            await Task.Delay(5, cancellationToken);
        }
    }

    /// <summary>
    /// Sends lines 0, 1, ... each once, in lock-step (each after the last one's transmission completed), at most
    /// <paramref name="linesPerSecond"/> (null: as fast as they go), until <paramref name="stop"/>.
    /// </summary>
    public async Task SendAsync(double? linesPerSecond, int size, CancellationToken stop)
    {
        var random = new Random(Index);
        long interval = linesPerSecond is { } rate ? (long)(Stopwatch.Frequency / rate) : 0;
        long next = Stopwatch.GetTimestamp() + (interval == 0 ? 0 : random.NextInt64(interval));
        for (int sequence = 0; !stop.IsCancellationRequested; sequence++)
        {
            if (interval > 0)
            {
                TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, stop);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                next += interval;
            }

            byte[] line = Line(Index, sequence, size);
            long start = Stopwatch.GetTimestamp();
            bool accepted = true;
            try
            {
                // No token: a line is never given up half sent; the connection's own timeouts bound it.
                await _connection!.TransmitAsync(line, CancellationToken.None);
            }
            catch (TinyProtoException ex)
            {
                // Told it failed: the line may or may not have arrived, and it is not sent again.
                accepted = false;
                _refusals.Enqueue($"member {Index} line {sequence}: {ex.Error}: {ex.Message}");
            }

            _sent.Add(new Sent(sequence, start, Stopwatch.GetTimestamp(), accepted));
        }
    }

    public void Welcomed(MemberConnection connection)
    {
        _connections.Enqueue(connection);
        Interlocked.Increment(ref _welcomes);
    }

    public void Received(MemberConnection via, int from, int sequence, long at) => _receipts.Enqueue(new Receipt(via, from, sequence, at));

    public void Notice(string text)
    {
        if (text.EndsWith(" joined", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _joins);
        }
        else if (text.EndsWith(" left", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _leaves);
        }
        else if (text.StartsWith("* your line was not relayed", StringComparison.Ordinal))
        {
            _failures.Enqueue($"member {Index}: {text}");
        }
    }

    public void Fail(string reason) => _failures.Enqueue($"member {Index}: {reason}");

    /// <summary>How many of its connections ended while it went on (each a reconnect).</summary>
    public int Reconnects => Math.Max(0, _connections.Count - 1);

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.CloseAsync();
        }

        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
    }

    /// <summary>"L FROM SEQUENCE " padded with dots to <paramref name="size"/> bytes.</summary>
    private static byte[] Line(int from, int sequence, int size)
    {
        string head = $"L {from} {sequence} ";
        return Encoding.ASCII.GetBytes(head.Length >= size ? head : head + new string('.', size - head.Length));
    }

    public readonly record struct Receipt(MemberConnection Via, int From, int Sequence, long At);

    public readonly record struct Sent(int Sequence, long Start, long End, bool Accepted);
}
