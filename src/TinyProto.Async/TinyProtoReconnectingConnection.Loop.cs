using TinyProto.Async.Reconnect;

namespace TinyProto.Async;

/// <summary>The reconnect loop: the one place that makes connections, publishes them and raises the events.</summary>
public sealed partial class TinyProtoReconnectingConnection
{
    // A connection that ends within this time of its handshake counts as a failed attempt (for the backoff and for
    // MaxAttempts): a server that accepts and closes at once (it refuses this client) is not hammered for ever.
    private static readonly TimeSpan ShortLived = TimeSpan.FromSeconds(1);

    private Exception? _lastFailure;
    private int _started;

    /// <summary>
    /// Makes the first connection, waiting for it and trying as <see cref="TinyProtoClient.Reconnect"/> allows, then
    /// goes on reconnecting in the background whenever the connection ends. Attach the event handlers before, to see
    /// the first attempts too. <see cref="TinyProtoClient.ConnectReconnectingAsync"/> is <see cref="TinyProtoClient.CreateReconnecting"/>
    /// and this.
    /// </summary>
    /// <param name="cancellationToken">Gives up waiting for the first connection; it then closes.</param>
    /// <returns>A task that completes once connected.</returns>
    /// <exception cref="TinyProtoException"><see cref="TinyProtoError.NotConnected"/>: <see cref="TinyProtoReconnectOptions.MaxAttempts"/> attempts failed, or the client was stopped; <see cref="TinyProtoError.ConnectionClosed"/>: it was closed meanwhile.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the last attempt's failure inside).</exception>
    /// <exception cref="InvalidOperationException">It was started before.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        MarkStarted();
        TinyProtoConnection? first;
        using (CancellationTokenSource linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token))
        {
            try
            {
                (first, _) = await ConnectWithRetriesAsync(afterDisconnect: false, 0, linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested)
            {
                await CloseAsync(CancellationToken.None).ConfigureAwait(false);
                Exception? last = Volatile.Read(ref _lastFailure);
                throw new OperationCanceledException(
                    last is null ? $"Connecting to {EndPointText} was cancelled." : $"Connecting to {EndPointText} was cancelled; the last attempt failed: {last.Message}",
                    last ?? ex,
                    cancellationToken);
            }
        }

        if (first is null)
        {
            // Gave up, or closed meanwhile: the end says which.
            throw _current.End!;
        }

        _loop = Task.Run(() => RunAsync(first), CancellationToken.None);
    }

    /// <summary>
    /// Starts connecting in the background and returns at once: until the first connection is up, calls wait for it
    /// within their timeout, as during an outage. For a service that must start while the server is down.
    /// </summary>
    /// <exception cref="InvalidOperationException">It was started before.</exception>
    public void Start()
    {
        MarkStarted();
        _loop = Task.Run(async () =>
        {
            (TinyProtoConnection? first, _) = await ConnectWithRetriesAsync(afterDisconnect: false, 0, _closing.Token).ConfigureAwait(false);
            if (first is not null)
            {
                await RunAsync(first).ConfigureAwait(false);
            }
        }, CancellationToken.None);
    }

    private void MarkStarted()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The reconnecting connection was already started.");
        }
    }

    private async Task RunAsync(TinyProtoConnection connection)
    {
        int shortLivedInARow = 0;
        while (true)
        {
            long connectedAt = _time.GetTimestamp();
            try
            {
                await connection.Completion.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The connection logged what ended it; its CloseReason and CloseError say it too.
            }

            if (!_current.Drop(connection))
            {
                return;
            }

            long outageStart = _time.GetTimestamp();
            shortLivedInARow = _time.GetElapsedTime(connectedAt, outageStart) < ShortLived ? shortLivedInARow + 1 : 0;
            if (shortLivedInARow > 0)
            {
                Volatile.Write(ref _lastFailure, connection.CloseError);
            }

            Log.Disconnected(_logger, EndPointText, connection.CloseReason);
            Raise(Disconnected, nameof(Disconnected), new TinyProtoDisconnectedEventArgs(connection));
            (TinyProtoConnection? next, int failed) = await ConnectWithRetriesAsync(afterDisconnect: true, shortLivedInARow, _closing.Token).ConfigureAwait(false);
            if (next is null)
            {
                return;
            }

            if (_current.End is not null)
            {
                // Closed just as it connected: nobody is to hear of a connection that is being closed.
                return;
            }

            TimeSpan outage = _time.GetElapsedTime(outageStart);
            Log.Reconnected(_logger, EndPointText, failed, outage.TotalMilliseconds);
            Raise(Reconnected, nameof(Reconnected), new TinyProtoReconnectedEventArgs(next, failed, outage));
            connection = next;
        }
    }

    /// <summary>
    /// Connects, waiting between attempts as <see cref="ReconnectBackoff"/> decides; the new connection is published.
    /// Null when closed meanwhile or given up (the end is set then).
    /// </summary>
    private async Task<(TinyProtoConnection? Connection, int Failed)> ConnectWithRetriesAsync(bool afterDisconnect, int shortLived, CancellationToken cancellationToken)
    {
        // Connections that ended at once count as failed attempts, for the backoff and for MaxAttempts.
        int failures = shortLived;
        bool wait = afterDisconnect;
        if (shortLived > 0 && !ReconnectBackoff.MayRetry(_policy, failures))
        {
            GiveUp(new TinyProtoException(TinyProtoError.NotConnected,
                $"Gave up connecting to {EndPointText}: its last {shortLived} connections in a row ended within a second of their handshake (the server takes the connection, then closes it).",
                Volatile.Read(ref _lastFailure)), failures);
            return (null, 0);
        }

        while (true)
        {
            try
            {
                if (wait)
                {
                    await Task.Delay(ReconnectBackoff.Delay(_policy, failures, Random.Shared.NextDouble()), _time, cancellationToken).ConfigureAwait(false);
                }

                wait = true;
                TinyProtoConnection connection = await _client.ConnectAsync(Host, Port, cancellationToken).ConfigureAwait(false);
                if (!_current.TryPublish(connection))
                {
                    await connection.CloseAsync(CancellationToken.None).ConfigureAwait(false);
                    return (null, failures);
                }

                Volatile.Write(ref _lastFailure, null);
                return (connection, failures - shortLived);
            }
            catch (Exception) when (_closing.IsCancellationRequested)
            {
                // Closed meanwhile (the end is set): whatever the attempt threw.
                return (null, failures);
            }
            catch (InvalidOperationException ex) when (_client.IsStopped)
            {
                GiveUp(new TinyProtoException(TinyProtoError.NotConnected, $"Stopped reconnecting to {EndPointText}: the client was stopped.", ex), failures);
                return (null, failures);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                failures++;
                Volatile.Write(ref _lastFailure, ex);
                if (!ReconnectBackoff.MayRetry(_policy, failures))
                {
                    Raise(AttemptFailed, nameof(AttemptFailed), new TinyProtoConnectAttemptFailedEventArgs(failures, ex, null));
                    GiveUp(new TinyProtoException(TinyProtoError.NotConnected, $"Gave up connecting to {EndPointText} after {failures} failed attempts in a row; the last: {ex.Message}", ex), failures);
                    return (null, failures);
                }

                TimeSpan next = ReconnectBackoff.Delay(_policy, failures, Random.Shared.NextDouble());
                Log.ConnectAttemptFailed(_logger, EndPointText, failures, next.TotalMilliseconds, ex);
                Raise(AttemptFailed, nameof(AttemptFailed), new TinyProtoConnectAttemptFailedEventArgs(failures, ex, next));
                await DelayAsync(next, cancellationToken).ConfigureAwait(false);
                wait = false;
            }
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The next round sees the cancellation.
        }
    }

    private void GiveUp(TinyProtoException reason, int failures)
    {
        _current.Finish(reason, out bool first);
        if (first)
        {
            Log.GaveUpReconnecting(_logger, EndPointText, failures, reason);
            _completion.TrySetException(reason);

            // Seen by whoever awaits Completion; never reported as unobserved when nobody does.
            _ = _completion.Task.Exception;

            // The loop ends right after this: a later CloseAsync has nothing left to wait for.
            _closed.TrySetResult();
        }
    }

    private void Raise<T>(EventHandler<T>? handler, string name, T args)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, args);
        }
        catch (Exception ex)
        {
            Log.ReconnectHandlerFailed(_logger, name, EndPointText, ex);
        }
    }
}
