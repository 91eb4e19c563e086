namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    // Orders requests: each one registers its wait for a reply and starts its transmission under it, so replies (the
    // peer's messages, in order) and requests (on the wire, in order) line up. Held for the whole exchange in lock-step
    // mode, only while a request starts in pipelined mode.
    private readonly SemaphoreSlim _requestOrder = new(1, 1);

    /// <summary>
    /// Sends <paramref name="request"/> and returns the peer's next message as its reply, waiting at most
    /// <see cref="TinyProtoConnectionOptions.Timeout"/> for it; see <see cref="RequestAsync(ReadOnlyMemory{byte}, TimeSpan, CancellationToken)"/>.
    /// </summary>
    /// <param name="request">The request; it must stay unchanged until the returned task completes.</param>
    /// <param name="cancellationToken">Cancels the request; once it was sent, cancelling closes the connection.</param>
    /// <returns>The reply, after receive plugins.</returns>
    /// <exception cref="TinyProtoException">As for the overload with a timeout.</exception>
    /// <exception cref="InvalidOperationException">The connection's hooks take its messages, or it has not started.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<byte[]> RequestAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken = default) =>
        RequestAsync(request, _options.Timeout, cancellationToken);

    /// <summary>
    /// Sends <paramref name="request"/> and returns the peer's next message as its reply. Safe from many callers at
    /// once, in the order of the calls: in lock-step mode one exchange at a time (request, then reply, as a
    /// half-duplex peer such as the Python original needs), in pipelined mode several requests in flight, each taking
    /// the reply in that order.
    /// </summary>
    /// <remarks>
    /// <para>The protocol has no correlation ids: a reply is simply the next message. So a reply that will never be
    /// matched is never handed to a later request: when a request that went out gets no reply within
    /// <paramref name="timeout"/>, or is cancelled after it went out, the connection is closed (a late reply would
    /// otherwise be taken by the next request). A request cancelled or refused before it went out leaves the
    /// connection as it was.</para>
    /// <para>Use it on a connection whose messages nobody else takes: not with an overridden
    /// <see cref="TransmissionReceivedAsync"/>, nor beside your own <c>ReceiveAsync</c> calls or a peer that sends
    /// messages of its own accord, which would be taken as replies.</para>
    /// </remarks>
    /// <param name="request">The request; it must stay unchanged until the returned task completes.</param>
    /// <param name="timeout">How long to wait for the reply once the request went out; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="cancellationToken">Cancels the request; once it was sent, cancelling closes the connection.</param>
    /// <returns>The reply, after receive plugins.</returns>
    /// <exception cref="TinyProtoException">
    /// <see cref="TinyProtoError.Timeout"/> when no reply came in time (the connection is closed); otherwise as
    /// <see cref="TransmitAsync(ReadOnlyMemory{byte}, CancellationToken)"/> and <see cref="ReceiveAsync(CancellationToken)"/> throw.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive nor infinite.</exception>
    /// <exception cref="InvalidOperationException">The connection's hooks take its messages, or it has not started.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<byte[]> RequestAsync(ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        RequestCoreAsync(request, token => ReceiveAsync(token).AsTask(), timeout, cancellationToken);

    /// <summary>
    /// As <see cref="RequestAsync(ReadOnlyMemory{byte}, TimeSpan, CancellationToken)"/>, with the reply copied into
    /// <paramref name="replyBuffer"/> (no allocation), as <see cref="ReceiveAsync(Memory{byte}, CancellationToken)"/> does.
    /// </summary>
    /// <param name="request">The request; it must stay unchanged until the returned task completes.</param>
    /// <param name="replyBuffer">Where the reply goes; a reply that does not fit fails with <see cref="TinyProtoError.MessageTooLarge"/> and closes the connection (it cannot be matched to a later request).</param>
    /// <param name="timeout">How long to wait for the reply once the request went out; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="cancellationToken">Cancels the request; once it was sent, cancelling closes the connection.</param>
    /// <returns>The reply's length; its bytes are the start of <paramref name="replyBuffer"/>.</returns>
    /// <exception cref="TinyProtoException">As for the overload that returns an array.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive nor infinite.</exception>
    /// <exception cref="InvalidOperationException">The connection's hooks take its messages, or it has not started.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<int> RequestAsync(ReadOnlyMemory<byte> request, Memory<byte> replyBuffer, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        RequestCoreAsync(request, token => ReceiveAsync(replyBuffer, token).AsTask(), timeout, cancellationToken);

    /// <summary>
    /// As <see cref="RequestAsync(ReadOnlyMemory{byte}, TimeSpan, CancellationToken)"/>, with the reply written to
    /// <paramref name="replyDestination"/> while it arrives (any size, bounded memory), as
    /// <see cref="ReceiveAsync(Stream, CancellationToken)"/> does. The timeout bounds the whole reply.
    /// </summary>
    /// <param name="request">The request; it must stay unchanged until the returned task completes.</param>
    /// <param name="replyDestination">Where the reply's bytes go.</param>
    /// <param name="timeout">How long to wait for the whole reply once the request went out; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="cancellationToken">Cancels the request; once it was sent, cancelling closes the connection.</param>
    /// <returns>The reply's length.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="replyDestination"/> is null.</exception>
    /// <exception cref="TinyProtoException">As for the overload that returns an array.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive nor infinite.</exception>
    /// <exception cref="InvalidOperationException">The connection's hooks take its messages, or it has not started.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<long> RequestAsync(ReadOnlyMemory<byte> request, Stream replyDestination, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replyDestination);
        return RequestCoreAsync(request, token => ReceiveAsync(replyDestination, token).AsTask(), timeout, cancellationToken);
    }

    /// <summary>
    /// One request: <paramref name="receive"/> takes the reply the way the caller asked for it. In a span
    /// (<c>tinyproto.request</c>) when someone listens to the activity source, and timed when someone listens to
    /// <c>tinyproto.operation.duration</c>; without either, nothing more is allocated. Its request message is counted as
    /// any transmission, but not timed as a <c>transmit</c> of its own.
    /// </summary>
    private ValueTask<T> RequestCoreAsync<T>(ReadOnlyMemory<byte> request, Func<CancellationToken, Task<T>> receive, TimeSpan timeout, CancellationToken cancellationToken) =>
        Diagnostics.Tracing.Source.HasListeners() || Volatile.Read(ref _parts)?.Metrics.MeasuresOperations == true
            ? ObservedRequestAsync(request, receive, timeout, cancellationToken)
            : RequestInOrderAsync(request, receive, timeout, cancellationToken);

    private async ValueTask<T> ObservedRequestAsync<T>(ReadOnlyMemory<byte> request, Func<CancellationToken, Task<T>> receive, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using System.Diagnostics.Activity? activity = Diagnostics.Tracing.StartRequest(this, request.Length);
        Diagnostics.ConnectionMetrics? metrics = Volatile.Read(ref _parts)?.Metrics;
        long started = metrics?.Start() ?? 0;
        try
        {
            T reply = await RequestInOrderAsync(request, receive, timeout, cancellationToken).ConfigureAwait(false);
            metrics?.Completed(Diagnostics.Operation.Request, started);
            return reply;
        }
        catch (Exception ex)
        {
            Diagnostics.Tracing.Fail(activity, ex);
            metrics?.Failed(Diagnostics.Operation.Request, started, ex);
            throw;
        }
    }

    /// <summary>A request in its turn: the wait for its reply registered, then its transmission started (see <c>_requestOrder</c>).</summary>
    private async ValueTask<T> RequestInOrderAsync<T>(ReadOnlyMemory<byte> request, Func<CancellationToken, Task<T>> receive, TimeSpan timeout, CancellationToken cancellationToken)
    {
        TimeSpanOption.Positive(timeout, nameof(timeout), infiniteAllowed: true);
        ThrowIfNotStarted();
        if (_hooksTakeMessages)
        {
            throw new InvalidOperationException("RequestAsync needs the replies, but this connection's TransmissionReceivedAsync (or TransmissionStreamReceivedAsync) hook takes its messages.");
        }

        using var replyCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await _requestOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        bool ordered = true;
        try
        {
            // The wait for the reply is queued before the request can be answered; both in the order of the calls.
            Task<T> reply = receive(replyCancel.Token);
            Task sent = TransmitAsync(new System.Buffers.ReadOnlySequence<byte>(request), Diagnostics.Operation.None, cancellationToken).AsTask();
            if (IsPipelined)
            {
                // Several in flight: the next request may go out now; replies come back in order.
                _requestOrder.Release();
                ordered = false;
            }

            // In lock-step mode the whole exchange is one at a time, as a half-duplex peer (the Python original) needs:
            // a request sent while the reply to the one before is on its way would cross that reply's header.
            return await ExchangeAsync(reply, sent, replyCancel, timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (ordered)
            {
                _requestOrder.Release();
            }
        }
    }

    private async Task<T> ExchangeAsync<T>(Task<T> reply, Task sent, CancellationTokenSource replyCancel, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await sent.ConfigureAwait(false);
        }
        catch
        {
            // Not sent (or refused): no reply will come for it. If a message was taken meanwhile, nobody can match it.
            await replyCancel.CancelAsync().ConfigureAwait(false);
            await ((Task)reply).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (reply.IsCompletedSuccessfully)
            {
                Fail(new TinyProtoException(TinyProtoError.ConnectionClosed, "A request failed, and the message that came meanwhile could be matched to no request; the connection was closed."));
            }

            throw;
        }

        try
        {
            return await reply.WaitAsync(timeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TinyProtoException ex) when (ex.Error == TinyProtoError.MessageTooLarge)
        {
            // The reply does not fit where the caller wanted it and stays unread: no later request may take it.
            Fail(new TinyProtoException(TinyProtoError.ConnectionClosed, $"A reply could not be taken ({ex.Message}); it could be matched to no later request, so the connection was closed.", ex));
            throw;
        }
        catch (TimeoutException)
        {
            var error = new TinyProtoException(TinyProtoError.Timeout,
                $"No reply came within {timeout.TotalMilliseconds:0.###} ms; the protocol has no correlation ids, so a late reply would be taken by the next request, and the connection was closed.");
            AbandonReply(reply, replyCancel, error);
            throw error;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !reply.IsCompleted)
        {
            AbandonReply(reply, replyCancel, new TinyProtoException(TinyProtoError.ConnectionClosed,
                "A request was cancelled after it was sent; its reply could be matched to no later request, so the connection was closed."));
            throw;
        }
    }

    /// <summary>A request that went out will not take its reply: the connection closes first, then the wait ends.</summary>
    private void AbandonReply(Task reply, CancellationTokenSource replyCancel, TinyProtoException error)
    {
        Fail(error);
        replyCancel.Cancel();
        _ = reply.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
