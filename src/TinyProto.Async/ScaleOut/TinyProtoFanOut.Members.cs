using System.Threading.Channels;

namespace TinyProto.Async.ScaleOut;

// What the fan-out keeps per group and per connection on this server, each owning its own state.
public sealed partial class TinyProtoFanOut
{
    /// <summary>A group's members on this server, and its subscription. Its member set is guarded by itself.</summary>
    private sealed class Group
    {
        private readonly HashSet<Member> _members = [];

        public IAsyncDisposable? Subscription { get; set; }

        public bool IsEmpty
        {
            get
            {
                lock (_members)
                {
                    return _members.Count == 0;
                }
            }
        }

        public void Add(Member member)
        {
            lock (_members)
            {
                _members.Add(member);
            }
        }

        public bool Remove(Member member)
        {
            lock (_members)
            {
                return _members.Remove(member);
            }
        }

        public Member[] Members()
        {
            lock (_members)
            {
                return [.. _members];
            }
        }
    }

    /// <summary>One attached connection: its ordered queue and the task that transmits from it, its groups (under <see cref="_subscribing"/>).</summary>
    private sealed class Member
    {
        /// <summary>At most this many queued messages go in one batch.</summary>
        private const int MaxBatch = 64;

        private readonly Channel<byte[]> _queue;
        private readonly int _limit;

        public Member(TinyProtoFanOut owner, TinyProtoConnection connection, int limit)
        {
            Owner = owner;
            Connection = connection;
            _limit = limit;
            _queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(limit) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
            _ = Task.Run(TransmitQueuedAsync);
        }

        public TinyProtoFanOut Owner { get; }

        public TinyProtoConnection Connection { get; }

        public HashSet<string> Groups { get; } = new(StringComparer.Ordinal);

        public IAsyncDisposable? Subscription { get; set; }

        public void Enqueue(byte[] message)
        {
            if (!_queue.Writer.TryWrite(message) && _queue.Writer.TryComplete())
            {
                // Full: this connection cannot keep up with what is published to it.
                LogFellBehind(Owner._logger, Connection.Id, _limit);
                Connection.Abort();
            }
        }

        public void Stop() => _queue.Writer.TryComplete();

        private async Task TransmitQueuedAsync()
        {
            try
            {
                // Attached in ConnectionInitAsync, before the connection may transmit: what arrives meanwhile waits here.
                if (await Task.WhenAny(Connection.LoopsStarted, Connection.Completion).ConfigureAwait(false) != Connection.LoopsStarted)
                {
                    _queue.Writer.TryComplete();
                    return;
                }

                // What queued up meanwhile goes as one batch: pipelined, in as few writes as it allows and with its
                // statuses awaited together (one round trip, not one per message); lock-step, one after another.
                var batch = new List<ReadOnlyMemory<byte>>(MaxBatch);
                ChannelReader<byte[]> reader = _queue.Reader;
                while (await reader.WaitToReadAsync().ConfigureAwait(false))
                {
                    batch.Clear();
                    while (batch.Count < MaxBatch && reader.TryRead(out byte[]? message))
                    {
                        batch.Add(message);
                    }

                    if (batch.Count == 1)
                    {
                        await Connection.TransmitAsync(batch[0]).ConfigureAwait(false);
                    }
                    else
                    {
                        await Connection.TransmitManyAsync(batch).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex) when (ex is TinyProtoException or InvalidOperationException or ObjectDisposedException)
            {
                // The connection ended (its Completion detaches it); what was queued for it goes with it.
                _queue.Writer.TryComplete();
            }
        }
    }
}
