namespace TinyProto.Async.Protocol;

/// <summary>Where the incoming byte stream stands in a <see cref="Conversation"/>: what its next bytes are.</summary>
internal enum IncomingPhase
{
    /// <summary>At a message boundary: a status of ours or an incoming size header (rule 4).</summary>
    Boundary,

    /// <summary>
    /// A lock-step server holds its answer to a header while its own message awaits a status (rule 5): the next unit
    /// must be that status; the held header's payload comes only after.
    /// </summary>
    HeldBoundary,

    /// <summary>Inside an incoming payload: nothing but its bytes can come until it ends.</summary>
    Payload,
}
