using System.Diagnostics;
using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.RequestReply;

/// <summary>
/// <c>client</c>: for i in 1..N, <c>SET ki vi</c> then <c>GET ki</c>, checking the value, over one reconnecting
/// connection, so it goes on while the server restarts. One line per request, one per connection event, then
/// <c>done: N ok, F failed</c>.
/// </summary>
internal static class StoreClientCommand
{
    /// <summary>A reply that took at least this long says so: it waited out an outage.</summary>
    private static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(500);

    public static async Task<int> RunAsync(string host, int port, int count, TimeSpan interval, TimeSpan timeout)
    {
        using var shutdown = new ShutdownSignal();
        await using var client = new TinyProtoClient
        {
            Reconnect = new TinyProtoReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(2) },
        };
        TinyProtoReconnectingConnection? store = await ConnectAsync(client, host, port, timeout, shutdown.Token);
        if (store is null)
        {
            return 1;
        }

        await using (store)
        {
            Console.WriteLine($"connected to {host}:{port}");
            ReportEvents(store);
            int ok = 0;
            int failed = 0;
            try
            {
                for (int i = 1; i <= count; i++)
                {
                    // GET checks the SET: a SET that failed is not followed by a GET, which would tell nothing.
                    bool done = await ExchangeAsync(store, $"SET k{i} v{i}", "OK", timeout, shutdown.Token)
                        && await ExchangeAsync(store, $"GET k{i}", $"OK v{i}", timeout, shutdown.Token);
                    if (done)
                    {
                        ok++;
                    }
                    else
                    {
                        failed++;
                    }

                    if (i < count && interval > TimeSpan.Zero)
                    {
                        await Task.Delay(interval, shutdown.Token);
                    }
                }
            }
            catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
            {
                Console.WriteLine($"interrupted after {ok + failed} of {count}");
            }

            Console.WriteLine($"done: {ok} ok, {failed} failed");
            return ok == count ? 0 : 1;
        }
    }

    /// <summary>
    /// The first connection, tried as later ones are (a server not up yet is waited for) for up to
    /// <paramref name="timeout"/>; null, with the reason on stderr, when none came.
    /// </summary>
    private static async Task<TinyProtoReconnectingConnection?> ConnectAsync(TinyProtoClient client, string host, int port, TimeSpan timeout, CancellationToken shutdown)
    {
        using var connecting = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        connecting.CancelAfter(timeout);
        try
        {
            return await client.ConnectReconnectingAsync(host, port, connecting.Token);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine(shutdown.IsCancellationRequested
                ? "interrupted while connecting"
                : $"error: no connection to {host}:{port} within {timeout.TotalSeconds:0.###} s (is the server running?)");
            return null;
        }
    }

    /// <summary>A line for each event; they come from the reconnect loop, between the request lines.</summary>
    private static void ReportEvents(TinyProtoReconnectingConnection store)
    {
        store.Disconnected += (_, e) =>
            Console.WriteLine(e.Error is null ? $"disconnected: {e.Reason}" : $"disconnected: {e.Reason} ({e.Error.Message})");
        store.AttemptFailed += (_, e) =>
            Console.WriteLine(e.NextDelay is { } next
                ? $"connect attempt {e.Attempt} failed ({e.Error.Message}); next in {next.TotalSeconds:0.0} s"
                : $"connect attempt {e.Attempt} failed ({e.Error.Message}); giving up");
        store.Reconnected += (_, e) =>
            Console.WriteLine($"reconnected after {e.FailedAttempts} failed attempt{(e.FailedAttempts == 1 ? "" : "s")}, {e.Outage.TotalSeconds:0.0} s without a connection");
    }

    /// <summary>
    /// Sends <paramref name="request"/> and prints it with its reply (and how long it took, when it waited out an outage).
    /// True when the reply is <paramref name="expected"/>; false, printing why, when another reply or none came.
    /// </summary>
    private static async Task<bool> ExchangeAsync(TinyProtoReconnectingConnection store, string request, string expected, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        string outcome;
        bool ok = false;
        try
        {
            // During an outage this waits for the next connection (within the timeout). A request the server declined
            // while stopping, or that never left, is sent again on the next connection by the library: it cannot be
            // applied twice. Any other failure is ours to judge; this loop counts it and goes on.
            string reply = Encoding.UTF8.GetString(await store.RequestAsync(Encoding.UTF8.GetBytes(request), timeout, cancellationToken));
            ok = reply == expected;
            outcome = ok ? reply : $"{reply}, expected {expected}";
        }
        catch (TinyProtoException ex)
        {
            // NotConnected: no connection within the timeout, nothing was sent. Timeout: it was sent and no reply came
            // (that connection is closed and a new one made); the server may or may not have applied it.
            outcome = $"failed: {ex.Error}: {ex.Message}";
        }

        TimeSpan took = Stopwatch.GetElapsedTime(start);
        Console.WriteLine(took >= Slow ? $"{request} -> {outcome} ({took.TotalSeconds:0.0} s)" : $"{request} -> {outcome}");
        return ok;
    }
}
