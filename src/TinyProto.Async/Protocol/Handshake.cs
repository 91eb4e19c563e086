namespace TinyProto.Async.Protocol;

/// <summary>
/// The opening handshake (PROTOCOL.md "Opening handshake" and rule 6) as decisions over single bytes: which byte
/// each role writes, and what the byte it reads means. The connection does the reading and writing.
/// </summary>
/// <remarks>
/// A client writes its opening first and then reads the server's answer. A TinyProto.Async server reads the client's
/// opening first and answers it (rule 6), so it can grant or decline pipelined mode; a Python peer cannot tell.
/// </remarks>
internal static class Handshake
{
    /// <summary>The byte a client opens with: <c>0xFB</c> to ask for pipelined mode, otherwise the classic <c>0xFF</c>.</summary>
    public static byte ClientOpening(bool requestPipelining) => requestPipelining ? Signal.Pipeline : Signal.Ok;

    /// <summary>What a client makes of the server's answer to its opening.</summary>
    /// <param name="answer">The byte the server wrote.</param>
    /// <param name="requestedPipelining">Whether the client opened with <c>0xFB</c>.</param>
    public static HandshakeOutcome ClientReadsAnswer(byte answer, bool requestedPipelining) => answer switch
    {
        Signal.Ok => HandshakeOutcome.Established(pipelined: false),
        Signal.Pipeline when requestedPipelining => HandshakeOutcome.Established(pipelined: true),
        Signal.ConnectionLimit => HandshakeOutcome.Failed(TinyProtoError.ConnectionLimitReached,
            "The server is at its connection limit (it answered the opening with 0xFE)."),
        _ => HandshakeOutcome.Failed(TinyProtoError.HandshakeFailed,
            $"The server answered the opening with {Signal.Describe(answer)} instead of 0xFF."),
    };

    /// <summary>
    /// What a server makes of the client's opening; when established, <see cref="HandshakeOutcome.Answer"/> is the byte
    /// to write back: <c>0xFB</c> to grant pipelined mode, <c>0xFF</c> for lock-step.
    /// </summary>
    /// <param name="opening">The client's first byte.</param>
    /// <param name="acceptPipelining">Whether this server grants pipelined mode to a client that asks.</param>
    public static HandshakeOutcome ServerReadsOpening(byte opening, bool acceptPipelining) => opening switch
    {
        Signal.Ok => HandshakeOutcome.Established(pipelined: false),
        Signal.Pipeline => HandshakeOutcome.Established(pipelined: acceptPipelining),
        _ => HandshakeOutcome.Failed(TinyProtoError.HandshakeFailed,
            $"The client opened with {Signal.Describe(opening)}; expected 0xFF (or 0xFB for pipelined mode)."),
    };

    /// <summary>The byte a server at its connection limit writes instead of an answer, before it closes.</summary>
    public const byte ConnectionLimitAnswer = Signal.ConnectionLimit;

    /// <summary>The failure of a handshake whose peer closed before its byte came.</summary>
    public static TinyProtoException PeerClosed() =>
        new(TinyProtoError.HandshakeFailed, "The peer closed the connection during the opening handshake.");
}
