namespace TinyProto.Async;

/// <summary>The one exception type of TinyProto.Async; <see cref="Error"/> says what went wrong.</summary>
public sealed class TinyProtoException : Exception
{
    /// <summary>Creates an exception with a reason and a message that says what happened.</summary>
    /// <param name="error">The reason callers can switch on.</param>
    /// <param name="message">What happened, in words.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public TinyProtoException(TinyProtoError error, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
    }

    /// <summary>Why the exception was thrown.</summary>
    public TinyProtoError Error { get; }

    /// <summary>
    /// Set where the library knows that the peer cannot have the message: the transmission failed before its payload
    /// went out, or the peer declined it because it is stopping. Only such a transmission may be made again elsewhere
    /// without the risk of a duplicate.
    /// </summary>
    internal bool NothingDelivered { get; private set; }

    /// <summary>Marks the exception as <see cref="NothingDelivered"/>.</summary>
    internal TinyProtoException NothingWasDelivered()
    {
        NothingDelivered = true;
        return this;
    }
}
