using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace TinyProto.Async.ScaleOut;

/// <summary>
/// Sends to connections wherever they are: each server attaches its connections (<see cref="AttachAsync"/>, from
/// <c>ConnectionInitAsync</c>), and a message published to everyone, a group or one connection id reaches those
/// attached on every server that shares the <see cref="ITinyProtoBackplane"/>. Each connection receives from a queue of
/// its own, so a slow connection never holds up another, and gets one publisher's messages to one target (everyone, one
/// group, or itself) in the order they were published.
/// </summary>
/// <remarks>
/// Delivery is as the backplane's: at most once (a connection that is reconnecting, or a server cut off from the
/// backplane, misses what is published meanwhile). A connection more than <see cref="MaxQueuedPerConnection"/> messages
/// behind is closed, with a log line, rather than let it hold memory without bound. Channels are
/// <c>{prefix}:all</c>, <c>{prefix}:group:{name}</c> and <c>{prefix}:connection:{id}</c>; each target is a channel, and
/// the backplane orders each subscription alone, so messages to different targets (to everyone, then to a group) may
/// reach a connection in either order, even from one publisher: to keep an order between messages, send them to one
/// target. Members are safe to call concurrently.
/// </remarks>
public sealed partial class TinyProtoFanOut : IAsyncDisposable
{
    private readonly ITinyProtoBackplane _backplane;
    private readonly string _prefix;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Guid, Member> _members = new();
    private readonly Dictionary<string, Group> _groups = new(StringComparer.Ordinal); // under _subscribing
    private readonly SemaphoreSlim _subscribing = new(1, 1);
    private IAsyncDisposable? _all; // under _subscribing
    private int _maxQueued = 1024;

    /// <summary>Creates a fan-out over <paramref name="backplane"/>.</summary>
    /// <param name="backplane">Shared by every server of the service.</param>
    /// <param name="channelPrefix">Starts every channel's name: services sharing one backplane use different ones.</param>
    /// <param name="logger">Where refusals and failed deliveries are logged; null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="backplane"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="channelPrefix"/> is empty.</exception>
    public TinyProtoFanOut(ITinyProtoBackplane backplane, string channelPrefix = "tinyproto", ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(backplane);
        ArgumentException.ThrowIfNullOrWhiteSpace(channelPrefix);
        _backplane = backplane;
        _prefix = channelPrefix;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>How many messages a connection may be behind before it is closed. Default: 1024.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int MaxQueuedPerConnection
    {
        get => Volatile.Read(ref _maxQueued);
        set => Volatile.Write(ref _maxQueued, value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxQueuedPerConnection must be at least 1."));
    }

    /// <summary>The connections attached here, on this server.</summary>
    public int LocalConnections => _members.Count;

    /// <summary>
    /// Attaches a connection of this server: from now on it receives what is published to everyone and to its id, and
    /// may join groups. It is detached when it ends. Call it from <c>ConnectionInitAsync</c>.
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="cancellationToken">Stops waiting for the backplane's subscriptions.</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The connection is attached already.</exception>
    public async ValueTask AttachAsync(TinyProtoConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var member = new Member(this, connection, MaxQueuedPerConnection);
        if (!_members.TryAdd(connection.Id, member))
        {
            member.Stop();
            throw new InvalidOperationException($"Connection {connection.Id} is attached already.");
        }

        try
        {
            await _subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _all ??= await _backplane.SubscribeAsync(AllChannel, envelope => DeliverAsync(envelope, _members.Values), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _subscribing.Release();
            }

            member.Subscription = await _backplane.SubscribeAsync(ConnectionChannel(connection.Id), envelope => DeliverAsync(envelope, [member]), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await DetachAsync(member).ConfigureAwait(false);
            throw;
        }

        _ = connection.Completion.ContinueWith(static (_, state) => ((Member)state!).Owner.DetachAsync((Member)state!).AsTask(), member, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Adds an attached connection of this server to <paramref name="group"/> (nothing if it is in it already).</summary>
    /// <param name="connection">An attached connection.</param>
    /// <param name="group">The group's name.</param>
    /// <param name="cancellationToken">Stops waiting for the backplane's subscription.</param>
    /// <exception cref="InvalidOperationException">The connection is not attached (or has ended).</exception>
    public async ValueTask JoinGroupAsync(TinyProtoConnection connection, string group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(group);
        Member member = _members.TryGetValue(connection.Id, out Member? found)
            ? found
            : throw new InvalidOperationException($"Connection {connection.Id} is not attached: attach it with AttachAsync first (it may have ended).");
        await _subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_members.ContainsKey(connection.Id))
            {
                // It ended meanwhile, and its detach already took it out of its groups.
                throw new InvalidOperationException($"Connection {connection.Id} is not attached: it ended.");
            }

            if (!_groups.TryGetValue(group, out Group? entry))
            {
                entry = new Group();
                entry.Subscription = await _backplane.SubscribeAsync(GroupChannel(group), envelope => DeliverAsync(envelope, entry.Members()), cancellationToken).ConfigureAwait(false);
                _groups[group] = entry;
            }

            entry.Add(member);
            member.Groups.Add(group);
        }
        finally
        {
            _subscribing.Release();
        }
    }

    /// <summary>Removes a connection of this server from <paramref name="group"/> (nothing if it is not in it).</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="group">The group's name.</param>
    /// <param name="cancellationToken">Stops waiting for the backplane.</param>
    public async ValueTask LeaveGroupAsync(TinyProtoConnection connection, string group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(group);
        if (_members.TryGetValue(connection.Id, out Member? member))
        {
            await _subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await LeaveAsync(member, group).ConfigureAwait(false);
            }
            finally
            {
                _subscribing.Release();
            }
        }
    }

    /// <summary>Publishes to every attached connection on every server, but <paramref name="except"/>.</summary>
    /// <param name="message">The message.</param>
    /// <param name="except">A connection id to leave out (the sender's), or <see cref="Guid.Empty"/>.</param>
    /// <param name="cancellationToken">Stops waiting for the backplane.</param>
    /// <returns>A task that completes once the backplane took the message.</returns>
    public ValueTask PublishToAllAsync(ReadOnlyMemory<byte> message, Guid except = default, CancellationToken cancellationToken = default) =>
        _backplane.PublishAsync(AllChannel, FanOutEnvelope.Encode(message.Span, except), cancellationToken);

    /// <summary>Publishes to the members of <paramref name="group"/> on every server, but <paramref name="except"/>.</summary>
    /// <param name="group">The group's name.</param>
    /// <param name="message">The message.</param>
    /// <param name="except">A connection id to leave out, or <see cref="Guid.Empty"/>.</param>
    /// <param name="cancellationToken">Stops waiting for the backplane.</param>
    /// <returns>A task that completes once the backplane took the message.</returns>
    public ValueTask PublishToGroupAsync(string group, ReadOnlyMemory<byte> message, Guid except = default, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        return _backplane.PublishAsync(GroupChannel(group), FanOutEnvelope.Encode(message.Span, except), cancellationToken);
    }

    /// <summary>Publishes to the connection with this id, on whichever server it is attached (nobody receives it if none).</summary>
    /// <param name="connectionId">The connection's <see cref="TinyProtoConnection.Id"/>.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Stops waiting for the backplane.</param>
    /// <returns>A task that completes once the backplane took the message.</returns>
    public ValueTask PublishToConnectionAsync(Guid connectionId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default) =>
        _backplane.PublishAsync(ConnectionChannel(connectionId), FanOutEnvelope.Encode(message.Span, Guid.Empty), cancellationToken);

    /// <summary>Ends every subscription; attached connections stay open but receive nothing more from the backplane.</summary>
    /// <returns>A task that completes when the subscriptions ended.</returns>
    public async ValueTask DisposeAsync()
    {
        foreach (Member member in _members.Values)
        {
            await DetachAsync(member).ConfigureAwait(false);
        }

        await _subscribing.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_all is not null)
            {
                await _all.DisposeAsync().ConfigureAwait(false);
                _all = null;
            }
        }
        finally
        {
            _subscribing.Release();
        }
    }

    private string AllChannel => _prefix + ":all";

    private string GroupChannel(string group) => $"{_prefix}:group:{group}";

    private string ConnectionChannel(Guid id) => $"{_prefix}:connection:{id:N}";

    private ValueTask DeliverAsync(ReadOnlyMemory<byte> envelope, IEnumerable<Member> recipients)
    {
        if (!FanOutEnvelope.TryDecode(envelope, out ReadOnlyMemory<byte> message, out Guid except, out string? error))
        {
            LogMalformed(_logger, error!);
            return default;
        }

        byte[]? copy = null;
        foreach (Member member in recipients)
        {
            if (member.Connection.Id != except)
            {
                member.Enqueue(copy ??= message.ToArray());
            }
        }

        return default;
    }

    private async ValueTask DetachAsync(Member member)
    {
        if (!_members.TryRemove(new KeyValuePair<Guid, Member>(member.Connection.Id, member)))
        {
            return;
        }

        member.Stop();
        await _subscribing.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (string group in member.Groups.ToArray())
            {
                await LeaveAsync(member, group).ConfigureAwait(false);
            }
        }
        finally
        {
            _subscribing.Release();
        }

        if (member.Subscription is { } subscription)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Takes a member out of a group, ending the group's subscription when it was the last here. Under <see cref="_subscribing"/>.</summary>
    private async ValueTask LeaveAsync(Member member, string group)
    {
        member.Groups.Remove(group);
        if (_groups.TryGetValue(group, out Group? entry) && entry.Remove(member) && entry.IsEmpty)
        {
            _groups.Remove(group);
            await entry.Subscription!.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(201, LogLevel.Warning, "Dropped a message from the backplane that is not a fan-out envelope: {Reason}.")]
    private static partial void LogMalformed(ILogger logger, string reason);

    [LoggerMessage(202, LogLevel.Warning, "Closed connection {ConnectionId}: it fell {Limit} messages behind what the backplane delivered to it (MaxQueuedPerConnection).")]
    private static partial void LogFellBehind(ILogger logger, Guid connectionId, int limit);
}
