using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Connection;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    // Guarded by _gate: the receive loop has ended, and no more messages will arrive.
    private bool _inputEnded;

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
        lock (_gate)
        {
            if (Volatile.Read(ref _state) != 2 && !_inputEnded)
            {
                return ValueTask.FromException<int>(new InvalidOperationException("The connection has not been started."));
            }

            if (_inbox.TryPeek(out InboundMessage? head))
            {
                if (Inbox.RefusalFor(head!, destination.Length) is { } refusal)
                {
                    return ValueTask.FromException<int>(refusal);
                }

                using InboundMessage message = _inbox.Take();
                message.Sequence.CopyTo(destination.Span);
                return new ValueTask<int>((int)message.Length);
            }

            if (_inputEnded || _closing)
            {
                return ValueTask.FromException<int>(ClosedError("receive"));
            }

            return _inbox.WaitForMessage(destination, cancellationToken);
        }
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
        lock (_gate)
        {
            if (Volatile.Read(ref _state) != 2 && !_inputEnded)
            {
                throw new InvalidOperationException("The connection has not been started.");
            }

            if (_inbox.TryPeek(out InboundMessage? head))
            {
                if (arrayOnly && head!.Length > Array.MaxLength)
                {
                    throw Inbox.TooLargeForArray(head.Length);
                }

                return new ValueTask<InboundMessage>(_inbox.Take());
            }

            if (_inputEnded || _closing)
            {
                throw ClosedError("receive");
            }

            return _inbox.WaitForMessage(arrayOnly, cancellationToken);
        }
    }

    /// <summary>Called by the receive loop for each message: to a waiting receiver, or into the inbox.</summary>
    private void Deliver(InboundMessage message)
    {
        lock (_gate)
        {
            _inbox.Deliver(message);
        }
    }

    /// <summary>Whether the receive loop may answer a header of <paramref name="size"/> bytes now; the caller holds <see cref="_gate"/>.</summary>
    private bool HasInboxRoom(uint size) => _inbox.HasRoom(size, mustReadOn: _closing || OwnMessageInFlight);

    /// <summary>Whether one of our own messages awaits its status or its payload; the caller holds <see cref="_gate"/>.</summary>
    private bool OwnMessageInFlight => _conversation.OwnMessageInFlight;

    private bool MustWaitForRoom(uint size)
    {
        lock (_gate)
        {
            return !HasInboxRoom(size);
        }
    }

    private ValueTask WaitForInboxRoomAsync(uint size) => _inbox.WaitForRoomAsync(() => HasInboxRoom(size));

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
                _inbox.FailWaiters(() => ClosedError("receive"));
            }

            FailStatusWaiters();

            SignalHooks();
        }
    }

    /// <summary>Wakes every loop and waiter so they notice the connection is closing; the caller holds <see cref="_gate"/>.</summary>
    private void WakeAll()
    {
        _inbox.SignalRoom();
        SignalHooks();
        _inbox.FailWaiters(() => ClosedError("receive"));

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
}
