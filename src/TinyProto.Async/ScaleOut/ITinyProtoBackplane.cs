namespace TinyProto.Async.ScaleOut;

/// <summary>
/// The pub/sub transport between servers that a <see cref="TinyProtoFanOut"/> runs on: Redis
/// (<c>TinyProto.Async.Redis</c>), <see cref="InMemoryBackplane"/> within one process, or your own (NATS, ...).
/// </summary>
/// <remarks>
/// What an implementation promises: a message published to a channel reaches every subscription to that channel, on any
/// server, at most once (a subscriber that is disconnected misses it); one subscription's handler is called for one
/// message at a time, in the order one publisher published them. Nothing is promised between subscriptions: messages on
/// two channels may be handled in either order. Members are safe to call concurrently.
/// </remarks>
public interface ITinyProtoBackplane
{
    /// <summary>Publishes <paramref name="message"/> to every subscription to <paramref name="channel"/>.</summary>
    /// <param name="channel">The channel's name.</param>
    /// <param name="message">The bytes; the backplane copies them before the returned task completes, if it needs them after.</param>
    /// <param name="cancellationToken">Stops waiting to publish.</param>
    /// <returns>A task that completes once the backplane took the message.</returns>
    ValueTask PublishAsync(string channel, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default);

    /// <summary>Subscribes <paramref name="handler"/> to <paramref name="channel"/> until the returned subscription is disposed.</summary>
    /// <param name="channel">The channel's name.</param>
    /// <param name="handler">Called for each message, one at a time; the bytes are valid only until its task completes.</param>
    /// <param name="cancellationToken">Stops waiting to subscribe.</param>
    /// <returns>The subscription, active once the task completes: messages published after that reach it.</returns>
    ValueTask<IAsyncDisposable> SubscribeAsync(string channel, Func<ReadOnlyMemory<byte>, ValueTask> handler, CancellationToken cancellationToken = default);
}
