namespace TinyProto.Async.Connection;

/// <summary>
/// Received messages on their way to a hook or a <c>ReceiveAsync</c> caller: the messages no one has taken yet, the
/// <c>ReceiveAsync</c> calls waiting for one, and the back-pressure budget that decides when the receive loop answers
/// the next header.
/// </summary>
/// <remarks>
/// It owns <c>_messages</c>, <c>_waiters</c>, <c>_bytes</c>, <c>_roomSignal</c> and the waiter pools, all guarded by the
/// connection's gate: every member is called with the gate held, except <see cref="WaitForRoomAsync"/> (the receive loop,
/// which takes the gate itself) and the waiters' own completion and cancellation.
/// </remarks>
internal sealed partial class Inbox
{
    /// <summary>How many bytes of untaken messages the inbox holds before the next header waits.</summary>
    public const long Budget = 1024 * 1024;

    private const int MaxPooledWaiters = 16;

    private readonly object _gate;
    private readonly Action _messageQueued;
    private readonly Queue<InboundMessage> _messages = new();
    private readonly Queue<IReceiveWaiter> _waiters = new();
    private readonly Stack<MessageWaiter> _freeMessageWaiters = new();
    private readonly Stack<MemoryWaiter> _freeMemoryWaiters = new();
    private long _bytes;
    private TaskCompletionSource? _roomSignal;

    /// <param name="gate">The connection's gate.</param>
    /// <param name="messageQueued">Called under the gate when a message is queued that no waiting call took (wakes the hooks).</param>
    public Inbox(object gate, Action messageQueued)
    {
        _gate = gate;
        _messageQueued = messageQueued;
    }

    /// <summary>
    /// Whether a message whose header was answered is still arriving (buffered: until it is queued; streamed: until its
    /// last byte). A stopping connection ends only once this is false and nothing is left to take. Under the gate.
    /// </summary>
    public bool Arriving { get; set; }

    /// <summary>
    /// Whether a stop began: then every change that may let it end (a message delivered or taken, a receive call
    /// waiting again) wakes the hooks, which end the connection once nothing accepted is left. Under the gate.
    /// </summary>
    public bool WakeHooksWhileStopping { get; set; }

    /// <summary>Wakes the hook loop to look again (a stopping connection whose last message arrived). Under the gate.</summary>
    public void WakeHooks() => _messageQueued();

    /// <summary>Whether a receive call waits: a <c>ReceiveAsync</c> consumer came back for its next message. Under the gate.</summary>
    public bool HasWaiters => _waiters.Count > 0;

    /// <summary>Whether a message was ever handed to a receive call (there is a <c>ReceiveAsync</c> consumer). Under the gate.</summary>
    public bool HandedAny { get; private set; }

    private void WakeHooksIfStopping()
    {
        if (WakeHooksWhileStopping)
        {
            _messageQueued();
        }
    }

    /// <summary>Messages received and not yet taken.</summary>
    public int Count => _messages.Count;

    /// <summary>Bytes of the buffered messages not yet taken (streamed ones count nothing: they wait on the wire).</summary>
    public long Bytes => _bytes;

    /// <summary>The next message, if any, without taking it.</summary>
    public bool TryPeek(out InboundMessage? message) => _messages.TryPeek(out message);

    /// <summary>Takes the next message; there must be one. Wakes a receive loop waiting for room.</summary>
    public InboundMessage Take()
    {
        InboundMessage message = _messages.Dequeue();
        HandedAny = true;
        _bytes -= message.IsStreamed ? 0 : message.Length;
        SignalRoom();
        WakeHooksIfStopping();
        return message;
    }

    /// <summary>Called by the receive loop for each message: to the oldest waiting call that takes it, or into the queue.</summary>
    public void Deliver(InboundMessage message)
    {
        while (_waiters.TryDequeue(out IReceiveWaiter? waiter))
        {
            if (waiter.TryTake(message))
            {
                HandedAny = true;
                WakeHooksIfStopping();
                return;
            }
        }

        _messages.Enqueue(message);
        _bytes += message.IsStreamed ? 0 : message.Length;
        _messageQueued();
    }

    /// <summary>Queues a call that takes the next message whole (<c>ReceiveAsync()</c>, <c>ReceiveAsync(Stream)</c>).</summary>
    public ValueTask<InboundMessage> WaitForMessage(bool arrayOnly, CancellationToken cancellationToken)
    {
        MessageWaiter waiter = _freeMessageWaiters.TryPop(out MessageWaiter? free) ? free : new MessageWaiter(this);
        waiter.Arm(arrayOnly);
        _waiters.Enqueue(waiter);
        WakeHooksIfStopping();
        waiter.CancelOnRequest(cancellationToken);
        return waiter.Task;
    }

    /// <summary>Queues a call that copies the next message into <paramref name="destination"/> (<c>ReceiveAsync(Memory)</c>).</summary>
    public ValueTask<int> WaitForMessage(Memory<byte> destination, CancellationToken cancellationToken)
    {
        MemoryWaiter waiter = _freeMemoryWaiters.TryPop(out MemoryWaiter? free) ? free : new MemoryWaiter(this);
        waiter.Arm(destination);
        _waiters.Enqueue(waiter);
        WakeHooksIfStopping();
        waiter.CancelOnRequest(cancellationToken);
        return waiter.Task;
    }

    /// <summary>Fails every waiting call with <paramref name="error"/>: no message will come for them.</summary>
    public void FailWaiters(Func<Exception> error)
    {
        while (_waiters.TryDequeue(out IReceiveWaiter? waiter))
        {
            waiter.Fail(error());
        }
    }

    /// <summary>
    /// Back-pressure: the receive loop answers the next header only when the inbox has room for it (<see cref="Budget"/>
    /// bytes, and always one message), unless <paramref name="mustReadOn"/>: one of our own messages is in flight, whose
    /// status may lie behind the next message, or the connection is closing.
    /// </summary>
    public bool HasRoom(uint size, bool mustReadOn) => mustReadOn || _messages.Count == 0 || _bytes + size <= Budget;

    /// <summary>
    /// Waits until <paramref name="hasRoom"/> holds, checked under the gate each time a message is taken or something
    /// else may have changed it (<see cref="SignalRoom"/>). The receive loop's one wait.
    /// </summary>
    public async ValueTask WaitForRoomAsync(Func<bool> hasRoom)
    {
        while (true)
        {
            TaskCompletionSource signal;
            lock (_gate)
            {
                if (hasRoom())
                {
                    return;
                }

                signal = _roomSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            await signal.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Wakes a receive loop waiting for room, so it checks again (a message was taken, or one of ours began, or a close).</summary>
    public void SignalRoom() => _roomSignal?.TrySetResult();

    /// <summary>Why a message cannot be received into <paramref name="capacity"/> bytes, or null if it can.</summary>
    public static TinyProtoException? RefusalFor(InboundMessage message, int capacity) => MemoryWaiter.Refusal(message, capacity);

    /// <summary>The error of a whole-message call for a message no array can hold.</summary>
    public static TinyProtoException TooLargeForArray(long length) =>
        new(TinyProtoError.MessageTooLarge, $"The next message has {length} bytes, more than an array can hold; take it with ReceiveAsync(Stream).");

    /// <summary>Takes <paramref name="waiter"/> out of the queue if it is still there; the caller holds the gate.</summary>
    private void Remove(IReceiveWaiter waiter)
    {
        for (int i = _waiters.Count; i > 0; i--)
        {
            IReceiveWaiter queued = _waiters.Dequeue();
            if (!ReferenceEquals(queued, waiter))
            {
                _waiters.Enqueue(queued);
            }
        }
    }

    /// <summary>Keeps a waiter whose use is over for the next call, up to a few per kind.</summary>
    private void ReturnToPool<T>(Stack<T> pool, T waiter)
    {
        lock (_gate)
        {
            if (pool.Count < MaxPooledWaiters)
            {
                pool.Push(waiter);
            }
        }
    }
}
