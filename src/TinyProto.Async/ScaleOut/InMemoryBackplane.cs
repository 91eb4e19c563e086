using System.Threading.Channels;

namespace TinyProto.Async.ScaleOut;

/// <summary>
/// A backplane within one process: several servers in one process, or tests. Each subscription receives on a task of
/// its own, in publish order, so a slow handler holds up only its own subscription.
/// </summary>
public sealed class InMemoryBackplane : ITinyProtoBackplane
{
    private readonly object _lock = new();
    private readonly Dictionary<string, List<Subscription>> _channels = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public ValueTask PublishAsync(string channel, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channel);
        cancellationToken.ThrowIfCancellationRequested();
        Subscription[] subscribers;
        lock (_lock)
        {
            subscribers = _channels.TryGetValue(channel, out List<Subscription>? list) ? [.. list] : [];
        }

        byte[] copy = message.ToArray();
        foreach (Subscription subscriber in subscribers)
        {
            subscriber.Deliver(copy);
        }

        return default;
    }

    /// <inheritdoc/>
    public ValueTask<IAsyncDisposable> SubscribeAsync(string channel, Func<ReadOnlyMemory<byte>, ValueTask> handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(handler);
        cancellationToken.ThrowIfCancellationRequested();
        var subscription = new Subscription(this, channel, handler);
        lock (_lock)
        {
            if (!_channels.TryGetValue(channel, out List<Subscription>? list))
            {
                _channels[channel] = list = [];
            }

            list.Add(subscription);
        }

        return new ValueTask<IAsyncDisposable>(subscription);
    }

    /// <summary>How many subscriptions a channel has, for tests.</summary>
    internal int SubscriptionsTo(string channel)
    {
        lock (_lock)
        {
            return _channels.TryGetValue(channel, out List<Subscription>? list) ? list.Count : 0;
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            if (_channels.TryGetValue(subscription.ChannelName, out List<Subscription>? list) && list.Remove(subscription) && list.Count == 0)
            {
                _channels.Remove(subscription.ChannelName);
            }
        }
    }

    /// <summary>One subscription: its queue, and the task that hands each message to the handler in turn.</summary>
    private sealed class Subscription : IAsyncDisposable
    {
        private readonly InMemoryBackplane _owner;
        private readonly Channel<byte[]> _queue = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        private readonly Func<ReadOnlyMemory<byte>, ValueTask> _handler;
        private readonly Task _pump;

        public Subscription(InMemoryBackplane owner, string channel, Func<ReadOnlyMemory<byte>, ValueTask> handler)
        {
            _owner = owner;
            ChannelName = channel;
            _handler = handler;
            _pump = Task.Run(PumpAsync);
        }

        public string ChannelName { get; }

        public void Deliver(byte[] message) => _queue.Writer.TryWrite(message);

        public async ValueTask DisposeAsync()
        {
            _owner.Remove(this);
            _queue.Writer.TryComplete();
            await _pump.ConfigureAwait(false);
        }

        private async Task PumpAsync()
        {
            await foreach (byte[] message in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                try
                {
                    await _handler(message).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // A handler's failure is the handler's (TinyProtoFanOut logs its own); the next message still comes.
                }
            }
        }
    }
}
