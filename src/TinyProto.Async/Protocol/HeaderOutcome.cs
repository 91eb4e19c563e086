namespace TinyProto.Async.Protocol;

/// <summary>What to do with an incoming size header (<see cref="Conversation.OnHeader"/>).</summary>
internal enum HeaderOutcome
{
    /// <summary>An OK is owed now; its payload follows.</summary>
    Answered,

    /// <summary>A lock-step server holds the answer until its own payload is in the output (rule 5).</summary>
    Held,

    /// <summary>Above this end's limit (rules 1 and 2): a refusal is owed, then the connection closes.</summary>
    Refused,

    /// <summary>
    /// Declined while this end stops (lock-step only): a <c>0xFD</c> is owed, no payload follows, and the conversation
    /// goes on at a boundary (TinyProto.Async rule 8).
    /// </summary>
    Declined,

    /// <summary>The peer broke a rule; <see cref="Conversation.Violation"/> says which.</summary>
    Violation,
}
