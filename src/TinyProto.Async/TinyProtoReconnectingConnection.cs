using Microsoft.Extensions.Logging;
using TinyProto.Async.Reconnect;

namespace TinyProto.Async;

/// <summary>
/// A connection to one server that a service can hold for its whole life: when the connection ends, for whatever
/// reason but <see cref="CloseAsync"/>, a new one is made, with exponential backoff and jitter
/// (<see cref="TinyProtoClient.Reconnect"/>). Made by <see cref="TinyProtoClient.ConnectReconnectingAsync"/> (or
/// <see cref="TinyProtoClient.CreateReconnecting"/>, then <see cref="StartAsync"/> or <see cref="Start"/>); each
/// connection is made as <see cref="TinyProtoClient.ConnectAsync"/> makes them (the client's handler, options, plugins).
/// </summary>
/// <remarks>
/// <para>During an outage, <see cref="TransmitAsync"/>, <see cref="RequestAsync(ReadOnlyMemory{byte}, TimeSpan, CancellationToken)"/>
/// and <see cref="GetConnectionAsync"/> wait for the next connection up to their timeout, then fail with
/// <see cref="TinyProtoError.NotConnected"/>: nothing was sent. <see cref="ReceiveAsync"/> waits across outages.</para>
/// <para>Nothing is ever sent twice. An operation the peer cannot have, because its connection was ending before its
/// payload went out or its server declined it with <c>0xFD</c> while stopping (a restart), runs again on the next
/// connection. Any other failure throws, as on a plain connection, and is not repeated (the peer may or may not have
/// the message; the caller decides). Messages a connection received but nobody took are lost with it.</para>
/// <para>All members are safe to call concurrently. Event handlers run one at a time on the reconnect loop; they should
/// return quickly and must not throw (an exception is logged and ignored).</para>
/// </remarks>
public sealed partial class TinyProtoReconnectingConnection : IAsyncDisposable
{
    private readonly TinyProtoClient _client;
    private readonly TinyProtoReconnectOptions _policy;
    private readonly TimeSpan _waitLimit;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CurrentConnection _current = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;

    internal TinyProtoReconnectingConnection(TinyProtoClient client, string host, int port, TinyProtoReconnectOptions policy, TimeSpan waitLimit, TimeProvider time, ILogger logger)
    {
        _client = client;
        Host = host;
        Port = port;
        _policy = policy;
        _waitLimit = waitLimit;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised when the connection ended and reconnecting begins; not raised for <see cref="CloseAsync"/>.</summary>
    public event EventHandler<TinyProtoDisconnectedEventArgs>? Disconnected;

    /// <summary>Raised when an attempt to connect failed, with the wait before the next one.</summary>
    public event EventHandler<TinyProtoConnectAttemptFailedEventArgs>? AttemptFailed;

    /// <summary>Raised when a new connection is up after an outage.</summary>
    public event EventHandler<TinyProtoReconnectedEventArgs>? Reconnected;

    /// <summary>The server's host, as given.</summary>
    public string Host { get; }

    /// <summary>The server's port.</summary>
    public int Port { get; }

    /// <summary>The connection in use now; null during an outage and after the end. It may end at any moment.</summary>
    public TinyProtoConnection? Current => _current.Connection;

    /// <summary>Whether there is a connection now that is not ending.</summary>
    public bool IsConnected => _current.Connection is { IsEnding: false };

    /// <summary>
    /// Completes when <see cref="CloseAsync"/> closed it; faults with <see cref="TinyProtoError.NotConnected"/> when it
    /// gave up (<see cref="TinyProtoReconnectOptions.MaxAttempts"/> failed attempts in a row, or its client stopped).
    /// </summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// The live connection, waiting for one during an outage up to the client's <see cref="TinyProtoClient.Timeout"/>.
    /// Use it for what this type does not wrap (streams, batches); the connection may end at any moment.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A started connection.</returns>
    /// <exception cref="TinyProtoException"><see cref="TinyProtoError.NotConnected"/>: no connection within the timeout, or the reconnecting connection gave up; <see cref="TinyProtoError.ConnectionClosed"/>: it was closed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<TinyProtoConnection> GetConnectionAsync(CancellationToken cancellationToken = default) =>
        WaitForConnectionAsync(_waitLimit, _waitLimit, cancellationToken);

    /// <summary>
    /// Transmits <paramref name="message"/> on the live connection, as <see cref="TinyProtoConnection.TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/>;
    /// during an outage, first waits for a connection up to the client's <see cref="TinyProtoClient.Timeout"/>.
    /// </summary>
    /// <param name="message">The message; it must stay unchanged until the returned task completes.</param>
    /// <param name="cancellationToken">Cancels the wait or the transmission.</param>
    /// <returns>A task that completes when the message was handed to the transport.</returns>
    /// <exception cref="TinyProtoException"><see cref="TinyProtoError.NotConnected"/> when no connection came in time (nothing was sent); otherwise as the connection's <c>TransmitAsync</c> throws.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask TransmitAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default) =>
        await OnConnectionAsync(
            _waitLimit,
            static async (connection, _, state, token) =>
            {
                await connection.TransmitAsync(state, token).ConfigureAwait(false);
                return true;
            },
            message,
            cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Sends a request and returns the reply, as <see cref="TinyProtoConnection.RequestAsync(ReadOnlyMemory{byte}, CancellationToken)"/>,
    /// with the client's <see cref="TinyProtoClient.Timeout"/> as its timeout.
    /// </summary>
    /// <param name="request">The request; it must stay unchanged until the returned task completes.</param>
    /// <param name="cancellationToken">Cancels the request; once it was sent, cancelling closes the connection (and a new one is made).</param>
    /// <returns>The reply.</returns>
    /// <exception cref="TinyProtoException">As for the overload with a timeout.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<byte[]> RequestAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken = default) =>
        RequestAsync(request, _waitLimit, cancellationToken);

    /// <summary>
    /// Sends a request and returns the reply, as <see cref="TinyProtoConnection.RequestAsync(ReadOnlyMemory{byte}, TimeSpan, CancellationToken)"/>:
    /// <paramref name="timeout"/> bounds the wait for a connection during an outage and, with what is left of it, the
    /// wait for the reply. A request's turn behind other requests (lock-step mode) and the wait for its status are
    /// bounded by the connection's own <see cref="TinyProtoConnectionOptions.Timeout"/>, per request ahead of it.
    /// </summary>
    /// <param name="request">The request; it must stay unchanged until the returned task completes.</param>
    /// <param name="timeout">How long to wait for a connection and then the reply; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="cancellationToken">Cancels the request; once it was sent, cancelling closes the connection (and a new one is made).</param>
    /// <returns>The reply.</returns>
    /// <exception cref="TinyProtoException">
    /// <see cref="TinyProtoError.NotConnected"/> when no connection came in time (nothing was sent);
    /// <see cref="TinyProtoError.Timeout"/> when the request went out and no reply came in time (that connection is
    /// closed, and a new one made); otherwise as the connection's <c>RequestAsync</c> throws.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive nor infinite.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask<byte[]> RequestAsync(ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        timeout = TimeSpanOption.Positive(timeout, nameof(timeout), infiniteAllowed: true);
        return await OnConnectionAsync(
            timeout,
            static (connection, left, state, token) => connection.RequestAsync(state, left, token),
            request,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Receives the next message, as <see cref="TinyProtoConnection.ReceiveAsync(CancellationToken)"/>, waiting across
    /// outages: when the connection ends while this waits, the wait goes on on the next connection.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The message, after receive plugins.</returns>
    /// <exception cref="TinyProtoException"><see cref="TinyProtoError.NotConnected"/> when the reconnecting connection gave up; <see cref="TinyProtoError.ConnectionClosed"/> when it was closed; otherwise as the connection's <c>ReceiveAsync</c> throws.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask<byte[]> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            TinyProtoConnection connection = await WaitForConnectionAsync(System.Threading.Timeout.InfiniteTimeSpan, System.Threading.Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            try
            {
                return await connection.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (TinyProtoException ex) when (ex.Error == TinyProtoError.ConnectionClosed && connection.IsEnding && _current.End is null)
            {
                // That connection ended with nothing more to take: wait on the next one.
            }
        }
    }

    /// <summary>
    /// Stops reconnecting and closes the live connection, as <see cref="TinyProtoConnection.CloseAsync"/>. Safe to call
    /// more than once, and from the connection's own hooks (which then do not wait for their connection to end).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the close (it still happens, and <see cref="Completion"/> still completes).</param>
    /// <returns>A task that completes when the connection is closed and the reconnect loop has ended.</returns>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        TinyProtoConnection? live = _current.Finish(
            new TinyProtoException(TinyProtoError.ConnectionClosed, $"The reconnecting connection to {EndPointText} was closed."), out bool first);
        if (first)
        {
            await _closing.CancelAsync().ConfigureAwait(false);
            _ = CloseCoreAsync(live);
        }

        if (TinyProtoConnection.OnAHookLoop)
        {
            // From a hook: the close waits for that hook's connection to end, which waits for the hook.
            return;
        }

        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes it, as <see cref="CloseAsync"/>.</summary>
    /// <returns>A task that completes when it is closed.</returns>
    public ValueTask DisposeAsync() => CloseAsync();

    private string EndPointText => $"{Host}:{Port}";

    /// <summary>Closes the live connection and waits for the loop; whatever happens, the close and Completion complete.</summary>
    private async Task CloseCoreAsync(TinyProtoConnection? live)
    {
        try
        {
            if (live is not null)
            {
                await live.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            }

            await Volatile.Read(ref _loop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            _completion.TrySetResult();
            _closed.TrySetResult();
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on the live connection, waiting for one during an outage, all within
    /// <paramref name="limit"/>. An operation the peer cannot have (its connection was ending before its payload went
    /// out, or its server declined it with 0xFD while stopping) runs again on the next connection: no duplicate is possible.
    /// </summary>
    private async ValueTask<T> OnConnectionAsync<T, TState>(TimeSpan limit, Func<TinyProtoConnection, TimeSpan, TState, CancellationToken, ValueTask<T>> operation, TState state, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        while (true)
        {
            TinyProtoConnection connection = await WaitForConnectionAsync(TimeLeft(start, limit), limit, cancellationToken).ConfigureAwait(false);
            try
            {
                return await operation(connection, TimeLeft(start, limit), state, cancellationToken).ConfigureAwait(false);
            }
            catch (TinyProtoException ex) when (ex.NothingDelivered && _current.End is null)
            {
                // The peer has nothing of it: once that connection ended, the next one takes it. A peer that declines
                // (0xFD) yet stays open past its Timeout is refusing, not stopping: the caller hears the refusal.
                if (!await EndsInTimeAsync(connection, start, limit, cancellationToken).ConfigureAwait(false))
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex);
                }
            }
        }
    }

    /// <summary>
    /// Waits for a connection that refused work as ending (or stopping) to end, so the next try gets its successor:
    /// true once it ended, false when it is still open after its own <see cref="TinyProtoConnectionOptions.Timeout"/>.
    /// </summary>
    private async Task<bool> EndsInTimeAsync(TinyProtoConnection connection, long start, TimeSpan limit, CancellationToken cancellationToken)
    {
        TimeSpan left = TimeLeft(start, limit);
        TimeSpan own = connection.Options.Timeout;
        bool ownFirst = own != System.Threading.Timeout.InfiniteTimeSpan && (left == System.Threading.Timeout.InfiniteTimeSpan || own < left);
        try
        {
            await connection.Completion.WaitAsync(ownFirst ? own : left, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ownFirst ? false : throw NotConnectedWithin(limit);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // It ended with an error; its successor is what matters.
        }

        return true;
    }

    /// <summary>What is left of <paramref name="limit"/> since <paramref name="start"/>; throws <see cref="TinyProtoError.NotConnected"/> when nothing is.</summary>
    private TimeSpan TimeLeft(long start, TimeSpan limit)
    {
        if (limit == System.Threading.Timeout.InfiniteTimeSpan)
        {
            return limit;
        }

        TimeSpan left = limit - _time.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : throw NotConnectedWithin(limit);
    }

    private async Task<TinyProtoConnection> WaitForConnectionAsync(TimeSpan wait, TimeSpan limit, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _started) == 0)
        {
            throw new InvalidOperationException("The reconnecting connection has not been started: call Start or StartAsync first.");
        }

        Task<TinyProtoConnection> next = _current.NextAsync();
        if (next.IsCompleted)
        {
            return await next.ConfigureAwait(false);
        }

        try
        {
            return await next.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw NotConnectedWithin(limit);
        }
    }

    private TinyProtoException NotConnectedWithin(TimeSpan limit)
    {
        Exception? last = Volatile.Read(ref _lastFailure);
        string why = last is null ? "reconnecting" : $"reconnecting; the last attempt failed: {last.Message}";
        return new TinyProtoException(TinyProtoError.NotConnected, $"No connection to {EndPointText} within {limit.TotalSeconds:0.###} s ({why}). Nothing was sent.", last);
    }
}
