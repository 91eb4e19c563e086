using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Connection;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{

    /// <summary>
    /// Receives the next message as a new array that the caller owns. A pending call takes the next
    /// message before the <see cref="TransmissionReceivedAsync"/> hook does; messages that arrive while
    /// no call is pending go to the hook if it is overridden, and otherwise wait here for the next call.
    /// Messages received before the peer closed, or before an error ended the connection, can still be taken after it
    /// ended; once a local close began (<see cref="CloseAsync"/>), every call fails: what nobody took is dropped.
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
            return _plugins.IsEmpty ? raw : _plugins.Receive(new ReadOnlySequence<byte>(raw)).ToArray();
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
            if (Volatile.Read(ref _state) != 2 && !_lifetime.InputEnded)
            {
                return ValueTask.FromException<int>(NotRunning());
            }

            if (ReceivesRefused)
            {
                return ValueTask.FromException<int>(_lifetime.ClosedError("receive"));
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

            if (_lifetime.InputEnded || _lifetime.IsClosing)
            {
                return ValueTask.FromException<int>(_lifetime.ClosedError("receive"));
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

    /// <summary>
    /// Whether receives fail even with messages queued: a local close drops what nobody took yet (the hooks take no more
    /// either). A server's stop is not such a close: it delivers what it accepted, also once the peer has closed. The
    /// caller holds the gate.
    /// </summary>
    private bool ReceivesRefused => _lifetime.ClosedLocally;

    /// <summary>Takes the inbox head, or queues a waiter for the next message (which the waiter gives back to the pool itself).</summary>
    private ValueTask<InboundMessage> TakeMessageAsync(bool arrayOnly, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Volatile.Read(ref _state) != 2 && !_lifetime.InputEnded)
            {
                throw NotRunning();
            }

            if (ReceivesRefused)
            {
                throw _lifetime.ClosedError("receive");
            }

            if (_inbox.TryPeek(out InboundMessage? head))
            {
                if (arrayOnly && head!.Length > Array.MaxLength)
                {
                    throw Inbox.TooLargeForArray(head.Length);
                }

                return new ValueTask<InboundMessage>(_inbox.Take());
            }

            if (_lifetime.InputEnded || _lifetime.IsClosing)
            {
                throw _lifetime.ClosedError("receive");
            }

            return _inbox.WaitForMessage(arrayOnly, cancellationToken);
        }
    }
}
