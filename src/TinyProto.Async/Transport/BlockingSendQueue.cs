using System.Buffers;
using System.Net.Sockets;

namespace TinyProto.Async.Transport;

/// <summary>
/// What a <see cref="BlockingSocketWriter"/> could not send without blocking: a queue that a helper thread of its own
/// (started on the first item) sends in order with blocking calls, so no thread of the caller ever blocks in a send.
/// </summary>
/// <remarks>
/// Everything here is guarded by the writer's lock (<c>sync</c>), which every caller holds; the helper thread takes it
/// between sends. After each item it reports to the writer (<see cref="IOwner"/>), under the lock and then outside it.
/// </remarks>
internal sealed class BlockingSendQueue
{
    private readonly Socket _socket;
    private readonly object _sync;
    private readonly IOwner _owner;
    private readonly Queue<Item> _items = new();
    private Thread? _thread;
    private bool _threadWaiting;
    private bool _stopped;
    private bool _failed;
    private TaskCompletionSource? _drained;

    public BlockingSendQueue(Socket socket, object sync, IOwner owner)
    {
        _socket = socket;
        _sync = sync;
        _owner = owner;
    }

    /// <summary>The writer's side of the queue.</summary>
    public interface IOwner
    {
        /// <summary>
        /// Item number <paramref name="sent"/> (counted from 1) is out, or failed with <paramref name="error"/> (the queue is
        /// then dropped). Called under the lock; true if a flush waiting for it is to complete now.
        /// </summary>
        bool ItemSent(long sent, Exception? error);

        /// <summary>Completes the flush <see cref="ItemSent"/> said was due; called outside the lock.</summary>
        void CompleteFlush(Exception? error);
    }

    /// <summary>Items waiting or being sent.</summary>
    public int Count => _items.Count;

    /// <summary>Items ever queued: a flush waits until this many are sent.</summary>
    public long Queued { get; private set; }

    /// <summary>Queues <paramref name="data"/>; <paramref name="owned"/> goes back to the pool once it is out.</summary>
    public void Enqueue(byte[]? owned, ReadOnlyMemory<byte> data)
    {
        _items.Enqueue(new Item(owned, data));
        Queued++;
        if (_thread is null)
        {
            _thread = new Thread(SendQueued) { IsBackground = true, Name = "TinyProto sender" };
            _thread.Start();
        }
        else if (_threadWaiting)
        {
            Monitor.Pulse(_sync);
        }
    }

    /// <summary>A task that completes once the queue is empty.</summary>
    public Task Drained()
    {
        if (_items.Count == 0)
        {
            return Task.CompletedTask;
        }

        _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _drained.Task;
    }

    /// <summary>Lets the helper thread end once the queue is empty (the writer was completed).</summary>
    public void Stop()
    {
        _stopped = true;
        Monitor.PulseAll(_sync);
    }

    private void SendQueued()
    {
        long sent = 0;
        while (true)
        {
            Item item;
            lock (_sync)
            {
                while (_items.Count == 0 && !_stopped)
                {
                    _threadWaiting = true;
                    Monitor.Wait(_sync);
                    _threadWaiting = false;
                }

                if (_items.Count == 0 || _failed)
                {
                    return;
                }

                item = _items.Peek();
            }

            Exception? error = null;
            try
            {
                ReadOnlySpan<byte> data = item.Data.Span;
                while (!data.IsEmpty)
                {
                    data = data[_socket.Send(data, SocketFlags.None)..];
                }
            }
            catch (Exception ex)
            {
                error = ex;
            }

            bool completeFlush;
            TaskCompletionSource? drained = null;
            lock (_sync)
            {
                _items.Dequeue();
                Return(item);
                if (error is not null)
                {
                    _failed = true;
                    while (_items.TryDequeue(out Item dropped))
                    {
                        Return(dropped);
                    }
                }

                completeFlush = _owner.ItemSent(++sent, error);
                if (_items.Count == 0)
                {
                    drained = _drained;
                    _drained = null;
                }
            }

            drained?.TrySetResult();
            if (completeFlush)
            {
                _owner.CompleteFlush(error);
            }

            if (error is not null)
            {
                return;
            }
        }
    }

    private static void Return(Item item)
    {
        if (item.Owned is not null)
        {
            ArrayPool<byte>.Shared.Return(item.Owned);
        }
    }

    /// <summary>Bytes to send; <see cref="Owned"/> goes back to the pool once they are out.</summary>
    private readonly record struct Item(byte[]? Owned, ReadOnlyMemory<byte> Data);
}
