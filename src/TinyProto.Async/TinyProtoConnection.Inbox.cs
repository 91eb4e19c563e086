using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    /// <summary>How many bytes of untaken messages the inbox holds before the next header waits.</summary>
    private const long InboxBudget = 1024 * 1024;

    // All guarded by _gate.
    private readonly Queue<InboundMessage> _inbox = new();
    private readonly Queue<IReceiveWaiter> _receiveWaiters = new();
    private long _inboxBytes;
    private bool _inputEnded;
    private TaskCompletionSource? _readerSignal;

    /// <summary>
    /// Receives the next message as a new array that the caller owns. A pending call takes the next
    /// message before the <see cref="TransmissionReceivedAsync"/> hook does; messages that arrive while
    /// no call is pending go to the hook if it is overridden, and otherwise wait here for the next call.
    /// Messages received before the peer closed can still be taken after it closed.
    /// </summary>
    /// <param name="cancellationToken">
    /// Cancels the wait; a message is never lost to a call cancelled while it waits. A message above
    /// <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/> is read off the wire after the call has taken it,
    /// so cancelling during that read loses it, as with <see cref="ReceiveAsync(Stream, CancellationToken)"/>.
    /// </param>
    /// <returns>The message, after receive plugins.</returns>
    /// <exception cref="TinyProtoException">The connection ended (<see cref="TinyProtoError.ConnectionClosed"/>), or the next message is larger than an array can hold (<see cref="TinyProtoError.MessageTooLarge"/>; take it with <see cref="ReceiveAsync(Stream, CancellationToken)"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<byte[]> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        InboundMessage message = await TakeMessageAsync(arrayOnly: true, cancellationToken).ConfigureAwait(false);
        using (message)
        {
            if (!message.IsStreamed)
            {
                return message.Sequence.ToArray();
            }

            byte[] raw = await message.ToArrayAsync(cancellationToken).ConfigureAwait(false);
            return _plugins.Count == 0 ? raw : ApplyReceivePlugins(new ReadOnlySequence<byte>(raw)).ToArray();
        }
    }

    /// <summary>
    /// Receives the next message into <paramref name="destination"/> and returns its length: the way to receive
    /// without allocating. The receive loop copies a message that arrives while the call waits straight into
    /// <paramref name="destination"/>. A message longer than <paramref name="destination"/>, or one above
    /// <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/> (such a message is only ever streamed), is not
    /// taken: the call fails and the message stays for the next call or hook.
    /// </summary>
    /// <param name="destination">Where the message is copied; it must stay valid and unused until the call completes.</param>
    /// <param name="cancellationToken">Cancels the wait; a message is never lost to a cancelled call.</param>
    /// <returns>The message's length, after receive plugins; its bytes are the start of <paramref name="destination"/>.</returns>
    /// <exception cref="TinyProtoException">
    /// <see cref="TinyProtoError.MessageTooLarge"/> when the next message does not fit in <paramref name="destination"/> or
    /// is streamed (take it with <see cref="ReceiveAsync(Stream, CancellationToken)"/>);
    /// <see cref="TinyProtoError.ConnectionClosed"/> when the connection ended.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<int> ReceiveAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        MemoryWaiter waiter;
        lock (_gate)
        {
            if (Volatile.Read(ref _state) != 2 && !_inputEnded)
            {
                return ValueTask.FromException<int>(new InvalidOperationException("The connection has not been started."));
            }

            if (_inbox.TryPeek(out InboundMessage? head))
            {
                if (MemoryWaiter.Refusal(head, destination.Length) is { } refusal)
                {
                    return ValueTask.FromException<int>(refusal);
                }

                using InboundMessage message = DequeueInbox();
                message.Sequence.CopyTo(destination.Span);
                return new ValueTask<int>((int)message.Length);
            }

            if (_inputEnded || _closing)
            {
                return ValueTask.FromException<int>(ClosedError("receive"));
            }

            waiter = _freeMemoryWaiters.TryPop(out MemoryWaiter? free) ? free : new MemoryWaiter(this);
            waiter.Arm(destination);
            _receiveWaiters.Enqueue(waiter);
        }

        waiter.CancelOnRequest(cancellationToken);
        return waiter.Task;
    }

    /// <summary>
    /// Receives the next message of any size (up to 0xF0FFFFFF bytes) by copying it into
    /// <paramref name="destination"/> as it arrives, so memory stays bounded by buffer sizes. Messages
    /// buffered whole are written after receive plugins; streamed ones are written as they came off the wire.
    /// </summary>
    /// <param name="destination">Where the message's bytes are written.</param>
    /// <param name="cancellationToken">Cancels the wait or the copy; a message cancelled mid-copy is lost.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="destination"/> is null.</exception>
    /// <exception cref="TinyProtoException">The connection ended before or during the message.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<long> ReceiveAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        InboundMessage message = await TakeMessageAsync(arrayOnly: false, cancellationToken).ConfigureAwait(false);
        using (message)
        {
            await message.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
            return message.Length;
        }
    }

    /// <summary>Takes the inbox head, or queues a waiter for the next message (which the waiter gives back to the pool itself).</summary>
    private ValueTask<InboundMessage> TakeMessageAsync(bool arrayOnly, CancellationToken cancellationToken)
    {
        MessageWaiter waiter;
        lock (_gate)
        {
            if (Volatile.Read(ref _state) != 2 && !_inputEnded)
            {
                throw new InvalidOperationException("The connection has not been started.");
            }

            if (_inbox.TryPeek(out InboundMessage? head))
            {
                if (arrayOnly && head.Length > Array.MaxLength)
                {
                    throw TooLargeForArray(head.Length);
                }

                return new ValueTask<InboundMessage>(DequeueInbox());
            }

            if (_inputEnded || _closing)
            {
                throw ClosedError("receive");
            }

            waiter = _freeMessageWaiters.TryPop(out MessageWaiter? free) ? free : new MessageWaiter(this);
            waiter.Arm(arrayOnly);
            _receiveWaiters.Enqueue(waiter);
        }

        waiter.CancelOnRequest(cancellationToken);
        return waiter.Task;
    }

    /// <summary>Called by the receive loop for each message: to a waiting receiver, or into the inbox.</summary>
    private void Deliver(InboundMessage message)
    {
        lock (_gate)
        {
            while (_receiveWaiters.TryDequeue(out IReceiveWaiter? waiter))
            {
                if (waiter.TryTake(message))
                {
                    return;
                }
            }

            _inbox.Enqueue(message);
            _inboxBytes += message.IsStreamed ? 0 : message.Length;
            SignalHooks();
        }
    }

    /// <summary>Dequeues the inbox head; the caller holds <see cref="_gate"/>.</summary>
    private InboundMessage DequeueInbox()
    {
        InboundMessage message = _inbox.Dequeue();
        _inboxBytes -= message.IsStreamed ? 0 : message.Length;
        _readerSignal?.TrySetResult();
        return message;
    }

    /// <summary>
    /// Back-pressure: the receive loop answers the next header only when the inbox has room for it
    /// (<see cref="InboxBudget"/> bytes, and always one message), unless one of our own messages is in flight,
    /// whose status may lie behind the next message: then it reads ahead, bounded by
    /// <see cref="TinyProtoConnectionOptions.MaxReadAheadBytes"/>. The caller holds <see cref="_gate"/>.
    /// </summary>
    private bool HasInboxRoom(uint size) =>
        _closing || _inbox.Count == 0 || _inboxBytes + size <= InboxBudget || OwnMessageInFlight;

    /// <summary>Whether one of our own messages awaits its status or its payload; the caller holds <see cref="_gate"/>.</summary>
    private bool OwnMessageInFlight => _conversation.OwnMessageInFlight;

    private bool MustWaitForRoom(uint size)
    {
        lock (_gate)
        {
            return !HasInboxRoom(size);
        }
    }

    private async ValueTask WaitForInboxRoomAsync(uint size)
    {
        while (true)
        {
            TaskCompletionSource signal;
            lock (_gate)
            {
                if (HasInboxRoom(size))
                {
                    return;
                }

                signal = _readerSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            await signal.Task.ConfigureAwait(false);
        }
    }

    private bool InputHasEnded()
    {
        lock (_gate)
        {
            return _inputEnded;
        }
    }

    /// <summary>The receive loop has ended: no more messages will arrive.</summary>
    private void InputEnded()
    {
        lock (_gate)
        {
            _inputEnded = true;
            if (_inbox.Count == 0 || _closing)
            {
                while (_receiveWaiters.TryDequeue(out IReceiveWaiter? waiter))
                {
                    waiter.Fail(ClosedError("receive"));
                }
            }

            FailStatusWaiters();

            SignalHooks();
        }
    }

    /// <summary>Wakes every loop and waiter so they notice the connection is closing; the caller holds <see cref="_gate"/>.</summary>
    private void WakeAll()
    {
        _readerSignal?.TrySetResult();
        SignalHooks();
        while (_receiveWaiters.TryDequeue(out IReceiveWaiter? waiter))
        {
            waiter.Fail(ClosedError("receive"));
        }

        FailStatusWaiters();
    }

    /// <summary>Fails every wait for a status and stops the status timer for good; the caller holds <see cref="_gate"/>.</summary>
    private void FailStatusWaiters()
    {
        while (_awaitingStatus.TryDequeue(out StatusWaiter? waiter))
        {
            waiter.Fail(waiter.Refusal == Signal.Ok ? ClosedError("transmit") : RefusedInBatchThenClosed(waiter));
        }

        _deadline.StopStatusWaits();
    }

    private ReadOnlySequence<byte> ApplyReceivePlugins(ReadOnlySequence<byte> message)
    {
        for (int i = _plugins.Count - 1; i >= 0; i--)
        {
            message = _plugins[i].Receive(message);
        }

        return message;
    }

    internal static TinyProtoException TooLargeForArray(long length) =>
        new(TinyProtoError.MessageTooLarge, $"The next message has {length} bytes, more than an array can hold; take it with ReceiveAsync(Stream).");
}
