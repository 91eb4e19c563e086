using System.Buffers;

namespace TinyProto.Async.Connection;

internal sealed partial class Inbox
{
    /// <summary>A pending <c>ReceiveAsync</c> call, offered each arriving message in turn by the receive loop.</summary>
    private interface IReceiveWaiter
    {
        /// <summary>Takes <paramref name="message"/> (true), or declines it, ending its own wait with the reason (false). Called under the gate.</summary>
        bool TryTake(InboundMessage message);

        /// <summary>Ends the wait with <paramref name="error"/>, unless it has ended.</summary>
        void Fail(Exception error);
    }

    /// <summary>
    /// What both kinds of receive waiter share: the caller's cancellation, and going back to the inbox's pool once
    /// the caller has taken a result (a waiter that got one was dequeued by the receive loop, so it can be reused).
    /// </summary>
    private abstract class ReceiveWaiter<T>(Inbox owner) : ReusableSource<T>, IReceiveWaiter
    {
        private CancellationTokenRegistration _registration;

        protected Inbox Owner => owner;

        /// <summary>Lets <paramref name="cancellationToken"/> end this wait; called once the waiter is queued.</summary>
        public void CancelOnRequest(CancellationToken cancellationToken) =>
            _registration = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static (state, token) => ((ReceiveWaiter<T>)state!).Cancel(token), this)
                : default;

        public abstract bool TryTake(InboundMessage message);

        public virtual void Fail(Exception error) => TrySetException(error);

        public override T GetResult(short token)
        {
            _registration.Dispose();
            _registration = default;
            T result = base.GetResult(token);
            ReturnToPool();
            return result;
        }

        protected abstract void ReturnToPool();

        /// <summary>
        /// Ends the wait and takes the waiter out of the queue at once: a caller that polls with short-lived tokens must
        /// not leave one waiter (and, for a memory waiter, its buffer) behind per call until a message comes.
        /// </summary>
        private void Cancel(CancellationToken token)
        {
            lock (owner._gate)
            {
                Fail(new OperationCanceledException(token));
                owner.Remove(this);
            }
        }
    }

    /// <summary>A <c>ReceiveAsync</c> call that takes the message object itself (an array or a stream is made from it afterwards).</summary>
    private sealed class MessageWaiter(Inbox owner) : ReceiveWaiter<InboundMessage>(owner)
    {
        private bool _arrayOnly;

        public void Arm(bool arrayOnly)
        {
            _arrayOnly = arrayOnly;
            Reset();
        }

        public override bool TryTake(InboundMessage message)
        {
            if (_arrayOnly && message.Length > Array.MaxLength)
            {
                TrySetException(TooLargeForArray(message.Length));
                return false;
            }

            return TrySetResult(message);
        }

        protected override void ReturnToPool() => Owner.ReturnToPool(Owner._freeMessageWaiters, this);
    }

    /// <summary>
    /// A <c>ReceiveAsync(Memory)</c> call: the receive loop copies the message into the caller's memory and frees it
    /// at once, so the whole receive allocates nothing. Copying bytes is the library's own short step, not user code.
    /// </summary>
    private sealed class MemoryWaiter(Inbox owner) : ReceiveWaiter<int>(owner)
    {
        private Memory<byte> _destination;

        /// <summary>Why a message cannot be received into <paramref name="capacity"/> bytes, or null if it can.</summary>
        public static TinyProtoException? Refusal(InboundMessage message, int capacity) =>
            message.IsStreamed
                ? new TinyProtoException(TinyProtoError.MessageTooLarge, $"The next message has {message.Length} bytes, above MaxBufferedMessageSize, so it is only streamed; take it with ReceiveAsync(Stream). It was left for the next receive.")
                : message.Length > capacity
                    ? new TinyProtoException(TinyProtoError.MessageTooLarge, $"The next message has {message.Length} bytes, more than the {capacity} bytes of the destination; it was left for the next receive.")
                    : null;

        public void Arm(Memory<byte> destination)
        {
            _destination = destination;
            Reset();
        }

        public override bool TryTake(InboundMessage message)
        {
            if (Refusal(message, _destination.Length) is { } refusal)
            {
                TrySetException(refusal);
                return false;
            }

            if (!TryClaim())
            {
                return false;
            }

            message.Sequence.CopyTo(_destination.Span);
            int length = (int)message.Length;
            message.Dispose();
            _destination = default;
            SetClaimedResult(length);
            return true;
        }

        public override void Fail(Exception error)
        {
            if (TrySetException(error))
            {
                _destination = default;
            }
        }

        protected override void ReturnToPool() => Owner.ReturnToPool(Owner._freeMemoryWaiters, this);
    }
}
