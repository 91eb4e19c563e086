using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using TinyProto.Async.ScaleOut;

namespace TinyProto.Async.Redis;

/// <summary>
/// An <see cref="ITinyProtoBackplane"/> on Redis pub/sub (StackExchange.Redis): every server of a service connects to
/// the same Redis, and what one publishes reaches the subscriptions of all of them.
/// </summary>
/// <remarks>
/// Redis pub/sub keeps nothing: a message reaches the subscribers connected at that moment, once, and a server cut off
/// from Redis misses what is published until StackExchange.Redis reconnects and subscribes again (both logged, events
/// 302 and 303). One subscription's messages come in the order one publisher published them, one at a time, each from a
/// queue of its own (a slow handler holds up only its own subscription; and so two subscriptions have no order between
/// them). Channel names are literal (never patterns);
/// the connection's <see cref="ConfigurationOptions.ChannelPrefix"/> is put before them. Members are safe to call
/// concurrently.
/// </remarks>
public sealed partial class RedisBackplane : ITinyProtoBackplane, IAsyncDisposable
{
    private readonly IConnectionMultiplexer _redis;
    private readonly ISubscriber _subscriber;
    private readonly bool _ownsConnection;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Subscription, byte> _subscriptions = new();
    private int _disposed;

    /// <summary>Creates a backplane on a connection to Redis that the caller made and disposes of.</summary>
    /// <param name="redis">The connection; it may serve other uses too.</param>
    /// <param name="logger">Where lost and restored connections and failed handlers are logged; null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="redis"/> is null.</exception>
    public RedisBackplane(IConnectionMultiplexer redis, ILogger? logger = null)
        : this(redis ?? throw new ArgumentNullException(nameof(redis)), ownsConnection: false, logger)
    {
    }

    private RedisBackplane(IConnectionMultiplexer redis, bool ownsConnection, ILogger? logger)
    {
        _redis = redis;
        _ownsConnection = ownsConnection;
        _logger = logger ?? NullLogger.Instance;
        _subscriber = redis.GetSubscriber();
        _redis.ConnectionFailed += OnConnectionFailed;
        _redis.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>The connection to Redis the backplane publishes and subscribes on.</summary>
    public IConnectionMultiplexer Connection => _redis;

    /// <summary>
    /// Connects to Redis and creates a backplane that owns the connection (disposing of the backplane closes it).
    /// </summary>
    /// <param name="configuration">A StackExchange.Redis configuration string, such as <c>127.0.0.1:6379</c> or <c>redis1:6379,password=...,ssl=true</c>.</param>
    /// <param name="logger">Where lost and restored connections and failed handlers are logged; null for none.</param>
    /// <returns>The backplane, connected.</returns>
    /// <exception cref="ArgumentException"><paramref name="configuration"/> is empty or not a valid configuration string.</exception>
    /// <exception cref="RedisConnectionException">Redis could not be reached (unless the configuration says <c>abortConnect=false</c>).</exception>
    public static async Task<RedisBackplane> ConnectAsync(string configuration, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(configuration);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            throw new ArgumentException($"'{configuration}' is not a Redis configuration string (such as 127.0.0.1:6379): {ex.Message}", nameof(configuration), ex);
        }

        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException($"'{configuration}' names no Redis endpoint (such as 127.0.0.1:6379).", nameof(configuration));
        }

        ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        return new RedisBackplane(redis, ownsConnection: true, logger);
    }

    /// <inheritdoc/>
    /// <exception cref="RedisException">Redis did not take the message (for example, it could not be reached within the connection's timeout).</exception>
    public async ValueTask PublishAsync(string channel, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!cancellationToken.CanBeCanceled)
        {
            // Written out before the reply completes the task: the caller's bytes stay valid that long.
            await _subscriber.PublishAsync(RedisChannel.Literal(channel), message).ConfigureAwait(false);
            return;
        }

        // Waiting can stop before Redis took the message, and then the caller may reuse its bytes: send a copy.
        await _subscriber.PublishAsync(RedisChannel.Literal(channel), message.ToArray()).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<IAsyncDisposable> SubscribeAsync(string channel, Func<ReadOnlyMemory<byte>, ValueTask> handler, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(handler);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Task<ChannelMessageQueue> subscribing = _subscriber.SubscribeAsync(RedisChannel.Literal(channel));
        ChannelMessageQueue queue;
        try
        {
            queue = await subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The subscription may still be made: undo it once it is.
            _ = subscribing.ContinueWith(static t => t.Result.UnsubscribeAsync(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default).Unwrap();
            throw;
        }

        var subscription = new Subscription(this, channel, queue, handler);
        _subscriptions.TryAdd(subscription, 0);
        subscription.Start();
        return subscription;
    }

    /// <summary>
    /// Ends every subscription made here, and closes the connection to Redis if <see cref="ConnectAsync"/> made it.
    /// </summary>
    /// <returns>A task that completes once the handlers have returned.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (Subscription subscription in _subscriptions.Keys)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
        }

        _redis.ConnectionFailed -= OnConnectionFailed;
        _redis.ConnectionRestored -= OnConnectionRestored;
        if (_ownsConnection)
        {
            await _redis.CloseAsync().ConfigureAwait(false);
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        LogConnectionFailed(_logger, e.ConnectionType, e.EndPoint?.ToString() ?? "Redis", e.FailureType, e.Exception);

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) =>
        LogConnectionRestored(_logger, e.ConnectionType, e.EndPoint?.ToString() ?? "Redis");

    [LoggerMessage(301, LogLevel.Error, "A handler of the backplane's subscription to {Channel} failed; the subscription goes on with the next message.")]
    private static partial void LogHandlerFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(302, LogLevel.Warning, "Lost the backplane's {ConnectionType} connection to {EndPoint} ({FailureType}): what is published until it is restored is missed.")]
    private static partial void LogConnectionFailed(ILogger logger, ConnectionType connectionType, string endPoint, ConnectionFailureType failureType, Exception? exception);

    [LoggerMessage(303, LogLevel.Information, "Restored the backplane's {ConnectionType} connection to {EndPoint}.")]
    private static partial void LogConnectionRestored(ILogger logger, ConnectionType connectionType, string endPoint);

    /// <summary>One subscription: its queue from StackExchange.Redis, and the task that hands each message to the handler in turn.</summary>
    private sealed class Subscription(RedisBackplane owner, string channel, ChannelMessageQueue queue, Func<ReadOnlyMemory<byte>, ValueTask> handler) : IAsyncDisposable
    {
        private Task? _pump;
        private int _disposed;

        public void Start() => _pump = Task.Run(PumpAsync);

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            owner._subscriptions.TryRemove(this, out _);
            try
            {
                // Ends this queue only; other subscriptions to the channel, here or elsewhere, go on.
                await queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (RedisException)
            {
                // Not connected: there is nothing to unsubscribe on the server, and the queue is completed all the same.
            }

            await _pump!.ConfigureAwait(false);
        }

        private async Task PumpAsync()
        {
            await foreach (ChannelMessage message in queue.ConfigureAwait(false))
            {
                try
                {
                    await handler((ReadOnlyMemory<byte>)message.Message).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    LogHandlerFailed(owner._logger, channel, ex);
                }
            }
        }
    }
}
