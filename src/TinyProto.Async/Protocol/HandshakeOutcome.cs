namespace TinyProto.Async.Protocol;

/// <summary>What one side of the opening handshake decided from the byte it read.</summary>
internal readonly struct HandshakeOutcome
{
    private HandshakeOutcome(bool pipelined, TinyProtoException? error)
    {
        IsPipelined = pipelined;
        Error = error;
    }

    /// <summary>Whether the connection is established; otherwise <see cref="Error"/> says why not.</summary>
    public bool IsEstablished => Error is null;

    /// <summary>Whether the established connection is in pipelined mode (rule 6).</summary>
    public bool IsPipelined { get; }

    /// <summary>Why the handshake failed; null when established.</summary>
    public TinyProtoException? Error { get; }

    /// <summary>For a server: the byte it answers an accepted opening with.</summary>
    public byte Answer => IsPipelined ? Signal.Pipeline : Signal.Ok;

    public static HandshakeOutcome Established(bool pipelined) => new(pipelined, null);

    public static HandshakeOutcome Failed(TinyProtoError error, string message) => new(false, new TinyProtoException(error, message));
}
